"""``napari-tsne demo``: a t-SNE map of the handwritten digits.

With a display, napari opens with the t-SNE widget docked and the digits sample
loaded, and a run starts (the map is drawn live). Headless (``headless=True`` or
no display), the same job runs without a window: progress is printed, and the
coordinates are saved as an ``.h5ad`` file plus a PNG scatter plot.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._options import EMBED_OPTIONS

__all__ = ["run_demo", "demo_headless", "display_available"]

#: the demo runs the schedule every front end defaults to
_DEFAULTS = {o.name: o.default for o in EMBED_OPTIONS}


def display_available() -> bool:
    """Whether a window can be opened (X11/Wayland on Linux; always elsewhere)."""
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run_demo(
    headless: bool = False,
    output_dir: str | os.PathLike[str] = "napari-tsne-demo",
    *,
    n_samples: int | None = None,
    n_iter: int = _DEFAULTS["n_iter"],
    early_exaggeration_iter: int = _DEFAULTS["early_exaggeration_iter"],
    n_jobs: int | None = None,
    random_state: int = 42,
    block: bool = True,
    quiet: bool = False,
    close_when_done: bool = False,
    screenshot: str | os.PathLike[str] | None = None,
) -> int:
    """Run the digits demo (see the module docstring); returns an exit status.

    Headless, the results go into *output_dir* (created if needed):
    ``digits_tsne.h5ad`` and ``digits_tsne.png``; 1 is returned (with a message on
    stderr) if they cannot be written. With a window, napari runs until it is
    closed (``block=True``), or until the run has ended with ``close_when_done`` or a
    ``screenshot`` path (a PNG of the window saved then; 1 is returned if the run
    failed). ``n_samples`` uses only the first digits (a quick look).
    Use :func:`demo_headless` to get the coordinates back in Python.
    """
    job = dict(
        n_samples=n_samples,
        n_iter=n_iter,
        early_exaggeration_iter=early_exaggeration_iter,
        n_jobs=n_jobs,
        random_state=random_state,
    )
    if headless or not display_available():
        if not headless and not quiet:
            print("[napari-tsne] no display found: running the demo without a window.", flush=True)
        try:
            demo_headless(output_dir, quiet=quiet, **job)
        except (OSError, ValueError, RuntimeError, ImportError) as err:
            print(f"napari-tsne demo: error: {err}", file=sys.stderr, flush=True)
            return 1
        return 0
    return _run_gui(
        block=block,
        close_when_done=close_when_done or screenshot is not None,
        screenshot=screenshot,
        **job,
    )


# ------------------------------------------------------------------------ headless


def demo_headless(
    output_dir: str | os.PathLike[str] = "napari-tsne-demo",
    *,
    n_samples: int | None = None,
    n_iter: int = _DEFAULTS["n_iter"],
    early_exaggeration_iter: int = _DEFAULTS["early_exaggeration_iter"],
    n_jobs: int | None = None,
    random_state: int = 42,
    quiet: bool = False,
) -> dict[str, Any]:
    """The demo without a window: prints progress, writes ``digits_tsne.h5ad`` and
    ``digits_tsne.png`` into *output_dir* (created if needed) and returns a dict with
    their paths (``h5ad``, ``png``), ``coordinates`` and ``kl_divergence``."""
    import anndata
    import pandas as pd

    from ..engine import TSNE, LiveValues
    from ..io import write_embedding
    from .sample_data import load_digits_arrays

    def say(text: str) -> None:
        if not quiet:
            print(f"[napari-tsne] {text}", flush=True)

    output_dir = Path(output_dir).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(f"{output_dir} is a file, not a folder.")
    output_dir.mkdir(parents=True, exist_ok=True)
    images, labels = load_digits_arrays()
    if n_samples is not None:
        images, labels = images[:n_samples], labels[:n_samples]
    X = images.reshape(len(images), -1).astype(np.float64)
    say(f"t-SNE of {X.shape[0]} handwritten digits ({X.shape[1]} pixels each)")
    params = dict(
        n_iter=int(n_iter),
        early_exaggeration_iter=int(early_exaggeration_iter),
        random_state=random_state,
        n_jobs=n_jobs,
    )
    run = TSNE(**params).job(X, live=LiveValues(exaggeration=1.0, update_interval=10))
    t0 = time.perf_counter()
    last_print = -1
    for update in run.steps():
        if update.kind == "stage":
            say(update.text)
        elif update.iteration // 50 != last_print // 50 or update.done == update.total:
            last_print = update.iteration
            say(
                f"{update.phase}: iteration {update.iteration}/{update.total}, "
                f"KL divergence {update.kl:.4f}"
            )
    coords = np.array(run.emb.coordinates)
    say(f"finished in {time.perf_counter() - t0:.1f} s, KL divergence {run.emb.kl_divergence:.4f}")

    obs = pd.DataFrame(
        {"label": pd.Categorical(labels.astype(str))},
        index=[f"digit_{i}" for i in range(len(labels))],
    )
    adata = anndata.AnnData(X=X.astype(np.float32), obs=obs)
    h5ad = output_dir / "digits_tsne.h5ad"
    if h5ad.is_file():  # a previous demo output: replace it
        h5ad.unlink()
    write_embedding(h5ad, coords, params=run.result_params(), adata=adata)
    png = output_dir / "digits_tsne.png"
    _scatter_png(png, coords, labels)
    say(f"wrote {h5ad} and {png}")
    return {
        "h5ad": h5ad,
        "png": png,
        "coordinates": coords,
        "kl_divergence": float(run.emb.kl_divergence),
    }


def _scatter_png(path: Path, coords: np.ndarray, labels: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 6), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab10"]
    for lab in np.unique(labels):
        m = labels == lab
        ax.scatter(coords[m, 0], coords[m, 1], s=4, color=cmap(int(lab) % 10), label=str(lab))
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("t-SNE of the handwritten digits")
    ax.legend(markerscale=3, fontsize=8, loc="upper right", title="digit")
    fig.tight_layout()
    fig.savefig(path)


# ----------------------------------------------------------------------------- GUI


def _run_gui(*, block=True, close_when_done=False, screenshot=None, **job) -> int:
    """Open napari with the widget and start the run; returns the exit status (after
    the window has closed when ``block``)."""
    import napari

    viewer, widget = _open_gui(**job)
    outcome = {"status": 0}
    if close_when_done:
        _close_after_run(viewer, widget, screenshot, outcome)
    if block:
        napari.run()
    return outcome["status"]


def _open_gui(*, n_samples, n_iter, early_exaggeration_iter, n_jobs, random_state):
    """A viewer with the digits loaded and the widget docked, its run started."""
    import napari

    viewer = napari.Viewer(title="napari-tsne demo")
    layers = viewer.open_sample("napari-tsne", "digits")
    image = layers[0]
    if n_samples is not None:
        image.data = image.data[:n_samples]
        feats = image.metadata.get("features")
        if feats is not None:
            image.metadata["features"] = feats.iloc[:n_samples]
        image.metadata["labels"] = image.metadata["labels"][:n_samples]
    # as the Plugins menu opens it; the map gets its own canvas beside the digits
    _, widget = viewer.window.add_plugin_dock_widget("napari-tsne", "t-SNE map")
    widget.source.value = image
    widget.n_iter.value = int(n_iter)
    widget.early_exaggeration_iter.value = int(early_exaggeration_iter)
    widget.seed.value = int(random_state)
    if n_jobs:
        widget.n_jobs.value = int(n_jobs)
    widget.run()
    return viewer, widget


def _close_after_run(viewer, widget, screenshot, outcome: dict) -> None:
    """Poll the widget until its run has ended; then save the screenshot (if asked),
    print the result and close the viewer."""
    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.setInterval(250)

    def check():
        if widget.is_running:
            return
        timer.stop()
        status = widget.status.value
        failed = not status.startswith("done")
        if screenshot is not None:
            path = Path(screenshot).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            viewer.screenshot(str(path), canvas_only=False, flash=False)
            print(f"[napari-tsne] saved a screenshot of the window to {path}", flush=True)
        print(f"[napari-tsne] {status}", flush=True)
        outcome["status"] = 1 if failed else 0
        outcome["text"] = status
        viewer.close()

    timer.timeout.connect(check)
    timer.start()
    outcome["timer"] = timer  # keep it alive while napari runs
