"""Colour the map by anything: the colours of values (napari_tsne.colouring), the names
and values of variables (napari_tsne.variables: obs columns and genes, read a column
at a time, scanpy's errors), and in the widget as napari opens it: a gene found by
typing, its colour bar, colour maps and ranges, a measurement of a Labels source;
``view(adata, color=gene)``; checked on screenshots."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from napari_tsne.colouring import MISSING, colour_values, resolve_limit
from napari_tsne.variables import (
    UnknownVariableError,
    gene_values,
    unknown_variable,
    value_sources,
    values_of,
    variable_names,
)

anndata = pytest.importorskip("anndata")


def small_adata(sparse=True):
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(30, 6)).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(["T", "B", "NK"] * 10), "n_counts": X.sum(1)},
        index=[f"c{i}" for i in range(30)],
    )
    ad = anndata.AnnData(
        X=sp.csr_matrix(X) if sparse else X,
        obs=obs,
        var=pd.DataFrame(index=["CD3E", "CD3D", "MS4A1", "NKG7", "GNLY", "LYZ"]),
    )
    ad.layers["counts"] = sp.csr_matrix(X * 10)
    raw_X = np.c_[X, X[:, :1] + 100]
    ad.raw = anndata.AnnData(X=raw_X, var=pd.DataFrame(index=[*ad.var_names, "CD8A"]), obs=obs)
    return ad, X


# ------------------------------------------------------------------ colours


def test_continuous_colours_follow_the_colour_map_over_the_range():
    import matplotlib

    values = np.array([0.0, 5.0, 10.0, np.nan, 2.5])
    c = colour_values(values, cmap="magma")
    assert c.kind == "continuous" and (c.vmin, c.vmax) == (0.0, 10.0) and c.n_missing == 1
    cmap = matplotlib.colormaps["magma"]
    np.testing.assert_allclose(c.rgba[[0, 1, 2, 4]], cmap(np.array([0.0, 0.5, 1.0, 0.25])))
    np.testing.assert_allclose(c.rgba[3], MISSING)  # missing values are grey
    # a robust range (scanpy's "p1" / "p99"); values beyond it take the end colours
    wide = np.r_[np.linspace(0, 1, 98), -50.0, 50.0]
    c = colour_values(wide, vmin="p1", vmax="p99")
    assert c.vmin == pytest.approx(np.percentile(wide, 1))
    assert c.vmax == pytest.approx(np.percentile(wide, 99))
    np.testing.assert_allclose(c.rgba[-1], matplotlib.colormaps["viridis"](1.0))
    np.testing.assert_allclose(c.rgba[-2], matplotlib.colormaps["viridis"](0.0))
    with pytest.raises(ValueError, match="percentile such as 'p1' or 'p99'"):
        resolve_limit("q99", wide, 0.0)
    with pytest.raises(ValueError, match="Unknown colour map 'rainbowz'"):
        colour_values(wide, cmap="rainbowz")


def test_categories_get_a_palette_and_neutral_ones_grey():
    s = pd.Series(
        pd.Categorical(["a", "b", None, "unassigned", "a"], categories=["unassigned", "a", "b"])
    )
    c = colour_values(s, neutral=("unassigned",))
    assert c.kind == "categorical" and c.categories == ["unassigned", "a", "b"]
    np.testing.assert_allclose(c.rgba[3], MISSING)  # the neutral category
    np.testing.assert_allclose(c.rgba[2], MISSING)  # missing
    assert not np.allclose(c.rgba[0], c.rgba[1]) and np.allclose(c.rgba[0], c.rgba[4])
    # few distinct numbers are categories, many are a scale; forced either way
    assert colour_values(np.arange(10) % 3).kind == "categorical"
    assert colour_values(np.arange(100.0)).kind == "continuous"
    assert colour_values(np.arange(10) % 3, categorical=False).kind == "continuous"


# ------------------------------------------------------------------ variables


def test_names_values_and_errors_in_scanpy_style():
    ad, X = small_adata()
    names = variable_names(ad.obs, ad)
    assert names[:2] == ["cell_type", "n_counts"] and "CD3E" in names and names[-1] == "CD8A"
    assert len(names) == len(set(names))
    # one column at a time, from X, a layer or raw; a raw-only gene comes from raw
    np.testing.assert_array_equal(gene_values(ad, "CD3E"), X[:, 0])
    np.testing.assert_array_equal(gene_values(ad, "MS4A1", source="layers/counts"), X[:, 2] * 10)
    np.testing.assert_array_equal(gene_values(ad, "CD8A"), X[:, 0] + 100)
    np.testing.assert_array_equal(gene_values(ad, "NKG7", rows=[3, 1]), X[[3, 1], 3])
    assert value_sources(ad) == ["X", "layers/counts", "raw/X"]
    got = values_of("cell_type", ad.obs, ad, rows=[0, 1])
    assert list(got) == ["T", "B"]
    with pytest.raises(UnknownVariableError) as err:
        values_of("CD3", ad.obs, ad)
    assert str(err.value) == (
        "Could not find key 'CD3' in .var_names or .obs.columns. Did you mean 'CD3E', 'CD3D'?"
    )
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert "Did you mean" not in str(unknown_variable("zzz", names))
    with pytest.raises(ValueError, match="not a layer"):
        gene_values(ad, "CD3E", source="layers/spliced")


def test_a_gene_is_read_without_loading_the_matrix(tmp_path):
    """A backed file: the gene's column is read from disk, X is not loaded whole."""
    ad, X = small_adata(sparse=False)
    path = tmp_path / "cells.h5ad"
    ad.write_h5ad(path)
    backed = anndata.read_h5ad(path, backed="r")
    try:
        np.testing.assert_array_equal(gene_values(backed, "GNLY"), X[:, 4])
        assert backed.isbacked
    finally:
        backed.file.close()


