"""Per-object measurements (plugin/measure.py): numbers against independent references
(numpy on known objects, and scikit-image's regionprops_table for the definitions),
progress, column names, and the input checks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from napari_tsne.plugin import measure
from napari_tsne.plugin.measure import MeasureError, measure_objects, measure_steps

skimage = pytest.importorskip("skimage")
from skimage.draw import disk, ellipse  # noqa: E402
from skimage.measure import label as connected  # noqa: E402
from skimage.measure import regionprops_table  # noqa: E402

SHAPE_2D = [
    "area",
    "perimeter",
    "equivalent_diameter_area",
    "axis_major_length",
    "axis_minor_length",
    "eccentricity",
    "solidity",
    "extent",
]
SHAPE_3D = [
    "area",
    "equivalent_diameter_area",
    "axis_major_length",
    "axis_minor_length",
    "solidity",
    "extent",
]
STATS = ["intensity_mean", "intensity_min", "intensity_max", "intensity_std"]


def known_objects():
    """A 2-D label image with four objects of known pixels; ids not consecutive."""
    labels = np.zeros((40, 50), dtype=np.uint16)
    labels[2:6, 3:10] = 7  # 4 x 7 rectangle
    labels[20:30, 20:22] = 3  # 10 x 2 bar
    labels[35, 45] = 12  # one pixel
    rr, cc = disk((12, 35), 5)
    labels[rr, cc] = 40
    return labels


def random_blobs(shape, seed=0, fraction=0.75, smooth=0.0):
    """Connected parts of thresholded (smoothed) noise: objects of varied, irregular shapes."""
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(seed).random(shape)
    if smooth:
        noise = gaussian_filter(noise, smooth)
    return connected(noise > np.quantile(noise, fraction)).astype(np.int32)


# ------------------------------------------------------------------------ numbers


def test_area_and_intensities_match_numpy_references():
    labels = known_objects()
    rng = np.random.default_rng(1)
    image = rng.normal(100, 10, labels.shape)
    table = measure_objects(labels, {"signal": image})

    ids = np.unique(labels)[1:]
    assert table["label"].tolist() == ids.tolist()
    assert table["label"].dtype.kind == "i"
    counts = np.bincount(labels.ravel())
    np.testing.assert_array_equal(table["area"], counts[ids])
    sums = np.bincount(labels.ravel(), weights=image.ravel())
    np.testing.assert_allclose(table["intensity_mean-signal"], sums[ids] / counts[ids])
    for row, i in enumerate(ids):
        values = image[labels == i]
        assert table["intensity_min-signal"][row] == pytest.approx(values.min())
        assert table["intensity_max-signal"][row] == pytest.approx(values.max())
        assert table["intensity_std-signal"][row] == pytest.approx(values.std())
    assert list(table.columns[11:]) == [f"{s}-signal" for s in STATS]


def test_centroid_is_the_mean_of_the_coordinates():
    labels = random_blobs((60, 70))
    table = measure_objects(labels)
    for i, cy, cx in zip(table["label"], table["centroid-0"], table["centroid-1"], strict=True):
        rows, cols = np.nonzero(labels == i)
        assert cy == pytest.approx(rows.mean())
        assert cx == pytest.approx(cols.mean())


def test_rectangle_bar_and_pixel_shapes():
    table = measure_objects(known_objects()).set_index("label")
    rect, bar, pixel = table.loc[7], table.loc[3], table.loc[12]
    assert rect["extent"] == 1.0 and rect["solidity"] == 1.0
    assert rect["perimeter"] == pytest.approx(2 * (3 + 6))  # pixel centres' outline
    assert bar["eccentricity"] > 0.95
    assert pixel["area"] == 1 and pixel["axis_major_length"] == 0
    assert pixel["eccentricity"] == 0 and pixel["solidity"] == 1


def test_eccentricity_of_a_disc_and_of_a_long_ellipse():
    labels = np.zeros((200, 200), dtype=np.int32)
    labels[disk((50, 50), 30)] = 1
    labels[ellipse(150, 100, 8, 80, rotation=0.3)] = 2
    table = measure_objects(labels).set_index("label")
    assert table.loc[1, "eccentricity"] < 0.05
    assert table.loc[1, "axis_major_length"] == pytest.approx(60, rel=0.03)
    assert table.loc[1, "axis_minor_length"] == pytest.approx(60, rel=0.03)
    assert table.loc[2, "eccentricity"] > 0.99
    assert table.loc[2, "axis_major_length"] == pytest.approx(160, rel=0.03)
    assert table.loc[2, "axis_minor_length"] == pytest.approx(16, rel=0.1)
    assert table.loc[1, "solidity"] > 0.97 and table.loc[2, "solidity"] > 0.9


def test_3d_volume_box_ball_and_flat_objects():
    from skimage.morphology import ball

    labels = np.zeros((20, 30, 40), dtype=np.int64)
    labels[2:5, 3:9, 4:14] = 1  # 3 x 6 x 10 box
    b = ball(6)
    labels[6:19, 10:23, 20:33][b > 0] = 2
    labels[10, 2:6, 2:8] = 5  # flat: one plane
    labels[15, 25, 35] = 9  # one voxel
    labels[0, 20, 0:10] = 11  # a line
    table = measure_objects(labels).set_index("label")
    assert list(table.columns) == SHAPE_3D + ["centroid-0", "centroid-1", "centroid-2"]
    assert table.loc[1, "area"] == 180
    assert table.loc[2, "area"] == int(b.sum())
    assert table.loc[1, "extent"] == 1.0 and table.loc[1, "solidity"] == 1.0
    assert table.loc[2, "solidity"] > 0.9
    assert table.loc[2, "axis_major_length"] == pytest.approx(table.loc[2, "axis_minor_length"])
    assert [table.loc[1, f"centroid-{a}"] for a in range(3)] == [3.0, 5.5, 8.5]
    # scikit-image's 3-D hull fails on these (solidity inf); here they are measured
    assert table.loc[[5, 9, 11], "solidity"].tolist() == [1.0, 1.0, 1.0]
    assert np.isfinite(table.to_numpy(dtype=float)).all()


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.filterwarnings("ignore:Failed to get convex hull")
@pytest.mark.filterwarnings("ignore:divide by zero")
def test_same_numbers_as_regionprops_table(ndim):
    """The vectorised columns follow scikit-image's definitions exactly."""
    if ndim == 2:
        labels = random_blobs((80, 90), fraction=0.6)
    else:
        labels = random_blobs((30, 32, 34), fraction=0.8, smooth=1.0)
    rng = np.random.default_rng(3)
    image = rng.integers(0, 4000, labels.shape).astype(np.uint16)
    table = measure_objects(labels, {"img": image})
    shape = SHAPE_2D if ndim == 2 else SHAPE_3D
    ref = regionprops_table(labels, image, properties=["label", *shape, "centroid", *STATS])
    assert len(table) == len(ref["label"]) > 20
    # scikit-image's 3-D hull fails on flat objects (solidity inf): compare the others
    hull = np.isfinite(ref["solidity"])
    assert hull.sum() > 10
    for key, values in ref.items():
        column = f"{key}-img" if key.startswith("intensity") else key
        got, want = table[column].to_numpy(), values
        if key == "solidity":
            got, want = got[hull], want[hull]
        # atol: scikit-image may keep sqrt(rounding) ~1e-8 where an axis is 0
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, err_msg=key)


