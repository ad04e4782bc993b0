"""Data sets for the benchmarks.

``load_fashion_mnist()`` reads the original IDX ``.gz`` files (Xiao et al. 2017) from
``$FASHION_MNIST_DIR`` or ``/usr/share/datasets/fashion-mnist``: 60,000 training and
10,000 test images of 28 x 28 pixels in 10 classes. The reading is done by
:mod:`napari_tsne.io.idx`, shared with the napari sample and the examples; this module
only reshapes it into the flat ``(X, y, split)`` form the benchmarks use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the one Fashion-MNIST/IDX reader of the project; re-exported for old imports
from napari_tsne.io.idx import FASHION_MNIST_CLASSES, read_idx  # noqa: F401
from napari_tsne.io.idx import load_fashion_mnist as _load_all


@dataclass(frozen=True)
class Split:
    """Rows ``[0, n_train)`` are the official training set, the rest the test set."""

    n_train: int
    n_test: int

    @property
    def train(self) -> slice:
        return slice(0, self.n_train)

    @property
    def test(self) -> slice:
        return slice(self.n_train, self.n_train + self.n_test)


def load_fashion_mnist(directory: str | Path | None = None):
    """Fashion-MNIST as ``(X, y, split)``: ``X`` uint8 (70000, 784) (flattened images,
    training images first), ``y`` uint8 (70000,) class labels 0-9, and ``split`` (a
    :class:`Split`; ``X[split.train]``, ``X[split.test]``)."""
    data = _load_all(directory)
    n_train, n_test = len(data.train_images), len(data.test_images)
    X = np.concatenate(
        [data.train_images.reshape(n_train, -1), data.test_images.reshape(n_test, -1)]
    )
    y = np.concatenate([data.train_labels, data.test_labels])
    return X, y, Split(n_train, n_test)


def pca(X: np.ndarray, n_components: int = 50, fit_rows=None) -> np.ndarray:
    """Project ``X`` (float) onto the top principal components of ``X[fit_rows]``
    (all rows by default), so several tools can share one preprocessing."""
    X = np.asarray(X, dtype=np.float64)
    F = X if fit_rows is None else X[fit_rows]
    mu = F.mean(axis=0)
    evals, evecs = np.linalg.eigh((F - mu).T @ (F - mu))
    V = evecs[:, ::-1][:, :n_components]
    Z = (X - mu) @ V
    # deterministic signs: largest entry of each component positive
    signs = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
    signs[signs == 0] = 1
    return np.ascontiguousarray(Z * signs, dtype=np.float32)