# ------------------------------------------------------------------ in napari

needs_display = pytest.mark.skipif(
    not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")),
    reason="needs a display: run under xvfb-run",
)

if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
    pytest.importorskip("napari")
    pytest.importorskip("pytestqt")
    from test_selection import map_canvas, world_to_canvas  # noqa: E402
    from test_widget import (  # noqa: E402
        _compiled_kernels,  # noqa: F401 - module fixture
        make_widget,
        wait_done,
    )

T_CELLS = ("CD4+/CD45RO+ Memory", "CD8+ Cytotoxic T", "CD4+/CD45RA+/CD25- Naive T",
           "CD8+/CD45RA+ Naive Cytotoxic", "CD4+/CD25 T Reg")  # fmt: skip


def pbmc():
    sc = pytest.importorskip("scanpy")
    return sc.datasets.pbmc68k_reduced()


def _colour_pixels(image: np.ndarray, rgb, tol=40) -> int:
    """Pixels of a screenshot within *tol* (per channel) of the colour *rgb* (0-255)."""
    return int((np.abs(image[..., :3].astype(int) - np.asarray(rgb)).max(axis=-1) <= tol).sum())


@needs_display
def test_pbmc_type_cd3_pick_cd3e_t_cells_light_up(make_napari_viewer, qtbot, tmp_path):
    import matplotlib
    from qtpy.QtCore import Qt

    adata = pbmc()
    path = tmp_path / "pbmc.h5ad"
    adata.write_h5ad(path)
    viewer = make_napari_viewer(show=True)
    w = make_widget(viewer, perplexity=20.0, n_iter=200, early_exaggeration_iter=100)
    w.source.value = "AnnData file (.h5ad)…"
    w.file.value = path
    w.run()
    wait_done(qtbot, w)
    assert not w.colour_bar.widget.isVisible()

    # type "CD3": the completer offers the CD3 genes (and not 20,000 entries at once)
    search = w.colour_search.native
    search.setFocus()
    qtbot.keyClicks(search, "CD3")
    completer = search.completer()
    qtbot.waitUntil(lambda: completer.completionCount() > 0, timeout=5000)
    offered = [
        completer.completionModel().index(i, 0).data() for i in range(completer.completionCount())
    ]
    assert {"CD3E", "CD3D", "CD3G"} <= set(offered)
    assert all("cd3" in name.lower() for name in offered)
    # pick CD3E in the popup
    popup = completer.popup()
    row = offered.index("CD3E")
    popup.setCurrentIndex(completer.completionModel().index(row, 0))
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.colour_by.value == "CD3E", timeout=5000)

    # the map's colours are CD3E's values on viridis, its range shown with the name
    values = adata.obs_vector("CD3E")
    lo, hi = float(values.min()), float(values.max())
    want = matplotlib.colormaps["viridis"]((values - lo) / (hi - lo))
    np.testing.assert_allclose(np.asarray(w.layer.face_color), want, atol=1e-6)
    assert w.colour_bar.widget.isVisible()
    name, low, high = w.colour_bar.texts()
    assert "CD3E" in name and "viridis" in name
    assert float(low) == pytest.approx(lo, rel=1e-2, abs=1e-2)
    assert float(high) == pytest.approx(hi, rel=1e-2)
    assert w.colour_map.visible and w.colour_range.visible
    # the T cells light up: higher on the colour map than the other cells
    is_t = adata.obs["bulk_labels"].isin(T_CELLS).to_numpy()
    assert values[is_t].mean() > values[~is_t].mean() + 1.0

    # on screen: the map is drawn in the viewer (an AnnData has no view of its own);
    # bright (high) and dark (low) viridis colours both show, and at a T cell the
    # canvas has a high-end colour
    qtbot.wait(300)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    top = np.round(np.asarray(matplotlib.colormaps["viridis"](1.0)[:3]) * 255)
    low_c = np.round(np.asarray(matplotlib.colormaps["viridis"](0.0)[:3]) * 255)
    assert _colour_pixels(shot, top) > 10 and _colour_pixels(shot, low_c) > 30
    # another colour map and a robust range change the colours and the bar
    w.colour_map.value = "magma"
    w.colour_range.value = "1st – 99th percentile"
    got = w._colouring
    assert got.cmap == "magma" and got.vmax == pytest.approx(np.percentile(values, 99))
    assert "magma" in w.colour_bar.texts()[0]
    qtbot.wait(300)
    shot2 = viewer.screenshot(canvas_only=True, flash=False)
    magma_top = np.round(np.asarray(matplotlib.colormaps["magma"](1.0)[:3]) * 255)
    assert _colour_pixels(shot2, magma_top) > 10 and _colour_pixels(shot2, top) < 5

    # an unknown name: a message with the closest names, the colouring unchanged
    w.colour_search.value = "CD3X"
    w._colour_from_search("CD3X")
    assert "Could not find key 'CD3X'" in w.message.value and "CD3E" in w.message.value
    assert w.colour_by.value == "CD3E"
    # case does not matter for an exact name; obs columns are found the same way
    w._colour_from_search("ms4a1")
    assert w.colour_by.value == "MS4A1"
    w._colour_from_search("louvain")
    assert w.colour_by.value == "louvain" and w.legend.isVisible()
    assert not w.colour_bar.widget.isVisible()
    # a gene only in raw: read from raw
    w.gene_source.value = "raw/X"
    assert w.colour_with("CD3E")
    np.testing.assert_allclose(
        np.asarray(w.layer.face_color)[:, :3],
        colour_values(
            adata.raw.obs_vector("CD3E"), categorical=False, cmap="magma", vmin="p1", vmax="p99"
        ).rgba[:, :3],
        atol=1e-6,
    )


