"""The AnnData round trip after adding samples, in a real napari window: a PBMC-like
file split in two, the first part mapped from the reader's layer, the second added,
then exported; the saved file must hold both parts as ``anndata.concat`` joins them.

Run under Xvfb::

    xvfb-run -a python -m pytest tests/test_roundtrip.py
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

pytest.importorskip("napari")
pytest.importorskip("pytestqt")
anndata = pytest.importorskip("anndata")

from napari_tsne import cli  # noqa: E402
from napari_tsne.engine.warmup import warm_up_kernels  # noqa: E402
from napari_tsne.plugin.sources import ANNDATA_FILE  # noqa: E402

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    pytest.skip("needs a display: run under xvfb-run", allow_module_level=True)

from test_widget import make_widget, wait_done  # noqa: E402

N, N_REF, N_GENES, N_PCS = 700, 550, 40, 10


@pytest.fixture(scope="module", autouse=True)
def _compiled_kernels():
    warm_up_kernels()


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pbmc_like(seed=0) -> anndata.AnnData:
    """700 cells shaped like scanpy's pbmc68k_reduced: X, var, obs categories, obsm
    X_pca / X_umap, varm PCs, obsp graphs, uns colours."""
    rng = np.random.default_rng(seed)
    types = np.array(["CD4+ T", "CD14+ Monocyte", "CD19+ B", "NK"])
    lab = rng.integers(0, len(types), N)
    centres = rng.normal(scale=3, size=(len(types), N_GENES))
    X = (centres[lab] + rng.normal(size=(N, N_GENES))).astype(np.float32)
    obs = pd.DataFrame(
        {
            "bulk_labels": pd.Categorical(types[lab]),
            "phase": pd.Categorical(rng.choice(["G1", "S", "G2M"], N)),
            "n_counts": rng.gamma(5, 400, N),
        },
        index=[f"AAAC{i:04d}-1" for i in range(N)],
    )
    var = pd.DataFrame(
        {"highly_variable": rng.random(N_GENES) > 0.3},
        index=[f"GENE{i}" for i in range(N_GENES)],
    )
    ad = anndata.AnnData(X=X, obs=obs, var=var)
    Xc = X - X.mean(0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    ad.obsm["X_pca"] = (Xc @ vt[:N_PCS].T).astype(np.float32)
    ad.varm["PCs"] = vt[:N_PCS].T.astype(np.float32)
    ad.obsm["X_umap"] = rng.normal(size=(N, 2)).astype(np.float32)
    ad.obsp["distances"] = sp.random(N, N, density=0.01, format="csr", random_state=1)
    ad.raw = ad.copy()
    ad.uns["bulk_labels_colors"] = np.array(["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"])
    return ad


@pytest.fixture
def split_files(tmp_path):
    full = pbmc_like()
    order = np.random.default_rng(1).permutation(N)
    ref, new = full[order[:N_REF]].copy(), full[order[N_REF:]].copy()
    # like scanpy's pbmc68k_reduced subsets, each file has its own graph
    for part in (ref, new):
        part.obsp["distances"] = sp.random(
            part.n_obs, part.n_obs, density=0.02, format="csr", random_state=2
        )
    ref_path, new_path = tmp_path / "pbmc_ref.h5ad", tmp_path / "pbmc_new.h5ad"
    ref.write_h5ad(ref_path)
    new.write_h5ad(new_path)
    return ref, new, ref_path, new_path


def map_and_add(make_napari_viewer, qtbot, ref_path, new_path):
    """The walk-through: File > Open (the reader), map obsm/X_pca, add the 2nd file."""
    viewer = make_napari_viewer(show=True)
    (reader_layer,) = viewer.open(str(ref_path), plugin="napari-tsne")
    w = make_widget(viewer)
    w.source.value = reader_layer
    w.representation.value = "obsm/X_pca"
    w.run()
    wait_done(qtbot, w)
    w.add_source.value = ANNDATA_FILE
    w.add_file.value = new_path
    w.add_representation.value = "obsm/X_pca"
    w.batch_name.value = "second"
    w.add_samples()
    wait_done(qtbot, w)
    assert len(w.layer.data) == N
    return viewer, w


def test_export_after_adding_samples_keeps_both_anndatas(make_napari_viewer, qtbot, split_files):
    ref, new, ref_path, new_path = split_files
    hashes = {p: digest(p) for p in (ref_path, new_path)}
    viewer, w = map_and_add(make_napari_viewer, qtbot, ref_path, new_path)
    # "save to" no longer points at the source file, which is never replaced
    target = Path(str(w.export_path.value))
    assert target.name == "pbmc_ref_with_second.h5ad"
    written = w.export()
    assert written is not None and Path(written) == target
    msg = w.message.value
    assert "combined" in msg and "obsp 'distances'" in msg  # named, not silently dropped
    # both parts have raw and the same obsm keys (obsm['X_tsne'] of the map is new)
    assert "raw could not" not in msg and "obsm entries" not in msg

    back = anndata.read_h5ad(target)
    assert back.shape == (N, N_GENES)
    names = list(ref.obs_names) + list(new.obs_names)
    assert list(back.obs_names) == names
    expected = anndata.concat([ref, new])
    np.testing.assert_array_equal(np.asarray(back.X), np.asarray(expected.X))
    assert list(back.var_names) == list(ref.var_names)
    assert back.raw is not None and back.raw.shape == (N, N_GENES)
    assert list(back.var["highly_variable"]) == list(ref.var["highly_variable"])
    np.testing.assert_array_equal(back.varm["PCs"], ref.varm["PCs"])
    for k in ("X_pca", "X_umap"):
        np.testing.assert_array_equal(back.obsm[k], expected.obsm[k])
    Y = back.obsm["X_tsne"]
    assert Y.shape == (N, 2) and np.isfinite(Y).all()
    np.testing.assert_allclose(Y, np.asarray(w.layer.data))
    assert list(back.obs["bulk_labels"].astype(str)) == list(
        expected.obs["bulk_labels"].astype(str)
    )
    np.testing.assert_allclose(back.obs["n_counts"], expected.obs["n_counts"])
    assert list(back.obs["batch"]) == ["pbmc_ref"] * N_REF + ["second"] * (N - N_REF)
    assert back.uns["tsne"]["params"]["representation"] == "obsm/X_pca"
    assert list(back.uns["bulk_labels_colors"]) == list(ref.uns["bulk_labels_colors"])
    # the in-memory AnnData is the same combination
    assert w.adata.shape == (N, N_GENES) and list(w.adata.obs_names) == names
    # napari's File > Save Selected Layer (the plugin's writer) saves the same
    via_napari = target.with_name("via_napari.h5ad")
    viewer.layers.selection = {w.layer}
    viewer.layers.save(str(via_napari), selected=True, plugin="napari-tsne")
    again = anndata.read_h5ad(via_napari)
    assert again.shape == (N, N_GENES) and list(again.obs_names) == names
    np.testing.assert_array_equal(again.obsm["X_tsne"], Y)
    # the input files were only read
    assert {p: digest(p) for p in hashes} == hashes
    # exporting onto an input file is refused and changes nothing
    assert w.export(path=str(new_path)) is None
    assert "one of the files the map was made from" in w.message.value
    assert digest(new_path) == hashes[new_path]


def test_clashing_names_made_unique_and_said(make_napari_viewer, qtbot, split_files, tmp_path):
    ref, new, ref_path, _ = split_files
    clash = new.copy()
    clash.obs_names = list(ref.obs_names[: new.n_obs])
    clash_path = tmp_path / "clash.h5ad"
    clash.write_h5ad(clash_path)
    viewer, w = map_and_add(make_napari_viewer, qtbot, ref_path, clash_path)
    out = tmp_path / "out.h5ad"
    assert w.export(path=str(out)) is not None
    assert "150 cell names occur more than once" in w.message.value
    back = anndata.read_h5ad(out)
    assert back.obs_names.is_unique
    assert list(back.obs_names[:N_REF]) == list(ref.obs_names)
    assert back.obs_names[N_REF] == f"{ref.obs_names[0]}-1"


def test_write_map_into_each_source_file(make_napari_viewer, qtbot, split_files):
    ref, new, ref_path, new_path = split_files
    viewer, w = map_and_add(make_napari_viewer, qtbot, ref_path, new_path)
    w.write_back.value = True
    written = w.export()
    assert [Path(p).name for p in written] == ["pbmc_ref.h5ad", "pbmc_new.h5ad"]
    assert "pbmc_ref.h5ad, pbmc_new.h5ad" in w.message.value
    layer_Y = np.asarray(w.layer.data)
    for path, part, Y in ((ref_path, ref, layer_Y[:N_REF]), (new_path, new, layer_Y[N_REF:])):
        back = anndata.read_h5ad(path)
        np.testing.assert_allclose(back.obsm["X_tsne"], Y)
        np.testing.assert_array_equal(np.asarray(back.X), np.asarray(part.X))
        assert list(back.obs_names) == list(part.obs_names)
        assert set(back.obsm.keys()) == {"X_pca", "X_umap", "X_tsne"}
        assert "distances" in back.obsp


def test_cli_transform_keeps_both_anndatas(split_files, tmp_path):
    ref, new, ref_path, new_path = split_files
    map_path = tmp_path / "map.h5ad"
    fast = ["--n-iter", "40", "--early-exaggeration-iter", "20", "--threads", "1", "-q"]
    assert cli.main(["embed", str(ref_path), "-o", str(map_path),
                     "--representation", "obsm/X_pca", *fast]) == 0  # fmt: skip
    hashes = {p: digest(p) for p in (map_path, new_path)}
    out = tmp_path / "all.h5ad"
    code = cli.main(["transform", str(map_path), str(new_path), "-o", str(out),
                     "--n-iter", "10", "-q"])  # fmt: skip
    assert code == 0
    back = anndata.read_h5ad(out)
    assert back.shape == (N, N_GENES)
    assert list(back.obs_names) == list(ref.obs_names) + list(new.obs_names)
    np.testing.assert_array_equal(back.obsm["X_pca"], anndata.concat([ref, new]).obsm["X_pca"])
    np.testing.assert_array_equal(
        back.obsm["X_tsne"][:N_REF], anndata.read_h5ad(map_path).obsm["X_tsne"]
    )
    assert np.isfinite(back.obsm["X_tsne"]).all()
    assert list(back.obs["batch"]) == ["map"] * N_REF + ["pbmc_new"] * (N - N_REF)
    assert back.uns["tsne"]["params"]["reference"] == "map.h5ad"
    assert {p: digest(p) for p in hashes} == hashes
