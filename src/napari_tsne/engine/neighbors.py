"""k-nearest-neighbour graphs: faiss for dense data (exact, or an inverted-file index
for large data), pynndescent for sparse data and the other metrics, or read from a
precomputed distance matrix / sparse kNN graph.

``neighbors=``:

* ``"exact"``: brute force at any size. faiss's flat index for euclidean,
  sqeuclidean, cosine and correlation (sparse data densified); numba brute force for
  manhattan and chebyshev.
* ``"faiss"``: faiss IVF-Flat (approximate; dense data, the four faiss metrics), its
  ``nprobe`` calibrated on each data set to recall@k >= 0.99 (up to an exhaustive
  search).
* ``"pynndescent"``: pynndescent's NN-descent, any metric, dense or sparse. It
  compiles its search in every new process (~45 s).
* ``"auto"`` (default), from measured costs (docs/benchmarks.md, "Nearest
  neighbours"). Dense data with a faiss metric: exact while ``n < 20,000`` or
  ``n^2 d <= 70,000^2 * 50`` (Fashion-MNIST PCA-50: ~7 s on 2 cores); above that an
  IVF index, if its calibration reaches recall 0.99 searching at most 1/20 of the
  lists (where it is several times faster than exact search). Data without the
  cluster structure an inverted file needs (intrinsically high-dimensional) fall back
  to exact search while ``n^2 d <= 150,000^2 * 50``, and to pynndescent above. Sparse
  data and the other metrics: exact below :data:`EXACT_THRESHOLD` samples,
  pynndescent from there on.

The result is a :class:`KNNGraph` of fixed width ``k`` that the affinity code turns
into P, and which can be queried with new points (``transform``); it keeps the index
(faiss's, pynndescent's, or the data for numba brute force), so adding samples
searches the same index and compiles nothing. With "auto", a large batch of new
samples against a large exact index searches an inverted file of the same rows
instead (built and calibrated once per map, see :data:`QUERY_IVF_WORK`).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp

from ._faiss_knn import FAISS_METRICS, FaissIndex, ivf_lists
from ._threads import in_row_blocks, numba_threads, resolve_n_jobs
from ._validation import TSNEInputError, TSNEWarning, check_metric

#: searches of ``neighbors=`` (besides the aliases of pynndescent below)
NEIGHBOR_METHODS = ("auto", "exact", "faiss", "pynndescent")
_PYNNDESCENT_ALIASES = ("pynndescent", "approx", "nndescent")
#: "auto", sparse data or manhattan/chebyshev: exact search below this many samples
EXACT_THRESHOLD = 5000
#: "auto", dense data and a faiss metric: exact search below this many samples, or
#: while ``n * n * d <= FAISS_EXACT_WORK``; an IVF index is tried above
FAISS_EXACT_MIN = 20_000
FAISS_EXACT_WORK = 70_000**2 * 50
#: "auto" keeps the IVF index only if its calibration reaches its recall target with
#: ``nprobe <= nlist * IVF_MAX_FRACTION``
IVF_MAX_FRACTION = 1 / 20
#: ... and otherwise searches exactly while ``n * n * d <= FALLBACK_EXACT_WORK``, with
#: pynndescent above
FALLBACK_EXACT_WORK = 150_000**2 * 50
#: "auto": a batch of new samples (``transform``) whose exact search against a flat
#: index would cost ``n_new * n_ref * d`` at least this much (~0.3 s on 2 cores) is
#: searched in an inverted file of the reference instead (built once per map: for
#: 60,000 x 50 ~0.07 s plus ~0.1 s calibrating; 10,000 queries then take ~0.1 s instead
#: of ~0.6 s, at recall 0.99)
QUERY_IVF_WORK = 10_000_000_000


@dataclass
class KNNGraph:
    """The ``k`` nearest neighbours of every sample (self excluded)."""

    indices: np.ndarray  # (n, k) int32, sorted by distance
    distances: np.ndarray  # (n, k) float32
    metric: str
    #: the search that made it: "exact", "faiss", "pynndescent" or "precomputed"
    method: str
    #: a :class:`~napari_tsne.engine._faiss_knn.FaissIndex`, the pynndescent index,
    #: or the reference data (numba brute force); None if precomputed
    index: object | None = field(default=None, repr=False)
    #: the index holds ``(X - offset) * scale`` (see :func:`search_transform`); queries
    #: are mapped the same way and distances are reported in the data's own units
    offset: np.ndarray | None = field(default=None, repr=False)
    scale: float = 1.0
    #: "auto" chose this search: large batches of queries against a large flat (exact)
    #: index may then use an inverted file of the same rows (see :meth:`query`)
    auto: bool = False
    #: that inverted file, built and calibrated at the first such batch (False: its
    #: calibration failed, so queries stay exact); not pickled
    _query_ivf: object | None = field(default=None, repr=False, compare=False)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_query_ivf"] = None
        return state

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
        X_new = _apply_transform(X_new, self.offset, self.scale)
        if isinstance(self.index, FaissIndex):
            if sp.issparse(X_new):
                X_new = X_new.toarray()
            index = self._faiss_for(X_new.shape[0], k, n_jobs)
            idx, dist = index.query(X_new, k, n_jobs=n_jobs)
        elif isinstance(self.index, np.ndarray):  # numba brute force (or a 0.1 pickle)
            with numba_threads(n_jobs):
                idx, dist = exact_knn(self.index, k, self.metric, X_query=X_new)
        else:
            idx, dist = self.index.query(X_new, k=k)
        return idx.astype(np.int32), _unscale(dist, self.metric, self.scale)

    def _faiss_for(self, n_queries: int, k: int, n_jobs) -> FaissIndex:
        """The faiss index that answers ``n_queries`` queries: the map's own, or (with
        "auto", a flat index of at least :data:`FAISS_EXACT_MIN` rows and a batch whose
        exact search costs ``n_queries * n * d >= QUERY_IVF_WORK``) an inverted file of
        the same rows calibrated to recall 0.99 at ``k``, as for the map's own graph.
        The choice depends on the batch only, not on earlier queries."""
        index = self.index
        if (
            not self.auto
            or index.kind != "flat"
            or index.n < FAISS_EXACT_MIN
            or n_queries * index.n * index.d < QUERY_IVF_WORK
        ):
            return index
        with _QUERY_IVF_LOCK:
            if self._query_ivf is None:
                # half the lists of a self-graph's index: a batch is usually smaller
                # than the reference, so training the lists weighs more than probing
                nlist = max(1, ivf_lists(index.n) // 2)
                ivf = index.inverted_file(nlist, n_jobs=n_jobs, seed=0)
                largest = _auto_largest_nprobe(ivf)
                ok = ivf.calibrate(k, largest_nprobe=largest, seed=0, n_jobs=n_jobs)
                ivf.release()
                self._query_ivf = ivf if ok else False
        return self._query_ivf or index


#: builds of :attr:`KNNGraph._query_ivf` (a map may be extended from two threads)
_QUERY_IVF_LOCK = threading.Lock()


#: set once a pynndescent search has run in this process: pynndescent does not cache
#: its compiled functions on disk, so the first search of every process spends ~45 s
#: compiling them (later searches, of any size, do not)
_PYNNDESCENT_COMPILED = threading.Event()


def resolve_neighbors(
    method: str,
    n_samples: int,
    *,
    metric: str = "euclidean",
    sparse: bool = False,
    n_features: int = 50,
) -> str:
    """The search :func:`compute_neighbors` starts with for ``method``: "exact",
    "faiss" or "pynndescent" (see the module's docstring; with "auto", a "faiss"
    index whose calibration fails falls back to "exact" or "pynndescent"). Raises
    :class:`TSNEInputError` for an unknown method, or for "faiss" with data faiss
    cannot search."""
    if method in _PYNNDESCENT_ALIASES:
        return "pynndescent"
    if method not in NEIGHBOR_METHODS:
        raise TSNEInputError(
            f"Unknown neighbors method {method!r}; use 'auto', 'exact', 'faiss' or 'pynndescent'."
        )
    with_faiss = metric in FAISS_METRICS and not sparse
    if method == "faiss" and not with_faiss:
        what = "sparse data" if sparse else f"the {metric} metric"
        raise TSNEInputError(
            f"neighbors='faiss' cannot search {what} (faiss searches dense data with "
            f"{', '.join(FAISS_METRICS)}); use neighbors='pynndescent' or 'auto'"
            + (", or pass X.toarray()." if sparse else ".")
        )
    if method != "auto":
        return method
    if not with_faiss:
        return "exact" if n_samples < EXACT_THRESHOLD else "pynndescent"
    cheap = n_samples < FAISS_EXACT_MIN or n_samples**2 * n_features <= FAISS_EXACT_WORK
    return "exact" if cheap else "faiss"


def _auto_largest_nprobe(index: FaissIndex) -> int:
    """The most lists "auto" lets an IVF index search per query (:data:`IVF_MAX_FRACTION`
    of them): beyond that, exact search or pynndescent is cheaper."""
    return max(1, int(index.nlist * IVF_MAX_FRACTION))


def _fallback_notice(n: int, recall: float, nprobe: int, nlist: int) -> str:
    """What "auto" tells the user when an inverted file does not pay and pynndescent
    searches instead (a long search, and a compilation the front ends did not predict)."""
    compile_note = "" if pynndescent_compiled() else " (compiling it first: ~1 min per session)"
    return (
        f"neighbors='auto': an inverted-file index of these {n:,} samples finds only "
        f"{recall:.1%} of the true neighbours searching {nprobe} of its {nlist} lists "
        f"(target 99%): the data have too little cluster structure for it, so "
        f"pynndescent searches instead{compile_note}. neighbors='exact' gives exact "
        f"neighbours (slow at this size); neighbors='faiss' the inverted file with as "
        f"many lists searched as 99% needs."
    )


def _fallback(n_samples: int, n_features: int) -> str:
    """ "auto"'s search where an IVF index does not pay (see the module's docstring)."""
    return "exact" if n_samples**2 * n_features <= FALLBACK_EXACT_WORK else "pynndescent"


def uses_pynndescent(
    method: str, n_samples: int, *, metric: str = "euclidean", sparse: bool = False
) -> bool:
    """Whether :func:`compute_neighbors` with ``method`` searches ``n_samples`` points
    with pynndescent: explicitly, or ``auto`` with sparse data or a metric faiss does
    not search, from :data:`EXACT_THRESHOLD` points on. False for unknown methods and
    "precomputed", and for ``auto`` with dense data and a faiss metric -- which uses
    pynndescent only if the data turn out to have no structure an IVF index can use
    and are too large for exact search (decided during the search)."""
    if metric == "precomputed":
        return False
    try:
        return resolve_neighbors(method, n_samples, metric=metric, sparse=sparse) == "pynndescent"
    except TSNEInputError:
        return False


def pynndescent_compiled() -> bool:
    """True once pynndescent's search is compiled in this process (see above)."""
    return _PYNNDESCENT_COMPILED.is_set()


