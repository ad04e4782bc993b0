"""How the map looks, in a real napari window: the category legend in the dock (rows,
colours, counts, click to hide / show), the point size, the view fitted in both
directions, added samples drawn like the others, and the reader's layer of the same
file hidden while its map is shown.

Run under Xvfb::

    xvfb-run -a python -m pytest tests/test_map_look.py

``NAPARI_TSNE_SCREENSHOTS=<folder>`` saves screenshots of the dock and the map there.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")
anndata = pytest.importorskip("anndata")

from napari_tsne.engine.warmup import warm_up_kernels  # noqa: E402
from napari_tsne.plugin.reader import point_size  # noqa: E402
from napari_tsne.plugin.sources import ANNDATA_FILE  # noqa: E402

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    pytest.skip("needs a display: run under xvfb-run", allow_module_level=True)

from test_roundtrip import N_REF, N  # noqa: E402
from test_roundtrip import split_files as split_files  # noqa: E402 (a fixture)
from test_widget import make_widget, wait_done  # noqa: E402

SHOTS = os.environ.get("NAPARI_TSNE_SCREENSHOTS")


@pytest.fixture(scope="module", autouse=True)
def _compiled_kernels():
    warm_up_kernels()


def shot(widget_or_viewer, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, name)
        if hasattr(widget_or_viewer, "screenshot"):
            widget_or_viewer.screenshot(path, canvas_only=False)
        else:
            widget_or_viewer.grab().save(path)


def mapped(make_napari_viewer, qtbot, ref_path, size=None, **values):
    viewer = make_napari_viewer(show=True)
    (reader_layer,) = viewer.open(str(ref_path), plugin="napari-tsne")
    w = make_widget(viewer, **values)
    if size is not None:  # after docking the widget, which takes room
        viewer.window._qt_window.resize(*size)
        qtbot.wait(50)
    w.source.value = reader_layer
    w.representation.value = "obsm/X_pca"
    w.run()
    wait_done(qtbot, w)
    return viewer, w, reader_layer


def click_row(qtbot, w, row):
    from qtpy.QtCore import Qt

    rect = w.legend.visualItemRect(w.legend.item(row))
    qtbot.mouseClick(w.legend.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_legend_rows_counts_colours_and_click_to_hide(make_napari_viewer, qtbot, split_files):
    ref, _, ref_path, _ = split_files
    viewer, w, _ = mapped(make_napari_viewer, qtbot, ref_path, n_iter=150)
    layer = w.layer
    w.colour_by.value = "bulk_labels"
    assert w.legend.isVisible()
    rows = w.legend_rows()
    counts = ref.obs["bulk_labels"].value_counts()
    assert [r[0] for r in rows] == [c for c in ref.obs["bulk_labels"].cat.categories]
    assert {r[0]: r[2] for r in rows} == counts.to_dict()
    values = np.asarray(layer.features["bulk_labels"])
    for cat, colour, _, shown in rows:  # each swatch is the colour of its points
        rgb = np.asarray(layer.face_color)[values == cat, :3]
        assert np.allclose(rgb, rgb[0])
        assert colour == "#{:02x}{:02x}{:02x}".format(*np.round(rgb[0] * 255).astype(int))
        assert shown
    assert len({r[1] for r in rows}) == len(rows)  # distinguishable
    shot(w.native, "legend_dock.png")

    click_row(qtbot, w, 1)
    hidden = rows[1][0]
    np.testing.assert_array_equal(layer.shown, values != hidden)
    # what is drawn: napari 0.9.2 ignores `shown` for a 2-D layer, so hidden points are
    # also transparent (face and border); the others keep their opacity
    face, border = np.asarray(layer.face_color), np.asarray(layer.border_color)
    assert (face[values == hidden, 3] == 0).all() and (border[values == hidden, 3] == 0).all()
    assert (face[values != hidden, 3] == 1).all()
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    swatch = np.array([int(rows[1][1][i : i + 2], 16) for i in (1, 3, 5)])
    near = np.abs(canvas[..., :3].astype(int) - swatch).max(axis=-1) < 30
    assert near.sum() < 20, near.sum()  # no point of the hidden colour on the canvas
    assert [r[3] for r in w.legend_rows()] == [True, False, True, True]
    assert w.legend.item(1).font().strikeOut()
    shot(viewer, "legend_hidden_category.png")
    click_row(qtbot, w, 1)
    assert layer.shown.all() and all(r[3] for r in w.legend_rows())
    assert (np.asarray(layer.face_color)[:, 3] == 1).all()
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    near = np.abs(canvas[..., :3].astype(int) - swatch).max(axis=-1) < 30
    assert near.sum() > 200  # its points are drawn again
    # another colouring: a new legend, everything shown; a continuous one: no legend
    click_row(qtbot, w, 0)
    w.colour_by.value = "phase"
    assert [r[0] for r in w.legend_rows()] == ["G1", "G2M", "S"]
    assert layer.shown.all()
    w.colour_by.value = "n_counts"
    assert not w.legend.isVisible() and w.legend.count() == 0


def test_point_size_and_added_samples_drawn_alike(make_napari_viewer, qtbot, split_files):
    _, _, ref_path, new_path = split_files
    viewer, w, _ = mapped(make_napari_viewer, qtbot, ref_path)
    layer = w.layer
    data = np.asarray(layer.data)
    extent = np.ptp(data, axis=0).max()
    size = point_size(data)
    assert np.allclose(layer.size, size)
    # 550 points: 0.45 extent / sqrt(n), dots rather than one disc per cluster
    assert size == pytest.approx(0.45 * extent / np.sqrt(N_REF))
    for n, fraction in ((100_000, 1 / 500), (20, 1 / 40)):  # the clamps
        pts = np.random.default_rng(0).random((n, 2))
        assert point_size(pts) == pytest.approx(fraction * np.ptp(pts, axis=0).max())

    w.add_source.value = ANNDATA_FILE
    w.add_file.value = new_path
    w.add_representation.value = "obsm/X_pca"
    w.batch_name.value = "second"
    w.colour_by.value = "bulk_labels"
    w.add_samples()
    wait_done(qtbot, w)
    assert len(layer.data) == N
    assert np.allclose(layer.size, layer.size[0])  # the new points as large as the others
    assert "batch" in list(w.colour_by.choices)
    w.colour_by.value = "batch"
    assert {r[0]: r[2] for r in w.legend_rows()} == {"pbmc_ref": N_REF, "second": N - N_REF}
    shot(viewer, "added_samples_batch.png")


def view_rect(viewer):
    """The world rectangle (rows, columns) the canvas shows, from the real Qt canvas."""
    native = viewer.window._qt_viewer.canvas.native
    canvas = np.array([native.height(), native.width()], dtype=float)
    camera = viewer.scene.camera
    centre = np.asarray(camera.center[-2:])
    half = canvas / 2 / camera.zoom
    return centre - half, centre + half


@pytest.mark.parametrize("size", [(900, 1100), (2600, 1000)], ids=["tall", "wide"])
def test_view_fits_the_map_in_both_directions(make_napari_viewer, qtbot, split_files, size):
    _, _, ref_path, _ = split_files
    viewer, w, _ = mapped(make_napari_viewer, qtbot, ref_path, size=size, n_iter=150)
    native = viewer.window._qt_viewer.canvas.native
    tall = native.height() > native.width()
    assert tall == (size[1] > size[0]), (viewer.window._qt_window.size(), native.size())
    lo, hi = view_rect(viewer)
    data = np.asarray(w.layer.data)
    r = float(np.max(w.layer.size)) / 2
    assert (data.min(axis=0) - r >= lo).all() and (data.max(axis=0) + r <= hi).all(), (
        lo,
        hi,
        data.min(axis=0),
        data.max(axis=0),
    )
    # the map fills the canvas in its tighter direction (not a small map in the middle)
    fill = np.ptp(data, axis=0) / (hi - lo)
    assert fill.max() > 0.8
    shot(viewer, f"fit_{'tall' if tall else 'wide'}.png")


def test_reader_layer_hidden_while_its_map_is_shown(make_napari_viewer, qtbot, split_files):
    _, _, ref_path, _ = split_files
    viewer, w, reader_layer = mapped(make_napari_viewer, qtbot, ref_path)
    assert not reader_layer.visible and w.layer.visible
    other = viewer.add_points(np.zeros((3, 2)), name="unrelated")
    viewer.layers.remove(w.layer)
    assert reader_layer.visible and other.visible
    # a new run hides it again; a layer the user had hidden stays hidden afterwards
    w.run()
    wait_done(qtbot, w)
    assert not reader_layer.visible
    viewer.layers.remove(w.layer)
    reader_layer.visible = False
    w.run()
    wait_done(qtbot, w)
    viewer.layers.remove(w.layer)
    assert not reader_layer.visible
