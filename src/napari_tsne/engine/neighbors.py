"""k-nearest-neighbour graphs: exact (numba brute force), approximate (pynndescent)
or read from a precomputed distance matrix / sparse kNN graph.

The result is a :class:`KNNGraph` of fixed width ``k`` that the affinity code turns
into P, and which can be queried with new points (``transform``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp
from numba import prange

from ._threads import numba_threads, resolve_n_jobs
from ._validation import TSNEInputError, check_metric

#: Below this many samples "auto" uses exact search.
EXACT_THRESHOLD = 5000


@dataclass
class KNNGraph:
    """The ``k`` nearest neighbours of every sample (self excluded)."""

    indices: np.ndarray  # (n, k) int32, sorted by distance
    distances: np.ndarray  # (n, k) float32
    metric: str
    method: str
    #: reference data (exact) or the pynndescent index (approximate); None if precomputed
    index: object | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return self.indices.shape[0]

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    def query(self, X_new, k: int, n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Find the ``k`` nearest reference samples of each row of ``X_new``."""
        if self.index is None:
            raise TSNEInputError(
                "This map was built from precomputed distances, so new samples cannot be "
                "searched; pass their distances to the reference samples instead."
            )
        k = min(k, self.n_samples)
        if self.method == "exact":
            with numba_threads(n_jobs):
                return exact_knn(self.index, k, self.metric, X_query=X_new)
        idx, dist = self.index.query(X_new, k=k)
        return idx.astype(np.int32), dist.astype(np.float32)


def compute_neighbors(
    X,
    n_neighbors: int,
    metric: str = "euclidean",
    method: str = "auto",
    random_state=None,
    n_jobs: int | None = None,
    verbose: bool = False,
) -> KNNGraph:
    """kNN graph of ``X`` with ``method`` in {"auto", "exact", "pynndescent"}."""
    metric = check_metric(metric)
    n = X.shape[0]
    k = int(min(n_neighbors, n - 1))
    if method == "auto":
        method = "exact" if n < EXACT_THRESHOLD else "pynndescent"
    if method == "exact":
        Xd = X.toarray() if sp.issparse(X) else X
        Xd = np.ascontiguousarray(Xd, dtype=np.float32)
        with numba_threads(n_jobs):
            idx, dist = exact_knn(Xd, k, metric)
        return KNNGraph(idx, dist, metric, "exact", Xd)
    if method in ("pynndescent", "approx", "nndescent"):
        return _pynndescent_knn(X, k, metric, random_state, n_jobs, verbose)
    raise TSNEInputError(
        f"Unknown neighbors method {method!r}; use 'auto', 'exact' or 'pynndescent'."
    )