def compute_neighbors(
    X,
    n_neighbors: int,
    metric: str = "euclidean",
    method: str = "auto",
    random_state=None,
    n_jobs: int | None = None,
    verbose: bool = False,
) -> KNNGraph:
    """kNN graph of ``X`` with ``method`` in {"auto", "exact", "faiss", "pynndescent"}
    (see the module's docstring)."""
    metric = check_metric(metric)
    n = X.shape[0]
    k = int(min(n_neighbors, n - 1))
    offset, scale = search_transform(X, metric)
    Xs = _apply_transform(X, offset, scale)
    auto = method == "auto"
    method, index = _search_index(Xs, k, metric, method, random_state, n_jobs)
    if method == "pynndescent":
        graph = _pynndescent_knn(Xs, k, metric, random_state, n_jobs, verbose)
        graph.offset, graph.scale = offset, scale
    elif isinstance(index, FaissIndex):
        idx, dist = _drop_self(*index.self_graph(k, n_jobs=n_jobs), k)
        graph = KNNGraph(idx, dist, metric, method, index, offset, scale, auto)
    else:  # manhattan, chebyshev: numba brute force
        with numba_threads(n_jobs):
            idx, dist = exact_knn(index, k, metric)
        graph = KNNGraph(idx, dist, metric, method, index, offset, scale)
    graph.distances = _unscale(graph.distances, metric, scale)
    return graph


