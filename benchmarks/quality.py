"""Quality measures of a map shared by the benchmarks."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def knn_indices(Z: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k nearest other rows (exact)."""
    idx = NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z, return_distance=False)
    return idx[:, 1:]


def knn_loo_accuracy(Y: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Leave-one-out k-NN accuracy: each point's label by majority of its k nearest others."""
    votes = np.asarray(y)[knn_indices(Y, k)]
    n_classes = int(np.max(y)) + 1
    counts = np.zeros((len(y), n_classes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(y)), k), votes.ravel()), 1)
    return float(np.mean(counts.argmax(axis=1) == y))


def knn_recall(
    X: np.ndarray, Y: np.ndarray, k: int = 10, n_eval: int = 10_000, seed: int = 0
) -> float:
    """Fraction of each point's k nearest neighbours in X that are also among its k
    nearest in the map Y (averaged over up to ``n_eval`` random points)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), size=min(n_eval, len(X)), replace=False)
    nx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X[rows], return_distance=False)
    ny = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y[rows], return_distance=False)
    hits = [len(set(a[1:]) & set(b[1:])) for a, b in zip(nx, ny, strict=True)]
    return float(np.mean(hits) / k)
