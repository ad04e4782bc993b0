"""Every example runs in fast mode (``NAPARI_TSNE_FAST=1``) and writes its figures to a
temporary folder; plus the plotting helpers the examples use."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("[0-9]*.py"))
#: figures each example writes (when it does not skip)
EXPECTED = {
    "01_digits_parameters": [
        "digits_pca_vs_tsne.png",
        "digits_perplexity.png",
        "digits_exaggeration.png",
        "digits_learning_rate.png",
        "digits_iterations.png",
        "digits_methods.png",
    ],
    "02_sklearn_pipeline": ["pipeline_fashion_mnist.png"],
    "03_animation": [
        "digits_optimisation.gif",
        "digits_kl.png",
        "digits_q_matrix.gif",
        "digits_live_scatter.png",
    ],
    "04_large_data": ["fashion_mnist_large_data.png"],
    "05_word_vectors": ["word_vectors.png"],
    "06_napari_notebook": ["napari_notebook_result.png"],
}


def test_every_example_is_listed():
    assert [p.stem for p in EXAMPLES] == sorted(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_fast_mode(path, tmp_path):
    images = ROOT / "docs" / "images"
    before = {p.name: p.stat().st_mtime_ns for p in images.glob("*")} if images.is_dir() else {}
    out = tmp_path / "out"
    env = dict(os.environ, NAPARI_TSNE_FAST="1", NAPARI_TSNE_OUT=str(out), MPLBACKEND="Agg")
    # example 02 leaves pynndescent out in fast mode: compiling its numba code in a fresh
    # process alone takes 30-90 s on 2 cores
    proc = subprocess.run(
        [sys.executable, str(path), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if "SKIPPED:" in proc.stdout:
        pytest.skip(proc.stdout.strip().splitlines()[-1])
    if path.stem == "05_word_vectors":
        if importlib.util.find_spec("gensim") is not None:
            # the real word vectors, not the synthetic stand-in
            assert "word2vec on gensim" in proc.stdout and "SYNTHETIC" not in proc.stdout
        else:
            assert "SYNTHETIC" in proc.stdout
    for name in EXPECTED[path.stem]:
        f = out / name
        assert f.is_file() and f.stat().st_size > 1000, f"{path.name} did not write {name}"
    # the repository's figures are never touched by a test run
    after = {p.name: p.stat().st_mtime_ns for p in images.glob("*")} if images.is_dir() else {}
    assert after == before


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_a_jupytext_notebook(path):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 2 and kinds.count("code") >= 2
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


# ------------------------------------------------------------------ plotting helpers
def test_plotting_is_not_imported_with_the_package():
    code = (
        "import sys, napari_tsne, napari_tsne.plotting; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_scatter_categorical_and_continuous():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_tsne.plotting import is_categorical, scatter

    rng = np.random.default_rng(0)
    Y = rng.normal(size=(50, 2))
    ax = scatter(Y, np.array(["a", "b"] * 25), annotate=True)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"]
    ax = scatter(Y, np.arange(50) % 3, label_names=["zero", "one", "two"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["zero", "one", "two"]
    ax = scatter(Y, rng.normal(size=50), colorbar_label="value")
    assert ax.get_legend() is None and len(ax.figure.axes) == 2  # colour bar
    ax = scatter(Y[:, :1])  # 1-D map: jittered strip
    assert ax.collections[0].get_offsets().shape == (50, 2)
    assert is_categorical(np.arange(5)) and not is_categorical(rng.normal(size=5))
    with pytest.raises(ValueError, match="labels"):
        scatter(Y, np.arange(10))
    plt.close("all")


def test_frame_recorder_and_animate(tmp_path):
    from napari_tsne import TSNE
    from napari_tsne.plotting import FrameRecorder, animate

    X = np.random.default_rng(0).normal(size=(40, 5))
    rec = FrameRecorder(every=10)
    TSNE(
        perplexity=5,
        early_exaggeration_iter=20,
        n_iter=20,
        random_state=0,
        callbacks=rec,
        callback_every=5,
        n_jobs=1,
    ).fit(X)
    assert rec.iterations == [10, 20, 30, 40]
    assert all(f.shape == (40, 2) for f in rec.frames) and len(rec.kl) == 4
    assert not np.shares_memory(rec.frames[-1], rec.frames[-2])
    path = animate(rec, tmp_path / "run.gif", labels=np.arange(40) % 4, fps=5)
    assert path.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    with pytest.raises(ValueError, match=".gif or .mp4"):
        animate(rec, tmp_path / "run.avi")
    with pytest.raises(ValueError, match="no frames"):
        animate([], tmp_path / "empty.gif")
    small = FrameRecorder(every=1, max_frames=4)
    for i in range(1, 11):
        small(i, 0.0, np.zeros((3, 2)))
    assert len(small) <= 4


def test_live_scatter_updates_one_figure():
    import matplotlib

    matplotlib.use("Agg")
    from napari_tsne.plotting import LiveScatter

    live = LiveScatter(labels=np.arange(30) % 3, every=2, display=False)
    rng = np.random.default_rng(0)
    for i in range(4):
        live(i * 10, 1.0, rng.normal(size=(30, 2)))
    assert live.figure is not None and "iteration 20" in live.ax.get_title()
    live(40, 1.0, rng.normal(size=(10, 2)))  # fewer points (a subsample phase): no colours
    assert "iteration 40" in live.ax.get_title()