def _search_index(Xs, k: int, metric: str, method: str, random_state, n_jobs):
    """``(method, index)``: the search that runs and its index (None for pynndescent,
    whose index is built by its search). ``Xs`` is the transformed data."""
    n, d = Xs.shape
    requested = method
    method = resolve_neighbors(method, n, metric=metric, sparse=sp.issparse(Xs), n_features=d)
    if method == "pynndescent":
        return method, None
    Xd = Xs.toarray() if sp.issparse(Xs) else Xs
    if metric not in FAISS_METRICS:
        return method, np.ascontiguousarray(Xd, dtype=np.float32)
    seed = _seed(random_state)
    if method == "faiss":
        index = FaissIndex(Xd, metric, "ivf", n_jobs=n_jobs, seed=seed)
        largest = _auto_largest_nprobe(index) if requested == "auto" else None
        if index.calibrate(k + 1, largest_nprobe=largest, seed=seed, n_jobs=n_jobs):
            return method, index
        if requested != "auto":  # searched every list: exact, and said so
            return method, index
        recall, nprobe, nlist = index.recall, index.nprobe, index.nlist
        del index
        method = _fallback(n, d)
        if method == "pynndescent":
            warnings.warn(_fallback_notice(n, recall, nprobe, nlist), TSNEWarning, stacklevel=3)
            return method, None
    return method, FaissIndex(Xd, metric, "flat", n_jobs=n_jobs)


