"""Shared helpers of the examples (not an example itself).

* ``FAST``: ``NAPARI_TSNE_FAST=1`` makes every example small and quick (the test
  suite runs them that way); the figures in ``docs/images`` come from full runs.
* ``out_dir()``: where figures go: ``--out DIR`` on the command line, else
  ``$NAPARI_TSNE_OUT``, else ``docs/images`` of this repository.
* ``load_fashion_mnist()``: the Fashion-MNIST IDX files from ``$FASHION_MNIST_DIR`` or
  ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``), or
  None if they are not there (the examples then stop with a message).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# the shared loader of the package (class names re-exported for the examples)
from napari_tsne.io.idx import (
    FASHION_MNIST_CLASSES,  # noqa: F401
    fashion_mnist_available,
)
from napari_tsne.io.idx import load_fashion_mnist as _load_all

FAST = os.environ.get("NAPARI_TSNE_FAST", "") not in ("", "0")
IN_NOTEBOOK = "ipykernel" in sys.modules

if not IN_NOTEBOOK:
    import matplotlib

    matplotlib.use("Agg")


def _repo_root() -> Path:
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    return here.parent


def out_dir() -> Path:
    """The folder figures are written to (created if needed)."""
    argv = sys.argv[1:] if not IN_NOTEBOOK else []
    path = None
    for i, arg in enumerate(argv):
        if arg == "--out" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--out="):
            path = arg.split("=", 1)[1]
    if path is None:
        path = os.environ.get("NAPARI_TSNE_OUT") or _repo_root() / "docs" / "images"
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def savefig(fig, name: str, dpi: int = 90) -> Path:
    """Save a matplotlib figure under :func:`out_dir` and show it in a notebook."""
    import matplotlib.pyplot as plt

    path = out_dir() / name
    fig.savefig(path, dpi=dpi)
    print(f"wrote {path}")
    if not IN_NOTEBOOK:
        plt.close(fig)
    return path


class Timer:
    """Collects named wall-clock timings: ``with timer("name"): ...``."""

    def __init__(self):
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        yield
        self.times[name] = time.perf_counter() - t0
        print(f"{name}: {self.times[name]:.1f} s")

    def table(self, header: str = "run") -> str:
        """The timings as a Markdown table."""
        lines = [f"| {header} | time (s) |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.1f} |" for k, v in self.times.items()]
        return "\n".join(lines)


def load_fashion_mnist():
    """``(X, y)``: 70,000 images as uint8 rows of 784 pixels and their labels 0-9, or
    None when the files are not installed (read by :mod:`napari_tsne.io.idx`)."""
    if not fashion_mnist_available():
        return None
    data = _load_all()
    X = np.concatenate(
        [
            data.train_images.reshape(len(data.train_images), -1),
            data.test_images.reshape(len(data.test_images), -1),
        ]
    )
    y = np.concatenate([data.train_labels, data.test_labels])
    return X, y


def skip(reason: str) -> None:
    """Stop the example cleanly (exit status 0) with a message."""
    print(f"SKIPPED: {reason}")
    if IN_NOTEBOOK:
        raise RuntimeError(reason)
    sys.exit(0)