def _pynndescent_knn(X, k, metric, random_state, n_jobs, verbose) -> KNNGraph:
    from pynndescent import NNDescent

    seed = _seed(random_state)
    n = X.shape[0]
    # Settings that scale (as recommended by pynndescent for large n).
    n_trees = min(64, 5 + int(round((n**0.5) / 20.0)))
    n_iters = max(5, int(round(np.log2(n))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        index = NNDescent(
            X,
            n_neighbors=k + 1,
            metric=metric,
            n_trees=n_trees,
            n_iters=n_iters,
            max_candidates=60,
            random_state=seed,
            n_jobs=resolve_n_jobs(n_jobs),
            low_memory=True,
            verbose=verbose,
            compressed=False,
        )
    idx, dist = index.neighbor_graph
    idx, dist = _drop_self(idx, dist, k)
    return KNNGraph(idx, dist, metric, "pynndescent", index)


def _drop_self(idx: np.ndarray, dist: np.ndarray, k: int):
    """Remove each row's own index from a (n, k+1) neighbour list, keeping k columns."""
    n = idx.shape[0]
    is_self = idx == np.arange(n)[:, None]
    out_i = np.empty((n, k), dtype=np.int32)
    out_d = np.empty((n, k), dtype=np.float32)
    has_self = is_self.any(axis=1)
    # rows with self: drop that column; rows without self: drop the last column
    keep = ~is_self
    keep[~has_self, -1] = False
    out_i[:] = idx[keep].reshape(n, k)
    out_d[:] = dist[keep].reshape(n, k)
    return out_i, out_d


def neighbors_from_precomputed(D, n_neighbors: int) -> KNNGraph:
    """kNN graph from a dense square distance matrix or a sparse kNN distance graph.

    A sparse graph such as scikit-learn's ``KNeighborsTransformer(mode="distance")``
    output is read row by row: stored entries are the neighbours (explicit zeros
    included, the diagonal excluded). If rows hold fewer than ``n_neighbors`` entries,
    the smallest row count is used and a warning says so.
    """
    n = D.shape[0]
    k = int(min(n_neighbors, n - 1))
    if sp.issparse(D):
        D = sp.csr_matrix(D)
        D.sort_indices()
        idx, dist, counts = _csr_rows_without_diagonal(D.indptr, D.indices, D.data.astype(np.float32))
        min_count = int(counts.min())
        if min_count < 1:
            raise TSNEInputError(
                "A row of the precomputed kNN graph has no neighbours; every sample needs at "
                "least one stored distance to another sample."
            )
        if min_count < k:
            warnings.warn(
                f"The precomputed kNN graph has only {min_count} neighbours in some rows; "
                f"perplexity-based affinities want {k}. Using {min_count}. Build the graph "
                f"with more neighbours (e.g. KNeighborsTransformer(n_neighbors={k})).",
                UserWarning,
                stacklevel=3,
            )
            k = min_count
        return KNNGraph(idx[:, :k].copy(), dist[:, :k].copy(), "precomputed", "precomputed")
    D = np.asarray(D, dtype=np.float32)
    Dm = D.copy()
    np.fill_diagonal(Dm, np.inf)
    idx = np.argpartition(Dm, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(Dm, axis=1)[:, :k]
    d = np.take_along_axis(Dm, idx, axis=1)
    order = np.argsort(d, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1).astype(np.int32)
    d = np.take_along_axis(d, order, axis=1).astype(np.float32)
    return KNNGraph(idx, d, "precomputed", "precomputed")


def _csr_rows_without_diagonal(indptr, indices, data):
    n = len(indptr) - 1
    counts = np.diff(indptr) - _diag_counts(indptr, indices)
    width = max(int(counts.max()), 1)
    idx, dist = _fill_sorted_rows(indptr, indices, data, width)
    return idx, dist, counts


@numba.njit(nogil=True, cache=True)
def _diag_counts(indptr, indices):
    n = len(indptr) - 1
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] == i:
                out[i] += 1
    return out


@numba.njit(nogil=True, cache=True, parallel=True)
def _fill_sorted_rows(indptr, indices, data, width):
    n = len(indptr) - 1
    idx = np.zeros((n, width), dtype=np.int32)
    dist = np.full((n, width), np.inf, dtype=np.float32)
    for i in prange(n):
        start, stop = indptr[i], indptr[i + 1]
        row_d = data[start:stop]
        row_i = indices[start:stop]
        order = np.argsort(row_d, kind="mergesort")
        c = 0
        for o in order:
            j = row_i[o]
            if j == i:
                continue
            idx[i, c] = j
            dist[i, c] = row_d[o]
            c += 1
    return idx, dist


# ---------------------------------------------------------------- exact search


def exact_knn(X, k: int, metric: str, X_query=None):
    """Brute-force kNN (parallel over query rows). Excludes self when X_query is None."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    same = X_query is None
    Q = X if same else np.ascontiguousarray(
        X_query.toarray() if sp.issparse(X_query) else X_query, dtype=np.float32
    )
    if metric == "cosine":
        X = _unit_rows(X)
        Q = X if same else _unit_rows(Q)
    elif metric == "correlation":
        X = _unit_rows(X - X.mean(axis=1, keepdims=True))
        Q = X if same else _unit_rows(Q - Q.mean(axis=1, keepdims=True))
    code = {"euclidean": 0, "sqeuclidean": 0, "cosine": 0, "correlation": 0,
            "manhattan": 1, "chebyshev": 2}[metric]
    idx, d = _brute_knn(X, Q, k, code, same)
    if metric in ("euclidean",):
        d = np.sqrt(np.maximum(d, 0))
    elif metric in ("cosine", "correlation"):
        d = np.maximum(d, 0) / 2  # |a-b|^2 = 2 - 2 cos for unit vectors
    return idx, d.astype(np.float32)


def _unit_rows(X):
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return (X / norms).astype(np.float32)


@numba.njit(nogil=True, cache=True, parallel=True)
def _brute_knn(X, Q, k, code, same):
    nq = Q.shape[0]
    n, d = X.shape
    idx = np.empty((nq, k), dtype=np.int32)
    dist = np.empty((nq, k), dtype=np.float64)
    for i in prange(nq):
        row = np.empty(n, dtype=np.float64)
        for j in range(n):
            s = 0.0
            if code == 0:
                for f in range(d):
                    t = Q[i, f] - X[j, f]
                    s += t * t
            elif code == 1:
                for f in range(d):
                    s += abs(Q[i, f] - X[j, f])
            else:
                for f in range(d):
                    t = abs(Q[i, f] - X[j, f])
                    if t > s:
                        s = t
            row[j] = s
        if same:
            row[i] = np.inf
        order = np.argsort(row, kind="mergesort")
        for c in range(k):
            idx[i, c] = order[c]
            dist[i, c] = row[order[c]]
    return idx, dist


def _seed(random_state) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    return int(random_state)