def reference_index(
    X,
    metric: str = "euclidean",
    method: str = "auto",
    random_state=None,
    n_jobs: int | None = None,
) -> KNNGraph:
    """A :class:`KNNGraph` of ``X`` for querying only (``transform`` into a saved map):
    the reference's own neighbours are not searched where the index does not need them
    (faiss and numba brute force); ``indices`` then lists each sample as its own
    neighbour. The search is chosen as by :func:`compute_neighbors` (for 15
    neighbours)."""
    metric = check_metric(metric)
    n = X.shape[0]
    k = min(15, n - 1)
    offset, scale = search_transform(X, metric)
    Xs = _apply_transform(X, offset, scale)
    auto = method == "auto"
    method, index = _search_index(Xs, k, metric, method, random_state, n_jobs)
    if method == "pynndescent":  # its index is built by searching the graph
        return compute_neighbors(X, k, metric, method, random_state, n_jobs)
    if isinstance(index, FaissIndex):
        index.release()
    self_idx = np.arange(n, dtype=np.int32).reshape(-1, 1)
    zeros = np.zeros((n, 1), np.float32)
    return KNNGraph(self_idx, zeros, metric, method, index, offset, scale, auto)


#: the search runs in float32: data whose largest magnitude lies outside this range is
#: first rescaled by a power of two (exact), so that squared differences neither
#: overflow (|x| > ~1e19) nor underflow (|x| < ~1e-19)
_SAFE_MAGNITUDE = (2.0**-32, 2.0**32)
#: metrics for which a shift of the data changes no distance
_SHIFT_INVARIANT = ("euclidean", "sqeuclidean", "manhattan", "chebyshev")


def search_transform(X, metric: str) -> tuple[np.ndarray | None, float]:
    """``(offset, scale)`` that make ``(X - offset) * scale`` safe to search in float32.

    Dense data far from the origin compared with its spread (e.g. timestamps) is
    centred first for shift-invariant metrics (in float32, ``1e8 + x`` keeps only
    ``x`` to the nearest 8); data of extreme magnitude is scaled by a power of two.
    Ordinary data gets ``(None, 1.0)``: nothing is changed.
    """
    offset = None
    if sp.issparse(X):
        values = X.data
    else:
        values = X
        if metric in _SHIFT_INVARIANT and X.size:
            mu = X.mean(axis=0, dtype=np.float64)
            spread = float(np.max(np.maximum(X.max(axis=0) - mu, mu - X.min(axis=0))))
            if float(np.abs(mu).max()) > 64.0 * spread:
                offset = mu
    if values.size == 0:
        return offset, 1.0
    if offset is None:
        top = max(abs(float(values.max())), abs(float(values.min())))
    else:
        top = float(np.max(np.maximum(values.max(axis=0) - offset, offset - values.min(axis=0))))
    scale = 1.0
    if top > 0 and not _SAFE_MAGNITUDE[0] <= top <= _SAFE_MAGNITUDE[1]:
        scale = float(2.0 ** -np.frexp(top)[1])
    return offset, scale


def _apply_transform(X, offset, scale):
    if offset is None and scale == 1.0:
        return X
    if sp.issparse(X):
        if offset is None:
            return sp.csr_matrix(X, dtype=np.float64) * scale
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    if offset is not None:
        X = X - offset
    return X * scale if scale != 1.0 else X


def _unscale(dist, metric: str, scale: float) -> np.ndarray:
    """Distances of the rescaled data back in the data's units (float32, finite)."""
    if scale == 1.0 or metric in ("cosine", "correlation"):
        return np.asarray(dist, dtype=np.float32)
    power = 2 if metric == "sqeuclidean" else 1
    dist = np.asarray(dist, dtype=np.float64)
    top = float(dist.max()) if dist.size else 0.0
    f32 = np.finfo(np.float32)
    if top > 0:
        log_top = np.log10(top) - power * np.log10(scale)  # may be out of float64's range
        if log_top > np.log10(f32.max):
            raise TSNEInputError(
                f"The {metric} distances between samples reach 1e{log_top:.0f}, beyond the "
                f"float32 range used for neighbour distances (up to {f32.max:.1e}). Divide "
                f"the data by a constant first."
            )
        if log_top < np.log10(f32.tiny):
            raise TSNEInputError(
                f"The {metric} distances between samples are at most 1e{log_top:.0f}, below "
                f"the float32 range used for neighbour distances (from {f32.tiny:.1e}). "
                f"Multiply the data by a constant first."
            )
    return (dist / scale**power).astype(np.float32)


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
    _PYNNDESCENT_COMPILED.set()
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