@needs_display
def test_view_colours_by_a_gene(make_napari_viewer, qtbot):
    import napari_tsne

    adata = pbmc()
    viewer = make_napari_viewer(show=True)
    with pytest.raises(KeyError, match="Did you mean .*'CD3E'"):
        napari_tsne.view(adata, viewer=viewer, color="CD3F")
    assert "X_tsne" not in adata.obsm  # nothing changed
    _, w = napari_tsne.view(
        adata, viewer=viewer, color="CD3E", run=True, n_iter=50, early_exaggeration_iter=50,
        perplexity=20.0, n_jobs=1,
    )  # fmt: skip
    wait_done(qtbot, w)
    qtbot.waitUntil(lambda: w.colour_by.value == "CD3E", timeout=5000)
    assert w._colouring.kind == "continuous" and "CD3E" in w.colour_bar.texts()[0]


@needs_display
def test_measurements_colour_a_map_of_objects(make_napari_viewer, qtbot):
    """A map made from a Labels layer's measurements is coloured by any of them, in
    its own view, with the colour bar."""
    import matplotlib

    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(5)
    seg = np.zeros((60, 60), dtype=np.int32)
    for k in range(36):
        y, x = divmod(k, 6)
        seg[y * 10 + 2 : y * 10 + 8, x * 10 + 2 : x * 10 + 8] = k + 1
    meas = pd.DataFrame(
        {"label": np.arange(1, 37), "area": rng.normal(30, 8, 36), "solidity": rng.random(36)}
    )
    labels = viewer.add_labels(seg, name="cells", features=meas)
    w = make_widget(viewer, perplexity=8.0)
    w.source.value = labels
    w.run()
    wait_done(qtbot, w)
    assert "area" in w.colour_by.choices and "solidity" in w.colour_by.choices
    assert w.colour_by.value == "(single colour)"  # an object's label is no class
    w.colour_by.value = "area"
    want = colour_values(meas["area"]).rgba
    np.testing.assert_allclose(np.asarray(w.layer.face_color), want, atol=1e-6)
    assert "area" in w.colour_bar.texts()[0]
    qtbot.wait(300)
    shot = w._map_view.qt_viewer.screenshot(flash=False)
    top = np.round(np.asarray(matplotlib.colormaps["viridis"](1.0)[:3]) * 255)
    assert _colour_pixels(shot, top) > 5
    # the same colours on the objects in the image
    w.colour_source.value = True
    largest = int(meas["label"][meas["area"].idxmax()])
    np.testing.assert_allclose(
        labels.colormap.map(np.array([largest]))[0], want[meas["area"].idxmax()]
    )
    _ = map_canvas, world_to_canvas  # shared helpers (imported for the fixtures' module)