def test_flat_object_solidity_uses_the_same_hull_as_scikit_image():
    """For objects whose hull scikit-image computes, the fallback counts the same pixels."""
    from skimage.measure import regionprops

    labels = random_blobs((14, 16, 18), seed=5, fraction=0.8)
    checked = 0
    for r in regionprops(labels):
        if r.area >= 4 and np.linalg.matrix_rank(r.coords - r.coords.mean(0)) == 3:
            assert measure._convex_count(r.image) == r.area_convex
            checked += 1
    assert checked >= 3


# ----------------------------------------------------------------------- progress


def test_progress_steps_and_yield_from(monkeypatch):
    monkeypatch.setattr(measure, "CHUNK", 10)
    labels = random_blobs((50, 50))
    n = int(labels.max())
    images = {"a": np.ones(labels.shape), "b": np.zeros(labels.shape)}
    steps = []

    def consumer():
        table = yield from measure_steps(labels, images)
        return table

    gen = consumer()
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as done:
        table = done.value
    chunks = -(-n // 10)
    total = 1 + chunks + 2
    assert len(table) == n
    assert [s[0] for s in steps] == list(range(total + 1))
    assert {s[1] for s in steps} == {total}
    assert all(isinstance(s[2], str) and s[2] for s in steps)
    assert steps[0][2].startswith("Measuring size and shape")
    assert "intensity in a" in steps[-3][2] and "intensity in b" in steps[-2][2]
    assert steps[-1][2] == f"Measured {n:,} objects"


def test_measure_objects_returns_what_the_steps_return():
    labels = random_blobs((30, 40))
    steps = measure_steps(labels, {"x": labels.astype(float)})
    while True:
        try:
            next(steps)
        except StopIteration as done:
            table = done.value
            break
    pd.testing.assert_frame_equal(table, measure_objects(labels, {"x": labels.astype(float)}))


# -------------------------------------------------------------------- column names


def test_column_names_with_two_images_and_rgb():
    labels = known_objects()
    rng = np.random.default_rng(0)
    grey = rng.random(labels.shape)
    rgb = rng.integers(0, 255, labels.shape + (3,), dtype=np.uint8)
    rgba = rng.integers(0, 255, labels.shape + (4,), dtype=np.uint8)
    table = measure_objects(labels, {"DAPI stain/1": grey, "photo": rgb, "logo": rgba})
    names = list(table.columns)
    assert names[:11] == ["label", *SHAPE_2D, "centroid-0", "centroid-1"]
    expected = [f"{s}-DAPI_stain_1" for s in STATS]
    for c in ("red", "green", "blue"):
        expected += [f"{s}-photo-{c}" for s in STATS]
    for c in ("red", "green", "blue", "alpha"):
        expected += [f"{s}-logo-{c}" for s in STATS]
    assert names[11:] == expected
    assert len(set(names)) == len(names)
    allowed = re.compile(r"^[A-Za-z0-9_.-]+$")  # no spaces, no "/" (h5ad keys)
    assert all(allowed.match(n) for n in names)
    green = rgb[..., 1]
    for i, mean in zip(table["label"], table["intensity_mean-photo-green"], strict=True):
        assert mean == pytest.approx(green[labels == i].mean())


def test_names_that_clean_to_the_same_stay_unique():
    labels = known_objects()
    image = np.ones(labels.shape)
    table = measure_objects(labels, {"a b": image, "a/b": image, "": image, "?": image})
    means = [c for c in table.columns if c.startswith("intensity_mean")]
    assert means == [
        "intensity_mean-a_b",
        "intensity_mean-a_b_2",
        "intensity_mean-image",
        "intensity_mean-image_2",
    ]


def test_bool_labels_and_array_likes():
    mask = np.zeros((20, 20), dtype=bool)
    mask[3:8, 4:9] = True

    class ArrayLike:  # what np.asarray makes of a dask or zarr array
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a

    table = measure_objects(ArrayLike(mask), {"x": ArrayLike(mask.astype(np.float32))})
    assert table["label"].tolist() == [1] and table["area"].tolist() == [25]
    assert table["intensity_mean-x"].tolist() == [1.0]


# ---------------------------------------------------------------------- validation


def _bad_inputs():
    good = known_objects()
    img = np.ones(good.shape)
    return [
        ("float", good.astype(np.float32), None, ["floating-point", "Segment"]),
        ("text", good.astype(str), None, ["integer object ids"]),
        ("1-D", good[0], None, ["1 dimensions", "2-D or 3-D"]),
        ("4-D", good[None, None], None, ["4 dimensions"]),
        ("empty", np.zeros_like(good), None, ["no objects"]),
        ("negative", good.astype(np.int32) - 5, None, ["negative", "-5"]),
        ("mismatch", good, {"x": np.ones((40, 51))}, ["(40, 51)", "(40, 50)"]),
        ("rgb 2 channels", good, {"x": np.ones((40, 50, 2))}, ["(40, 50, 2)"]),
        ("complex", good, {"x": img.astype(complex)}, ["numbers", "'x'"]),
        ("object", good, {"x": img.astype(object)}, ["numbers"]),
        ("not a mapping", good, [img], ["mapping"]),
    ]


@pytest.mark.parametrize("case", _bad_inputs(), ids=lambda c: c[0])
def test_invalid_inputs_raise_at_once_and_touch_nothing(case):
    _, labels, images, words = case
    before_labels = labels.copy()
    before_images = {k: v.copy() for k, v in images.items()} if isinstance(images, dict) else None
    result = None
    with pytest.raises(MeasureError) as err:
        result = measure_steps(labels, images)  # raised here, before any step runs
    assert result is None
    for word in words:
        assert word in str(err.value)
    with pytest.raises(MeasureError):
        measure_objects(labels, images)
    np.testing.assert_array_equal(labels, before_labels)
    if before_images:
        for k, v in before_images.items():
            np.testing.assert_array_equal(images[k], v)


def test_measuring_does_not_modify_the_inputs():
    labels = random_blobs((40, 40))
    image = np.random.default_rng(0).random((40, 40, 3))
    copies = labels.copy(), image.copy()
    measure_objects(labels, {"rgb": image})
    np.testing.assert_array_equal(labels, copies[0])
    np.testing.assert_array_equal(image, copies[1])