_TOO_LARGE_PRECOMPUTED = (
    f"The precomputed distance matrix has values beyond {np.finfo(np.float32).max:.1e}, "
    f"too large for float32; divide it by a constant first."
)


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
        with np.errstate(over="ignore"):
            data = D.data.astype(np.float32)
        if not np.isfinite(data).all():
            raise TSNEInputError(_TOO_LARGE_PRECOMPUTED)
        idx, dist, counts = _csr_rows_without_diagonal(D.indptr, D.indices, data)
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
                TSNEWarning,
                stacklevel=3,
            )
            k = min_count
        return KNNGraph(idx[:, :k].copy(), dist[:, :k].copy(), "precomputed", "precomputed")
    with np.errstate(over="ignore"):
        D = np.asarray(D, dtype=np.float32)
    if not np.isfinite(D).all():
        raise TSNEInputError(_TOO_LARGE_PRECOMPUTED)
    Dm = D.copy()
    np.fill_diagonal(Dm, np.inf)
    idx = np.argpartition(Dm, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(Dm, axis=1)[:, :k]
    d = np.take_along_axis(Dm, idx, axis=1)
    order = np.argsort(d, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1).astype(np.int32)
    d = np.take_along_axis(d, order, axis=1).astype(np.float32)
    return KNNGraph(idx, d, "precomputed", "precomputed")


def _csr_rows_without_diagonal(indptr, indices, data):
    counts = np.diff(indptr) - _diag_counts(indptr, indices)
    width = max(int(counts.max()), 1)
    n = len(indptr) - 1
    idx = np.zeros((n, width), dtype=np.int32)
    dist = np.full((n, width), np.inf, dtype=np.float32)
    in_row_blocks(_fill_sorted_rows, n, indptr, indices, data, idx, dist)
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


@numba.njit(nogil=True, cache=True)
def _fill_sorted_rows(indptr, indices, data, idx, dist, start, stop):
    """Rows ``start:stop`` of a CSR distance graph, sorted by distance, self dropped."""
    for i in range(start, stop):
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


# ---------------------------------------------------------------- exact search


def exact_knn(X, k: int, metric: str, X_query=None):
    """Brute-force kNN (query rows on threads). Excludes self when X_query is None."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    same = X_query is None
    Q = (
        X
        if same
        else np.ascontiguousarray(
            X_query.toarray() if sp.issparse(X_query) else X_query, dtype=np.float32
        )
    )
    if metric == "cosine":
        X = _unit_rows(X)
        Q = X if same else _unit_rows(Q)
    elif metric == "correlation":
        X = _unit_rows(X - X.mean(axis=1, keepdims=True))
        Q = X if same else _unit_rows(Q - Q.mean(axis=1, keepdims=True))
    code = {
        "euclidean": 0,
        "sqeuclidean": 0,
        "cosine": 0,
        "correlation": 0,
        "manhattan": 1,
        "chebyshev": 2,
    }[metric]
    nq = Q.shape[0]
    idx = np.empty((nq, k), dtype=np.int32)
    d = np.empty((nq, k), dtype=np.float64)
    in_row_blocks(_brute_knn, nq, X, Q, k, code, same, idx, d)
    if metric in ("euclidean",):
        d = np.sqrt(np.maximum(d, 0))
    elif metric in ("cosine", "correlation"):
        d = np.maximum(d, 0) / 2  # |a-b|^2 = 2 - 2 cos for unit vectors
    return idx, d.astype(np.float32)


def _unit_rows(X):
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return (X / norms).astype(np.float32)


@numba.njit(nogil=True, cache=True)
def _brute_knn(X, Q, k, code, same, idx, dist, start, stop):
    """Query rows ``start:stop``: the ``k`` nearest rows of ``X`` (squared euclidean,
    manhattan or chebyshev by ``code``), by distance."""
    n, d = X.shape
    row = np.empty(n, dtype=np.float64)
    for i in range(start, stop):
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


def _seed(random_state) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    return int(random_state)
