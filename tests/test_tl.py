"""``napari_tsne.tl``: ``tsne`` against ``scanpy.tl.tsne``'s conventions (keys, copy,
key_added, the use_rep rule, n_pcs, errors) and ``ingest`` against ``scanpy.tl.ingest``'s
(label transfer by a kNN vote, checked against scikit-learn's KNeighborsClassifier;
the reference map untouched; maps reopened from .h5ad, made by tl or the CLI)."""

from __future__ import annotations

import os
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from napari_tsne import tl
from napari_tsne.cli import EXIT_OK, EXIT_USAGE, main
from napari_tsne.engine import TSNEInputError

sc = pytest.importorskip("scanpy")
KNeighborsClassifier = pytest.importorskip("sklearn.neighbors").KNeighborsClassifier

FAST = {"early_exaggeration_iter": 60, "n_iter": 60, "n_jobs": 1}
SCANPY_PARAM_KEYS = {"perplexity", "early_exaggeration", "learning_rate", "n_jobs", "metric"}


def blobs(n_vars: int, n: int = 120, seed: int = 0) -> ad.AnnData:
    """Three clusters in ``n_vars`` dimensions, labels in obs["label"]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    X = rng.normal(size=(3, n_vars))[labels] * 6 + rng.normal(size=(n, n_vars))
    return ad.AnnData(
        X=X.astype(np.float32),
        obs=pd.DataFrame(
            {"label": pd.Categorical([f"c{v}" for v in labels])},
            index=[f"cell{i}" for i in range(n)],
        ),
        var=pd.DataFrame(index=[f"g{j}" for j in range(n_vars)]),
    )


def snapshot(adata: ad.AnnData) -> dict:
    """What a failed call must leave as it was."""
    return {
        "X": np.array(adata.X, copy=True),
        "obs": adata.obs.copy(),
        "obsm": {k: np.array(v, copy=True) for k, v in adata.obsm.items()},
        "varm": sorted(adata.varm.keys()),
        "uns": sorted(adata.uns.keys()),
    }


def assert_unchanged(adata: ad.AnnData, before: dict) -> None:
    np.testing.assert_array_equal(adata.X, before["X"])
    pd.testing.assert_frame_equal(adata.obs, before["obs"])
    assert sorted(adata.obsm.keys()) == sorted(before["obsm"])
    for k, v in before["obsm"].items():
        assert adata.obsm[k].tobytes() == v.tobytes(), k
    assert sorted(adata.varm.keys()) == before["varm"]
    assert sorted(adata.uns.keys()) == before["uns"]


def knn_accuracy(Y: np.ndarray, labels, k: int = 10) -> float:
    """5-fold kNN accuracy of the labels in the map (how well it separates them)."""
    from sklearn.model_selection import cross_val_score

    return float(cross_val_score(KNeighborsClassifier(k), Y, np.asarray(labels), cv=5).mean())


@pytest.fixture(scope="module")
def pbmc() -> ad.AnnData:
    return sc.datasets.pbmc68k_reduced()  # shipped inside scanpy: nothing downloads


@pytest.fixture(scope="module")
def split(pbmc):
    """A reference (500 cells, its own PCA by scanpy, a map by tl.tsne) and 200 new
    cells whose labels are known but hidden."""
    rng = np.random.default_rng(0)
    perm = rng.permutation(pbmc.n_obs)
    ref = pbmc[perm[:500]].copy()
    new = pbmc[perm[500:]].copy()
    for a in (ref, new):
        del a.obsm["X_pca"], a.varm["PCs"], a.uns["pca"]
    sc.pp.pca(ref)
    tl.tsne(ref, **FAST)
    truth = new.obs["bulk_labels"].copy()
    del new.obs["bulk_labels"]
    return ref, new, truth


# ---------------------------------------------------------------------------- tsne
def test_same_keys_as_scanpy_and_as_good_a_map(pbmc):
    ours, theirs = pbmc.copy(), pbmc.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.tsne(theirs, n_jobs=1)
    assert tl.tsne(ours, n_jobs=1) is None
    assert set(ours.obsm) == set(theirs.obsm) and set(ours.uns) == set(theirs.uns)
    assert ours.obsm["X_tsne"].shape == theirs.obsm["X_tsne"].shape == (pbmc.n_obs, 2)
    params, ref_params = ours.uns["tsne"]["params"], theirs.uns["tsne"]["params"]
    assert set(ref_params) <= set(params)
    for name in ("perplexity", "early_exaggeration", "metric"):
        assert params[name] == ref_params[name]
    # both used obsm["X_pca"] (765 variables > 50); ours says so for ingest
    assert params["use_rep"] == "X_pca" and params["representation"] == "obsm/X_pca"
    assert params["n_pcs"] == 50 and tl.N_PCS == sc.settings.N_PCS
    # the cell types are separated at least as well as in scikit-learn's map
    labels = pbmc.obs["bulk_labels"]
    assert (
        knn_accuracy(ours.obsm["X_tsne"], labels)
        >= knn_accuracy(theirs.obsm["X_tsne"], labels) - 0.05
    )
    # the map survives an .h5ad round trip with its parameters
    assert np.isfinite(ours.obsm["X_tsne"]).all()


def test_copy_and_key_added(tmp_path):
    adata = blobs(20)
    before = snapshot(adata)
    out = tl.tsne(adata, copy=True, key_added="X_tsne_p10", perplexity=10, **FAST)
    assert isinstance(out, ad.AnnData) and out is not adata
    assert_unchanged(adata, before)  # copy=True: the input is not touched
    assert "X_tsne" not in out.obsm and "tsne" not in out.uns
    assert out.obsm["X_tsne_p10"].shape == (adata.n_obs, 2)
    assert out.uns["X_tsne_p10"]["params"]["perplexity"] == 10
    # scanpy puts key_added in the same places
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sc.tl.tsne(adata, key_added="X_tsne_p10", copy=True, n_jobs=1)
    assert set(theirs.obsm) == set(out.obsm) and set(theirs.uns) == set(out.uns)
    assert tl.tsne(adata, **FAST) is None  # copy=False fills the input
    assert adata.obsm["X_tsne"].shape == (adata.n_obs, 2)
    path = tmp_path / "m.h5ad"
    out.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.obsm["X_tsne_p10"], out.obsm["X_tsne_p10"])
    assert back.uns["X_tsne_p10"]["params"]["representation"] == "X"


def test_use_rep_rule():
    narrow = blobs(50)  # <= 50 variables: X itself, even when X_pca exists
    narrow.obsm["X_pca"] = narrow.X[:, :5].copy()
    tl.tsne(narrow, **FAST)
    assert narrow.uns["tsne"]["params"]["representation"] == "X"
    wide = blobs(60)
    wide.obsm["X_pca"] = wide.X[:, :7].copy()
    tl.tsne(wide, **FAST)
    assert wide.uns["tsne"]["params"]["representation"] == "obsm/X_pca"
    assert wide.uns["tsne"]["params"]["n_pcs"] == 7
    tl.tsne(wide, use_rep="X", key_added="on_x", **FAST)
    assert wide.uns["on_x"]["params"]["representation"] == "X"
    tl.tsne(wide, n_pcs=0, key_added="zero", **FAST)  # scanpy: n_pcs=0 means X
    assert wide.uns["zero"]["params"]["representation"] == "X"


def test_missing_pca_is_computed_like_scanpys():
    ours = blobs(60)
    theirs = ours.copy()
    with pytest.warns(UserWarning, match=r"no obsm\['X_pca'\]: computing a PCA"):
        tl.tsne(ours, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.tsne(theirs, n_jobs=1)
    assert set(ours.obsm) == set(theirs.obsm) == {"X_pca", "X_tsne"}
    assert set(ours.varm) == set(theirs.varm) == {"PCs"}
    assert set(ours.uns["pca"]) == set(theirs.uns["pca"])
    # the same principal components as scanpy's PCA, up to sign
    a, b = ours.obsm["X_pca"], theirs.obsm["X_pca"]
    assert a.shape == b.shape == (ours.n_obs, 50)
    top = slice(0, 10)  # the leading components are well separated
    np.testing.assert_allclose(np.abs(a[:, top]), np.abs(b[:, top]), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(
        ours.uns["pca"]["variance_ratio"][top], theirs.uns["pca"]["variance_ratio"][top], rtol=1e-3
    )
    assert ours.uns["tsne"]["params"]["representation"] == "obsm/X_pca"


def test_pca_of_sparse_x_matches_dense():
    dense = blobs(60)
    sparse = dense.copy()
    sparse.X = sp.csr_matrix(sparse.X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tl.tsne(dense, n_pcs=5, **FAST)
        tl.tsne(sparse, n_pcs=5, **FAST)
    np.testing.assert_allclose(sparse.obsm["X_pca"], dense.obsm["X_pca"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sparse.varm["PCs"], dense.varm["PCs"], rtol=1e-4, atol=1e-4)
    assert dense.obsm["X_pca"].shape == (dense.n_obs, 5)


def test_n_pcs_takes_the_first_components():
    adata = blobs(60)
    adata.obsm["X_pca"] = np.random.default_rng(1).normal(size=(adata.n_obs, 20))
    adata.obsm["first10"] = adata.obsm["X_pca"][:, :10].copy()
    tl.tsne(adata, n_pcs=10, **FAST)
    tl.tsne(adata, use_rep="first10", key_added="direct", **FAST)
    np.testing.assert_array_equal(adata.obsm["X_tsne"], adata.obsm["direct"])
    assert adata.uns["tsne"]["params"]["n_pcs"] == 10
    before = snapshot(adata)
    with pytest.raises(ValueError, match="n_pcs=30 is more than the 20 columns"):
        tl.tsne(adata, n_pcs=30, **FAST)
    assert_unchanged(adata, before)


def test_engine_options_pass_through():
    adata = blobs(10, n=200)
    tl.tsne(
        adata,
        n_components=3,
        exaggeration=2.0,
        dof=0.8,
        negative_gradient_method="bh",
        neighbors="exact",
        subsample=100,
        **FAST,
    )
    p = adata.uns["tsne"]["params"]
    assert adata.obsm["X_tsne"].shape == (200, 3)
    assert p["exaggeration"] == 2.0 and p["dof"] == 0.8 and p["subsample"] == 100
    assert p["negative_gradient_method"] == "bh" and p["neighbors"] == "exact"


def test_bad_input_changes_nothing():
    adata = blobs(60)
    adata.obsm["X_pca"] = adata.X[:, :5].copy()
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"'X_nope' is not a data representation.*obsm/X_pca"):
        tl.tsne(adata, use_rep="X_nope", **FAST)
    with pytest.raises(TypeError, match="unknown option.*'perplexityy'"):
        tl.tsne(adata, perplexityy=5, **FAST)
    with pytest.raises(ValueError, match="key_added"):
        tl.tsne(adata, key_added="a/b", **FAST)
    with pytest.raises(ValueError, match="perplexity"):
        tl.tsne(adata, perplexity=-1, **FAST)
    assert_unchanged(adata, before)
    wide = blobs(60)  # a failing run computes no PCA into the data either
    before = snapshot(wide)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="perplexity"):
            tl.tsne(wide, perplexity=-1, **FAST)
    assert_unchanged(wide, before)


# -------------------------------------------------------------------------- ingest
def test_ingest_transfers_labels_like_a_knn_classifier(split):
    ref, new, truth = split
    ref_before = snapshot(ref)
    new = new.copy()
    assert tl.ingest(new, ref, obs="bulk_labels", n_jobs=1) is None
    assert_unchanged(ref, ref_before)  # the reference map is byte-identical
    Y = new.obsm["X_tsne"]
    assert Y.shape == (new.n_obs, 2) and np.isfinite(Y).all()
    pred = new.obs["bulk_labels"]
    assert list(pred.cat.categories) == list(ref.obs["bulk_labels"].cat.categories)
    accuracy = float((np.asarray(pred) == np.asarray(truth)).mean())
    chance = float(truth.value_counts(normalize=True).max())
    assert accuracy > chance + 0.3, (accuracy, chance)
    # an independent vote: scikit-learn's classifier in the reference's PCA space
    # (the new cells projected onto the reference's PCs, centred as its X_pca was)
    Q = (new.X - ref.X.mean(axis=0)) @ ref.varm["PCs"]
    clf = KNeighborsClassifier(15).fit(ref.obsm["X_pca"], np.asarray(ref.obs["bulk_labels"]))
    agree = float((clf.predict(Q) == np.asarray(pred)).mean())
    assert agree >= 0.97, agree
    np.testing.assert_allclose(new.obsm["X_pca"], Q, rtol=1e-3, atol=1e-3)
    # new cells land next to the reference cells of their type
    ref_y = ref.obsm["X_tsne"]
    nearest = np.argmin(((Y[:, None, :] - ref_y[None, :, :]) ** 2).sum(-1), axis=1)
    near_label = np.asarray(ref.obs["bulk_labels"])[nearest]
    assert (near_label == np.asarray(truth)).mean() > chance + 0.25


def test_ingest_after_h5ad_round_trip(split, tmp_path):
    ref, new, _ = split
    path = tmp_path / "ref.h5ad"
    ref.write_h5ad(path)
    reopened = ad.read_h5ad(path)
    a, b = new.copy(), new.copy()
    tl.ingest(a, ref, obs=["bulk_labels", "louvain"], n_jobs=1)
    out = tl.ingest(b, reopened, obs=["bulk_labels", "louvain"], n_jobs=1, inplace=False)
    assert "X_tsne" not in b.obsm  # inplace=False: a new object
    np.testing.assert_allclose(out.obsm["X_tsne"], a.obsm["X_tsne"], rtol=1e-6, atol=1e-6)
    for col in ("bulk_labels", "louvain"):
        assert (np.asarray(out.obs[col]) == np.asarray(a.obs[col])).all()
    assert ad.read_h5ad(path).obsm["X_tsne"].tobytes() == ref.obsm["X_tsne"].tobytes()


def test_ingest_missing_pieces_are_named(split):
    ref, new, _ = split
    no_map = ref.copy()
    del no_map.obsm["X_tsne"]
    with pytest.raises(ValueError, match=r"no map obsm\['X_tsne'\]"):
        tl.ingest(new.copy(), no_map)
    with pytest.raises(KeyError, match="no column 'cell_type'.*bulk_labels"):
        tl.ingest(new.copy(), ref, obs="cell_type")
    no_pca = ref.copy()
    del no_pca.obsm["X_pca"]
    with pytest.raises(ValueError, match=r"'obsm/X_pca', named in uns\['tsne'\]"):
        tl.ingest(new.copy(), no_pca)
    no_pcs = ref.copy()
    del no_pcs.varm["PCs"]
    with pytest.raises(ValueError, match="no varm\\['PCs'\\].*use_rep"):
        tl.ingest(new.copy(), no_pcs)


def test_ingest_refuses_a_stale_pca(pbmc):
    """pbmc68k_reduced's X_pca is not the projection of its (rescaled) X: placing new
    cells by projecting them would be silently wrong, so it is refused, unless the new
    cells carry an X_pca of their own (both parts of one file), which is then used
    with a warning."""
    ref = pbmc[:500].copy()
    tl.tsne(ref, **FAST)
    no_own = pbmc[500:].copy()
    del no_own.obsm["X_pca"]
    with pytest.raises(ValueError, match="not the projection of its X"):
        tl.ingest(no_own, ref)
    assert "X_tsne" not in no_own.obsm
    own = pbmc[500:].copy()
    with pytest.warns(UserWarning, match=r"own obsm\['X_pca'\]"):
        tl.ingest(own, ref, n_jobs=1)
    explicit = pbmc[500:].copy()
    tl.ingest(explicit, ref, use_rep="X_pca", n_jobs=1)
    np.testing.assert_array_equal(own.obsm["X_tsne"], explicit.obsm["X_tsne"])


def test_ingest_wrong_features_changes_nothing(split):
    ref, new, _ = split
    ref_before = snapshot(ref)
    fewer = new[:, :700].copy()
    fewer_before = snapshot(fewer)
    with pytest.raises(ValueError, match="700 variables but the reference has 765"):
        tl.ingest(fewer, ref, obs="bulk_labels")
    assert_unchanged(fewer, fewer_before)
    assert_unchanged(ref, ref_before)
    # a map made from X (few variables): the new cells' X must have the same width
    small = blobs(12)
    tl.tsne(small, **FAST)
    other = blobs(10, n=30, seed=1)
    other_before, small_before = snapshot(other), snapshot(small)
    with pytest.raises(ValueError, match="10 variables but the reference has 12"):
        tl.ingest(other, small, obs="label")
    other.obsm["emb"] = np.zeros((30, 4))
    with pytest.raises(ValueError, match="4 features but the map was made from X with 12"):
        tl.ingest(other, small, use_rep="emb")
    del other.obsm["emb"]
    assert_unchanged(other, other_before)
    assert_unchanged(small, small_before)


# ------------------------------------------------------------------------- the CLI
def test_cli_embed_follows_the_rule_and_ingest_reads_its_map(tmp_path, capsys):
    narrow = blobs(12)
    src = tmp_path / "narrow.h5ad"
    narrow.write_h5ad(src)
    out = tmp_path / "narrow_map.h5ad"
    fast = ["--early-exaggeration-iter", "60", "--n-iter", "60", "--threads", "1"]
    assert main(["embed", str(src), "-o", str(out), *fast]) == EXIT_OK
    assert "using X (12 variables) directly" in capsys.readouterr().err
    ref = ad.read_h5ad(out)
    assert ref.uns["tsne"]["params"]["representation"] == "X"
    new = blobs(12, n=30, seed=0)  # same cluster centres
    tl.ingest(new, ref, obs="label", n_jobs=1)
    assert (np.asarray(new.obs["label"]) == np.asarray(blobs(12, n=30).obs["label"])).mean() > 0.9

    wide = blobs(60)
    src = tmp_path / "wide.h5ad"
    wide.write_h5ad(src)
    before = src.read_bytes()
    out = tmp_path / "wide_map.h5ad"
    assert main(["embed", str(src), "-o", str(out), *fast]) == EXIT_OK
    err = capsys.readouterr().err
    assert "using obsm/X_pca (50 components, computed)" in err
    assert src.read_bytes() == before  # the input is not changed
    ref = ad.read_h5ad(out)
    assert {"X_pca", "X_tsne"} <= set(ref.obsm) and "PCs" in ref.varm
    p = ref.uns["tsne"]["params"]
    assert p["representation"] == "obsm/X_pca" and p["n_pcs"] == 50
    np.testing.assert_array_equal(ref.X, wide.X)  # everything else is kept
    pd.testing.assert_frame_equal(ref.obs, wide.obs)
    new = blobs(60, n=30, seed=0)
    tl.ingest(new, ref, obs="label", n_jobs=1)
    assert (np.asarray(new.obs["label"]) == np.asarray(blobs(60, n=30).obs["label"])).mean() > 0.9
    # `transform` places cells that have only X into that map, through its PCs
    new_path = tmp_path / "new.h5ad"
    blobs(60, n=30, seed=0).write_h5ad(new_path)
    placed = tmp_path / "placed.h5ad"
    code = main(["transform", str(out), str(new_path), "-o", str(placed), "--threads", "1"])
    assert code == EXIT_OK
    back = ad.read_h5ad(placed)  # the map's cells and the new ones, combined
    assert back.n_obs == ref.n_obs + new.n_obs
    np.testing.assert_array_equal(back.obsm["X_tsne"][: ref.n_obs], ref.obsm["X_tsne"])
    np.testing.assert_allclose(
        back.obsm["X_tsne"][ref.n_obs :], new.obsm["X_tsne"], rtol=1e-5, atol=1e-5
    )
    other = blobs(59, n=30)  # another gene set: exit status 2, a message, no output
    other.write_h5ad(new_path)
    capsys.readouterr()
    code = main(["transform", str(out), str(new_path), "-o", str(tmp_path / "no.h5ad")])
    assert code == EXIT_USAGE
    assert "59 variables but the reference has 60" in capsys.readouterr().err
    assert not (tmp_path / "no.h5ad").exists()


# ---------------------------------------------------------------------- the widget
@pytest.mark.skipif(
    not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")),
    reason="needs a display: run under xvfb-run",
)
def test_ingest_into_a_map_exported_by_the_widget(make_napari_viewer, qtbot, tmp_path):
    pytest.importorskip("pytestqt")
    from test_widget import open_widget

    cells = blobs(20, n=150)
    cells.obsm["X_emb"] = (cells.X - cells.X.mean(0))[:, :8]
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(path), plugin="napari-tsne")
    w = open_widget(viewer)
    for name, value in dict(
        n_jobs=1, perplexity=10.0, early_exaggeration_iter=20, n_iter=40
    ).items():
        getattr(w, name).value = value
    w.source.value = layer
    w.representation.value = "obsm/X_emb"
    w.run()
    qtbot.waitUntil(lambda: not w.is_running, timeout=90_000)
    assert w.export() is not None
    ref = ad.read_h5ad(path)  # the reopened file carries the representation's name
    assert ref.uns["tsne"]["params"]["representation"] == "obsm/X_emb"
    new = blobs(20, n=30)
    del new.obs["label"]
    with pytest.raises(TSNEInputError, match="obsm/X_emb, which adata does not have"):
        tl.ingest(new, ref, obs="label")
    new.obsm["X_emb"] = (new.X - cells.X.mean(0))[:, :8]
    tl.ingest(new, ref, obs="label", n_jobs=1)
    truth = np.asarray(blobs(20, n=30).obs["label"])
    assert (np.asarray(new.obs["label"]) == truth).mean() > 0.9
    assert ad.read_h5ad(path).obsm["X_tsne"].tobytes() == ref.obsm["X_tsne"].tobytes()
