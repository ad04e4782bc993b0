"""The image analyst's whole loop in a real napari window, on the galaxies sample (File >
Open Sample): measure the objects in the plugin, map them, colour the map by a
measurement, select on the map -> the objects outlined in the image, click an object
-> its point selected, name a group -> a column of the Labels features, export ->
an AnnData with the measurements as X and the label ids, and a CSV. The window shows
the whole image and the whole map, each fitted to its own canvas.

    xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest tests/test_objects_walkthrough.py

``NAPARI_TSNE_SCREENSHOTS=<folder>`` saves the window's screenshots there (docs/gui.md).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")
anndata = pytest.importorskip("anndata")

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    pytest.skip("needs a display: run under xvfb-run", allow_module_level=True)

from test_selection import click, map_canvas, world_to_canvas  # noqa: E402
from test_widget import (  # noqa: E402
    _compiled_kernels,  # noqa: F401 - module fixture
    open_widget,
    wait_done,
)

SHOTS = os.environ.get("NAPARI_TSNE_SCREENSHOTS")


def save_window(viewer, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        viewer.window.screenshot(os.path.join(SHOTS, name), canvas_only=False)


def fitted(model, canvas_size, lo, hi) -> bool:
    """The box [lo, hi] (world) lies inside the canvas and fills it in one direction."""
    camera = model.camera
    centre = np.asarray(camera.center)[-2:]
    size = np.asarray(canvas_size, dtype=float)
    corners = [(np.asarray(c) - centre) * camera.zoom + size / 2 for c in (lo, hi)]
    inside = all(((c >= -1) & (c <= size + 1)).all() for c in corners)
    fill = np.max((np.asarray(hi) - np.asarray(lo)) * camera.zoom / size)
    return inside and fill > 0.6


def test_objects_in_images_walkthrough(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    image, labels = viewer.open_sample("napari-tsne", "galaxies")
    n_obj = int(labels.data.max())
    assert 500 < n_obj < 800
    labels.features = pd.DataFrame()  # as a user's own segmentation: nothing measured yet
    w = open_widget(viewer)
    for name, value in dict(
        n_jobs=1, perplexity=20.0, early_exaggeration_iter=100, n_iter=200, update_interval=20
    ).items():
        getattr(w, name).value = value

    # 1. measure the objects in the plugin (a worker: the GUI keeps going)
    w.source.value = labels
    assert "no features table" in w.source_info.value
    w.measure_labels.value = labels
    assert list(w.measure_images.choices) == [image]  # the RGB image of the same shape
    w.measure_images.value = [image]
    w.measure_objects()
    assert w.is_measuring
    qtbot.waitUntil(lambda: not w.is_measuring, timeout=60_000)
    feats = labels.features
    assert len(feats) == n_obj and list(feats["label"]) == list(range(1, n_obj + 1))
    assert {"area", "eccentricity", "solidity", "intensity_mean-Hubble_deep_field-red"} <= set(
        feats.columns
    )
    assert "Measured" in w.message.value and w.source.value is labels
    assert "numeric feature columns" in w.representation.value

    # 2. map them: the map in its own view beside the image, both fitted
    w.run()
    wait_done(qtbot, w)
    assert w.layer is not None and len(w.layer.data) == n_obj
    assert w.map_viewer is not viewer and image.visible and labels.visible
    viewer.reset_view()
    qtbot.wait(200)
    assert fitted(viewer, viewer.canvas.size, (0, 0), labels.data.shape)
    coords = np.asarray(w.layer.data)
    assert fitted(w.map_viewer, w.map_viewer.canvas.size, coords.min(0), coords.max(0))

    # 3. colour the map by a measurement (a colour bar says which and its range)
    w.colour_by.value = "area"
    assert w._colouring.kind == "continuous" and "area" in w.colour_bar.texts()[0]
    assert float(w.colour_bar.texts()[2]) == pytest.approx(feats["area"].max(), rel=1e-2)
    qtbot.wait(200)
    save_window(viewer, "gui_objects_map_beside_image.png")

    # 4. select on the map -> the objects are outlined in the image, which stays visible
    biggest = np.argsort(feats["area"].to_numpy())[-5:]
    w.select(biggest)
    outline = viewer.layers[f"{labels.name} (selected)"]
    assert set(np.unique(outline.data)) == {0, *feats["label"].to_numpy()[biggest]}
    assert outline.contour > 0 and image.visible
    qtbot.wait(200)
    save_window(viewer, "gui_objects_selection.png")

    # 5. click an object in the image -> its point is selected on the map
    viewer.layers.selection.active = labels
    labels.mode = "pan_zoom"
    target = int(feats["label"].to_numpy()[biggest[0]])
    centre = np.argwhere(labels.data == target).mean(axis=0)
    canvas = viewer.window._qt_viewer.canvas
    click(canvas, world_to_canvas(viewer, canvas, centre))
    qtbot.waitUntil(lambda: list(w.selected_rows()) == [int(biggest[0])], timeout=5000)
    # and a click on a map point outlines its object
    w._map_view.fit()
    qtbot.wait(100)
    top = int(np.argmax(coords[:, 0]))
    mcanvas = map_canvas(w)
    click(mcanvas, world_to_canvas(w.map_viewer, mcanvas, coords[top]))
    qtbot.waitUntil(lambda: list(w.selected_rows()) == [top], timeout=5000)
    assert set(np.unique(outline.data)) == {0, int(feats["label"].iloc[top])}

    # 6. a group made on the map becomes a column of the Labels features
    w.select(biggest)
    assert w.assign_group("giants")
    feats = labels.features
    assert set(feats["annotation"].iloc[biggest]) == {"giants"}
    assert (feats["MANUAL_CLUSTER_ID"].iloc[biggest] == 1).all()
    assert (feats["MANUAL_CLUSTER_ID"] == 0).sum() == n_obj - 5
    w.colour_by.value = "annotation"
    w.colour_source.value = True  # the objects coloured by group in the image
    giant_colour = labels.colormap.map(np.array([target]))[0]
    np.testing.assert_allclose(giant_colour, w._colouring.rgba[biggest[0]])

    # 7. export: the measurements as X, the label ids and groups in obs; and a CSV
    h5ad = tmp_path / "galaxies.h5ad"
    assert w.export(path=str(h5ad)) is not None
    back = anndata.read_h5ad(h5ad)
    measured = [c for c in w._source.extra["columns"]]
    assert list(back.var_names) == measured and back.n_obs == n_obj
    np.testing.assert_allclose(back.X, feats[measured].to_numpy(dtype=float))
    assert list(back.obs["label"]) == list(range(1, n_obj + 1))
    assert set(back.obs["annotation"].astype(str)) == {"giants", "unassigned"}
    np.testing.assert_array_equal(back.obsm["X_tsne"], coords)
    csv = tmp_path / "galaxies.csv"
    assert w.export(path=str(csv)) is not None
    table = pd.read_csv(csv)
    assert len(table) == n_obj and {"label", "area", "annotation", "tsne_1", "tsne_2"} <= set(
        table.columns
    )
    np.testing.assert_allclose(table[["tsne_1", "tsne_2"]].to_numpy(), coords)


def test_measuring_many_objects_keeps_the_window_responsive(make_napari_viewer, qtbot):
    """10,000 objects are measured in a worker: a 10 ms timer of the main thread keeps
    ticking (no gap of 250 ms) while it runs, and the table arrives whole."""
    from test_widget import _timer_gaps

    rng = np.random.default_rng(0)
    side = 100  # 100 x 100 objects of random sizes on a grid of 9-pixel cells
    seg = np.zeros((side * 9, side * 9), dtype=np.int32)
    sizes = rng.integers(2, 8, size=(side, side))
    for i in range(side):
        for j in range(side):
            k = sizes[i, j]
            seg[i * 9 : i * 9 + k, j * 9 : j * 9 + 8 - k // 2] = i * side + j + 1
    viewer = make_napari_viewer(show=True)
    labels = viewer.add_labels(seg, name="nuclei")
    w = open_widget(viewer)
    w.measure_labels.value = labels
    w.measure_objects()
    longest, n_ticks, duration = _timer_gaps(qtbot, None, until=lambda: not w.is_measuring)
    assert len(labels.features) == side * side
    np.testing.assert_array_equal(labels.features["area"].to_numpy(), np.bincount(seg.ravel())[1:])
    assert n_ticks > 10 and longest < 0.25, (longest, duration)
