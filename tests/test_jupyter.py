"""The live jupyter-scatter map (``napari_tsne.jupyter.LiveMap``), checked through the
widget's own synced state (what the browser receives): the coordinates after the
engine's callbacks, the throttling, the held frame and camera, and the selection
read back as an obs column. Skipped without jupyter-scatter (``napari-tsne[jupyter]``).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("jscatter")
anndata = pytest.importorskip("anndata")

import napari_tsne  # noqa: E402
from napari_tsne import jupyter  # noqa: E402
from napari_tsne.jupyter import LiveMap  # noqa: E402


def cells(n=120, seed=0) -> anndata.AnnData:
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 3, n)
    X = (rng.normal(scale=5, size=(3, 10))[lab] + rng.normal(size=(n, 10))).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(np.array(["T", "B", "NK"])[lab])},
        index=[f"cell{i}" for i in range(n)],
    )
    return anndata.AnnData(X=X, obs=obs)


def ndc(values, lo, hi):
    """Where the browser draws a coordinate: the frame mapped to [-1, 1]."""
    return 2 * (np.asarray(values) - lo) / (hi - lo) - 1


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(jupyter.time, "monotonic", c)
    return c


def test_live_map_follows_a_tl_tsne_run():
    adata = cells()
    live = LiveMap(adata, color="cell_type", min_interval=0)
    seen = []
    napari_tsne.tl.tsne(
        adata,
        perplexity=10,
        early_exaggeration_iter=30,
        n_iter=40,
        n_jobs=1,
        callbacks=[live.callback, lambda it, kl, Y: seen.append(np.array(Y))],
        callback_every=10,
    )
    assert len(seen) >= 5 and live.n_drawn == len(seen) and live.n_skipped == 0
    last = seen[-1]
    w = live.scatter.widget
    # the scatter's data are the last coordinates the engine reported ...
    np.testing.assert_array_equal(live.scatter.x()["x"], last[:, 0])
    np.testing.assert_array_equal(live.scatter.y()["y"], last[:, 1])
    # ... and the browser gets them in the held frame, in the same row order
    (x0, x1), (y0, y1) = live.frame
    assert w.x_scale_domain == [x0, x1] and w.y_scale_domain == [y0, y1]
    np.testing.assert_allclose(w.points[:, 0], ndc(last[:, 0], x0, x1), atol=1e-6)
    np.testing.assert_allclose(w.points[:, 1], ndc(last[:, 1], y0, y1), atol=1e-6)
    assert np.abs(w.points[:, :2]).max() <= 1.0  # every point is inside the view
    # coloured by the obs column, as categories with a legend
    assert live.scatter.color()["by"] == "cell_type" and w.legend
    assert sorted(w.color_domain) == ["B", "NK", "T"]
    codes = {k: v for k, v in w.color_domain.items()}
    np.testing.assert_array_equal(w.points[:, 2], adata.obs["cell_type"].map(codes).to_numpy())


def test_updates_are_throttled_and_the_newest_is_kept(clock):
    live = LiveMap(50, min_interval=0.25)
    rng = np.random.default_rng(1)
    frames = [rng.normal(size=(50, 2)) for _ in range(17)]
    for i, Y in enumerate(frames):  # one call every 1/16 s for a second
        clock.now = 100.0 + i / 16
        live(i, 1.0, Y)
    assert live.n_drawn == 5  # at 0, 0.25, 0.5, 0.75 and 1 s
    assert live.n_skipped == 12
    np.testing.assert_array_equal(live.scatter.x()["x"], frames[16][:, 0])
    clock.now += 1 / 16
    live(17, 1.0, frames[0])  # throttled: kept back ...
    np.testing.assert_array_equal(live.scatter.x()["x"], frames[16][:, 0])
    live.flush()  # ... and drawn after the run
    np.testing.assert_array_equal(live.scatter.x()["x"], frames[0][:, 0])
    assert live.n_drawn == 6


def test_the_view_is_held_while_the_map_forms(clock):
    live = LiveMap(40, min_interval=0)
    w = live.scatter.widget
    base = np.random.default_rng(2).normal(size=(40, 2))
    live(10, 3.0, base)
    first = live.frame
    camera = (list(w.camera_target), w.camera_distance, w.zoom_to_call_idx)
    for scale in (1.05, 1.1, 0.9, 1.15):  # the map breathes inside its frame
        live(20, 2.0, base * scale)
        assert live.frame == first and w.x_scale_domain == list(first[0])
    assert live.n_frames == 1
    assert w.transition_points is False  # points move without animated transitions
    # the camera (the user's zoom and pan) is never moved from Python
    assert (list(w.camera_target), w.camera_distance, w.zoom_to_call_idx) == camera
    # the map grows out of its frame: a new frame holds every point
    live(30, 1.5, base * 3)
    assert live.n_frames == 2
    assert np.abs(w.points[:, :2]).max() <= 1.0
    # the map shrinks to a speck of its frame: a new, tighter frame
    live(40, 1.4, base * 0.1)
    assert live.n_frames == 3
    assert np.abs(w.points[:, :2]).max() > 0.5


def test_points_start_apart_before_the_first_iteration():
    # points all at one place hang the browser's renderer (seen in headless Chromium)
    live = LiveMap(30)
    points = live.scatter.widget.points[:, :2]
    assert len(np.unique(points, axis=0)) == 30


def test_calls_with_another_number_of_points_are_not_drawn():
    live = LiveMap(30, min_interval=0)
    live(1, 1.0, np.ones((10, 2)))  # e.g. the sample phase of subsample-and-extend
    assert live.n_drawn == 0 and live.n_skipped == 1
    with pytest.raises(ValueError, match=r"shape \(30, 2\)"):
        live.update(np.ones((10, 2)))


def test_selection_becomes_an_obs_column():
    adata = cells(60)
    live = LiveMap(adata, color="cell_type")
    status = live.widget.children[0]  # the line above the map, as displayed
    live.update(np.random.default_rng(3).normal(size=(60, 2)), iteration=500, kl=1.25)
    assert status.value == "t-SNE: iteration 500, KL 1.250"
    # what the browser's lasso leaves in the synced widget state
    live.scatter.widget.selection = np.array([3, 7, 11], dtype=np.uint32)
    np.testing.assert_array_equal(live.selection(), [3, 7, 11])
    assert status.value == "t-SNE: iteration 500, KL 1.250; 3 selected"
    col = live.selection_to_obs(adata, "lasso")
    assert col.dtype == bool and list(np.flatnonzero(adata.obs["lasso"])) == [3, 7, 11]
    assert list(adata.obs.index[adata.obs["lasso"]]) == ["cell3", "cell7", "cell11"]

    # an existing column is kept unless asked
    live.scatter.widget.selection = np.array([0], dtype=np.uint32)
    with pytest.raises(ValueError, match="already has a column 'lasso'"):
        live.selection_to_obs(adata, "lasso")
    assert adata.obs["lasso"].sum() == 3
    live.selection_to_obs(adata, "lasso", overwrite=True)
    assert list(np.flatnonzero(adata.obs["lasso"])) == [0]
    with pytest.raises(ValueError, match="has 50 observations; this map shows 60"):
        live.selection_to_obs(cells(50), "lasso")


def test_colour_by_a_gene_with_its_scale():
    """``LiveMap(adata, color=<gene>)``: the gene's values (a column of X) colour the
    points on a continuous scale whose range jupyter-scatter shows in its legend."""
    adata = cells(40)
    adata.var_names = [f"G{i}" for i in range(10)]
    live = LiveMap(adata, color="G3")
    np.testing.assert_array_equal(live.scatter._data["G3"].to_numpy(), adata.X[:, 3])
    assert live.scatter.color()["by"] == "G3"
    assert live.scatter.widget.legend and live.scatter.widget.color_scale == "linear"
    with pytest.raises(KeyError, match="Did you mean 'G3'"):
        LiveMap(adata, color="g3x")


def test_bad_arguments():
    with pytest.raises(KeyError, match="Could not find key 'celltype'.*'cell_type'"):
        LiveMap(cells(20), color="celltype")
    with pytest.raises(TypeError, match="takes an AnnData"):
        LiveMap("cells")
    with pytest.raises(ValueError, match="min_interval"):
        LiveMap(10, min_interval=-1)


def test_missing_jupyter_scatter_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jscatter", None)
    with pytest.raises(ImportError, match=r"napari-tsne\[jupyter\]"):
        LiveMap(10)


def test_the_package_import_stays_light():
    code = (
        "import sys, napari_tsne; "
        "assert 'jscatter' not in sys.modules and 'napari' not in sys.modules; "
        "napari_tsne.view; assert 'napari' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
