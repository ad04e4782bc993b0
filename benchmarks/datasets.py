"""Data sets for the benchmarks.

``load_fashion_mnist()`` reads the original IDX ``.gz`` files (Xiao et al. 2017) from
``$FASHION_MNIST_DIR`` or ``/usr/share/datasets/fashion-mnist``: 60,000 training and
10,000 test images of 28 x 28 pixels in 10 classes.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic ``0 0 dtype ndim``, big-endian
    uint32 dimensions, then the data in C order."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (magic {raw[:4]!r}).")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[dtype_code], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {np.prod(shape)} values, found {data.size}.")
    return data.reshape(shape).astype(data.dtype.newbyteorder("="), copy=False)


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
    d = Path(directory) if directory is not None else FASHION_MNIST_DIR
    parts = []
    for prefix in ("train", "t10k"):
        images = read_idx(d / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(d / f"{prefix}-labels-idx1-ubyte.gz")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{prefix}: {images.shape[0]} images but {labels.shape[0]} labels.")
        parts.append((images.reshape(images.shape[0], -1), labels))
    X = np.ascontiguousarray(np.concatenate([parts[0][0], parts[1][0]]))
    y = np.concatenate([parts[0][1], parts[1][1]])
    return X, y, Split(parts[0][0].shape[0], parts[1][0].shape[0])


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
