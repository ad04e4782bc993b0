"""``napari_tsne.view(adata)`` in a real napari window: the widget docked on the
caller's AnnData, the form set from the options, the map written back into the same
object, and bad arguments refused before anything changes.

Run under Xvfb::

    xvfb-run -a python -m pytest tests/test_view.py
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")
anndata = pytest.importorskip("anndata")

import napari_tsne  # noqa: E402
from napari_tsne.engine.warmup import warm_up_kernels  # noqa: E402
from napari_tsne.io import UnknownRepresentationError  # noqa: E402

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    pytest.skip("needs a display: run under xvfb-run", allow_module_level=True)

from test_widget import make_cells, wait_done  # noqa: E402

FAST = dict(perplexity=10.0, early_exaggeration_iter=20, n_iter=60, n_jobs=1, update_interval=5)


@pytest.fixture(scope="module", autouse=True)
def _compiled_kernels():
    warm_up_kernels()


def wide_cells(n=120, n_vars=60, seed=1, with_pca=True) -> anndata.AnnData:
    """More than 50 variables: the use_rep rule picks obsm['X_pca']."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_vars)).astype(np.float32)
    ad = anndata.AnnData(X=X, obs=pd.DataFrame(index=[f"c{i}" for i in range(n)]))
    if with_pca:
        ad.obsm["X_pca"] = X[:, :8].copy()
    return ad


def knn_accuracy(coords, labels, k=5) -> float:
    """Leave-one-out kNN label accuracy of a map (brute force, independent of the engine)."""
    d = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    labels = np.asarray(labels)
    votes = [pd.Series(labels[row]).mode().iloc[0] for row in nn]
    return float(np.mean(np.asarray(votes) == labels))


def test_view_maps_into_the_callers_anndata(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    adata = make_cells(150)
    X_before = adata.X.copy()
    obs_before = adata.obs.copy()

    got_viewer, w = napari_tsne.view(adata, viewer=viewer, color="n_counts", run=True, **FAST)
    assert got_viewer is viewer
    assert "t-SNE map (napari-tsne)" in viewer.window.dock_widgets
    assert w.representation.value == "X"  # 20 variables: X itself, as tl.tsne does
    assert "obsm/X_pca" in list(w.representation.choices)
    assert w.perplexity.value == 10.0 and w.n_iter.value == 60 and w.n_jobs.value == 1
    wait_done(qtbot, w)

    # the map is in the caller's own object, the same numbers as the map layer
    assert "X_tsne" in adata.obsm
    np.testing.assert_array_equal(adata.obsm["X_tsne"], np.asarray(w.layer.data))
    assert adata.obsm["X_tsne"].shape == (150, 2)
    assert adata.uns["tsne"]["params"]["perplexity"] == 10.0
    assert w.adata is adata
    # nothing the user had is changed
    assert (adata.X != X_before).nnz == 0
    pd.testing.assert_frame_equal(adata.obs, obs_before)
    assert adata.uns["note"] == "keep me"
    # the chosen colour column, and a map that keeps the three cell types apart
    assert w.colour_by.value == "n_counts"
    assert knn_accuracy(adata.obsm["X_tsne"], adata.obs["cell_type"]) > 0.95


def test_view_uses_the_current_viewer_and_the_use_rep_rule(make_napari_viewer):
    viewer = make_napari_viewer()
    wide = wide_cells()
    got_viewer, w = napari_tsne.view(wide, name="wide")
    assert got_viewer is viewer  # napari.current_viewer()
    assert w.representation.value == "obsm/X_pca"
    assert viewer.layers["wide"].metadata["adata"] is wide

    _, w2 = napari_tsne.view(wide, viewer=viewer, use_rep="X", name="wide X", learning_rate=500)
    assert w2.representation.value == "X"
    assert not w2.auto_learning_rate.value and w2.learning_rate.value == 500
    assert w2._params()["learning_rate"] == 500

    # more than 50 variables and no X_pca: computed and stored now, with a warning
    bare = wide_cells(with_pca=False)
    with pytest.warns(UserWarning, match="computed a PCA"):
        _, w3 = napari_tsne.view(bare, viewer=viewer, name="bare")
    assert bare.obsm["X_pca"].shape == (120, 50)
    assert w3.representation.value == "obsm/X_pca"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(perplexety=10), TypeError, "unknown option 'perplexety'"),
        (dict(perplexity=0.5), ValueError, "out of range"),
        (dict(n_iter=10.5), ValueError, "whole number"),
        (dict(n_jobs=10_000), ValueError, "out of range"),
        (dict(metric="manhatan"), ValueError, "choose one of"),
        (dict(color="celltype"), KeyError, "Could not find key 'celltype' in .var_names"),
        (dict(use_rep="X_umap"), UnknownRepresentationError, "X_umap"),
    ],
)
def test_view_bad_arguments_change_nothing(make_napari_viewer, kwargs, error, match):
    viewer = make_napari_viewer()
    adata = wide_cells(with_pca=False)
    with pytest.raises(error, match=match):
        napari_tsne.view(adata, viewer=viewer, **kwargs)
    assert len(viewer.layers) == 0
    assert not viewer.window.dock_widgets
    assert list(adata.obsm.keys()) == [] and not adata.uns


def test_view_refuses_what_is_not_an_anndata(make_napari_viewer):
    viewer = make_napari_viewer()
    with pytest.raises(TypeError, match="needs an AnnData object, not ndarray"):
        napari_tsne.view(np.zeros((10, 3)), viewer=viewer)
    assert len(viewer.layers) == 0
