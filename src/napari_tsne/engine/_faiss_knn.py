"""Neighbour search of dense data with faiss: exact (a flat index) or an inverted-file
index (IVF-Flat) for large data. faiss is compiled ahead of time, so nothing is
compiled per process (pynndescent spends ~45 s compiling in every new process).

Metrics: euclidean and squared euclidean search the rows directly (centred on the
reference mean, which changes no distance and keeps float32 accurate); cosine searches
unit rows and correlation centred unit rows, for which ``|a - b|^2 / 2`` is the cosine
distance. faiss ranks candidates by ``|x|^2 + |y|^2 - 2 x.y`` in float32; the distances
of the candidates it returns are then recomputed as sums of squared differences in
float64 and the rows re-sorted, so exact search gives brute force's distances (up to
float32 rounding of the data) and duplicates have distance 0.

faiss is imported only when a search runs; its OpenMP threads follow ``n_jobs`` and
are restored afterwards. The index pickles (as faiss's own serialisation).
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np

from ._threads import in_row_blocks, resolve_n_jobs

#: metrics searched with faiss (dense data only)
FAISS_METRICS = ("euclidean", "sqeuclidean", "cosine", "correlation")

#: IVF lists: ``nlist = IVF_LISTS_PER_SQRT_N * sqrt(n)`` (at least 1, and at least
#: :data:`IVF_MIN_LIST_SIZE` points per list on average)
IVF_LISTS_PER_SQRT_N = 2.0
IVF_MIN_LIST_SIZE = 39
#: lists searched per query before calibration (:meth:`FaissIndex.calibrate` raises it
#: along :func:`nprobe_ladder` until the measured recall reaches its target)
IVF_NPROBE = 8
#: recall@k that the calibration sample must reach (the mean over its queries)
IVF_TARGET_RECALL = 0.99
#: queries of the calibration sample (their exact neighbours cost ``m * n * d``)
IVF_CALIBRATION_QUERIES = 500
#: the coarse quantiser is trained on this many points per list (a random sample)
IVF_TRAIN_PER_LIST = 64

#: queries are searched in blocks of this many rows (bounds the temporary arrays)
_BLOCK = 32768


@contextlib.contextmanager
def faiss_threads(n_jobs: int | None):
    """Run the body with faiss's OpenMP threads set from ``n_jobs`` (then restored);
    yields the faiss module."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(resolve_n_jobs(n_jobs))
    try:
        yield faiss
    finally:
        faiss.omp_set_num_threads(previous)


def nprobe_ladder(nlist: int, largest: int | None = None) -> list[int]:
    """``nprobe`` values tried by the calibration: 8, 12, 16, 24, 32, 48, ... up to
    ``largest`` (default ``nlist``, where the search is exhaustive), ``largest`` included."""
    largest = nlist if largest is None else max(1, min(int(largest), nlist))
    out, p, half_step = [], IVF_NPROBE, True
    while p < largest:
        out.append(p)
        p, half_step = (p * 3 // 2 if half_step else p * 4 // 3), not half_step
    return [*out, largest]


def ivf_lists(n: int) -> int:
    """Number of IVF lists for ``n`` reference points."""
    nlist = int(round(IVF_LISTS_PER_SQRT_N * np.sqrt(n)))
    return max(1, min(nlist, n // IVF_MIN_LIST_SIZE))


class FaissIndex:
    """A faiss index of reference data, queried with :meth:`query`.

    ``kind`` is ``"flat"`` (exact) or ``"ivf"`` (approximate: IVF-Flat with
    ``nprobe`` lists searched per query). The data given to the constructor and to
    :meth:`query` are in the same units; rows are prepared for the metric here.
    """

    def __init__(
        self,
        X: np.ndarray,
        metric: str,
        kind: str = "flat",
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        n_jobs: int | None = None,
        seed: int | None = None,
    ):
        if metric not in FAISS_METRICS:
            raise ValueError(f"faiss search does not support metric {metric!r}")
        if kind not in ("flat", "ivf"):
            raise ValueError(f"unknown faiss index kind {kind!r}")
        X = np.asarray(X)
        self.metric = metric
        self.centre = (
            X.mean(axis=0, dtype=np.float64) if metric in ("euclidean", "sqeuclidean") else None
        )
        self._build(self.prepare(X), kind, nlist, nprobe, n_jobs, seed)

    def _build(self, Xp: np.ndarray, kind: str, nlist, nprobe, n_jobs, seed) -> None:
        """Index the prepared rows ``Xp`` (see :meth:`prepare`)."""
        self.kind = kind
        self.n, self.d = Xp.shape
        with faiss_threads(n_jobs) as faiss:
            if kind == "flat":
                self.nlist = self.nprobe = 1
                self._index = faiss.IndexFlatL2(self.d)
            else:
                self.nlist = int(nlist) if nlist is not None else ivf_lists(self.n)
                self.nlist = max(1, min(self.nlist, self.n))
                self.nprobe = max(1, min(int(nprobe or IVF_NPROBE), self.nlist))
                quantizer = faiss.IndexFlatL2(self.d)
                index = faiss.IndexIVFFlat(quantizer, self.d, self.nlist, faiss.METRIC_L2)
                index.cp.seed = int(seed if seed is not None else 1234) % (2**31 - 1)
                index.cp.min_points_per_centroid = 1  # no warning for small data
                n_train = min(self.n, IVF_TRAIN_PER_LIST * self.nlist)
                rows = np.random.default_rng(seed).choice(self.n, n_train, replace=False)
                index.train(Xp if n_train == self.n else Xp[np.sort(rows)])
                index.nprobe = self.nprobe
                self._quantizer = quantizer  # the IVF index refers to it
                self._index = index
            self._index.add(Xp)
            if kind == "ivf":
                self._index.make_direct_map()  # reconstruct() for recomputing distances
        #: mean recall@k measured by :meth:`calibrate` (None: not calibrated)
        self.recall: float | None = None if kind == "ivf" else 1.0
        #: IVF: the prepared rows, kept until :meth:`self_graph` (or :meth:`release`);
        #: a flat index's own rows serve instead
        self._prepared: np.ndarray | None = Xp if kind == "ivf" else None

    def inverted_file(
        self, nlist: int | None = None, *, n_jobs: int | None = None, seed: int | None = None
    ) -> FaissIndex:
        """An uncalibrated IVF index (``nlist`` lists; default :func:`ivf_lists`) of this
        flat index's rows, with the same metric and preparation (so it answers the same
        :meth:`query` calls, approximately)."""
        if self.kind != "flat":
            raise ValueError("inverted_file() needs a flat index")
        twin = object.__new__(FaissIndex)
        twin.metric, twin.centre = self.metric, self.centre
        twin._build(self._flat_data(), "ivf", nlist, None, n_jobs, seed)
        return twin

    # ----------------------------------------------------------------- rows
    def prepare(self, X) -> np.ndarray:
        """Rows as the index holds them: float32, centred (euclidean) or unit rows."""
        X = np.asarray(X, dtype=np.float64)
        if self.metric == "correlation":
            X = X - X.mean(axis=1, keepdims=True)
        if self.metric in ("cosine", "correlation"):
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            norms[norms == 0] = 1
            X = X / norms
        elif self.centre is not None:
            X = X - self.centre
        return np.ascontiguousarray(X, dtype=np.float32)

    def _distances(self, sq: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(sq)
        if self.metric in ("cosine", "correlation"):
            return sq / 2.0  # |a - b|^2 = 2 - 2 cos(a, b) for unit rows
        return sq

    # ----------------------------------------------------------- calibration
    def calibrate(
        self,
        k: int,
        *,
        largest_nprobe: int | None = None,
        target: float = IVF_TARGET_RECALL,
        n_queries: int = IVF_CALIBRATION_QUERIES,
        seed: int | None = None,
        n_jobs: int | None = None,
    ) -> bool:
        """Set ``nprobe`` to the smallest value of :func:`nprobe_ladder` (up to
        ``largest_nprobe``) at which the ``k`` neighbours of ``n_queries`` random
        reference rows have mean recall >= ``target`` against exact search. Returns
        whether the target was reached (if not, ``nprobe`` is ``largest_nprobe``);
        ``self.recall`` is the measured recall. Needs the prepared rows (before
        :meth:`self_graph` or :meth:`release`)."""
        if self.kind != "ivf":
            self.recall = 1.0
            return True
        Xp = self._prepared
        if Xp is None:
            raise RuntimeError("the reference rows of this index were already released")
        k = min(k, self.n)
        m = min(self.n, n_queries)
        rows = np.sort(np.random.default_rng(seed).choice(self.n, m, replace=False))
        Q = Xp[rows]
        with faiss_threads(n_jobs) as faiss:
            _, true = faiss.knn(Q, Xp, k)
        true_sq = _sq_distances(Q, Xp, true, n_jobs)
        # found neighbours within the true k-th distance count (ties included)
        kth = true_sq.max(axis=1, keepdims=True) * (1 + 1e-6)
        reached = False
        for nprobe in nprobe_ladder(self.nlist, largest_nprobe):
            self.nprobe = self._index.nprobe = nprobe
            _, found_sq = self._search(Q, k, n_jobs, reference=Xp, squared=True)
            self.recall = float(np.mean(np.sum(found_sq <= kth, axis=1) / k))
            if self.recall >= target:
                reached = True
                break
        return reached

    # ---------------------------------------------------------------- search
    def query(self, X_new, k: int, n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(indices int32, distances float32)`` of the ``k`` nearest reference rows
        of each row of ``X_new`` (sorted by distance)."""
        return self._search(self.prepare(X_new), k, n_jobs, reference=None)

    def self_graph(self, k: int, n_jobs: int | None = None):
        """The ``k + 1`` nearest reference rows of every reference row (self
        included, usually first). Releases the IVF index's copy of the rows."""
        Xp = self._flat_data() if self.kind == "flat" else self._prepared
        if Xp is None:
            raise RuntimeError("the reference rows of this index were already released")
        try:
            return self._search(Xp, k + 1, n_jobs, reference=Xp, order=self._list_order())
        finally:
            self.release()

    def release(self) -> None:
        """Drop the copy of the prepared rows kept for :meth:`self_graph`."""
        self._prepared = None

    def _list_order(self) -> np.ndarray | None:
        """The reference rows list by list (IVF): searched in this order, consecutive
        queries scan mostly the same lists, which stay in the cache (~15% faster)."""
        if self.kind != "ivf":
            return None
        import faiss

        lists = self._index.invlists
        parts = [
            np.array(faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)), dtype=np.int64)
            for i in range(self.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts) if parts else None

    def _search(self, Q: np.ndarray, k: int, n_jobs, reference, squared=False, order=None):
        """Search the rows of ``Q`` (prepared), taking them in ``order`` if given."""
        k = min(k, self.n)
        nq = Q.shape[0]
        out_i = np.empty((nq, k), dtype=np.int32)
        out_d = np.empty((nq, k), dtype=np.float32)
        with faiss_threads(n_jobs):
            for start in range(0, nq, _BLOCK):
                rows = slice(start, start + _BLOCK)
                if order is not None:
                    rows = order[rows]
                block = Q[rows]
                _, idx = self._index.search(block, k)
                missing = (idx < 0).any(axis=1)
                if missing.any():  # too few points in the probed lists: search them all
                    self._index.nprobe = self.nlist
                    try:
                        idx[missing] = self._index.search(block[missing], k)[1]
                    finally:
                        self._index.nprobe = self.nprobe
                if reference is not None:
                    ref, local = reference, idx
                elif self.kind == "flat":
                    ref, local = self._flat_data(), idx
                else:  # the few reference rows found, reconstructed from the lists
                    ids, local = np.unique(idx, return_inverse=True)
                    ref = self._index.reconstruct_batch(ids.astype(np.int64))
                    local = local.reshape(idx.shape)
                sq = _sq_distances(block, ref, local, n_jobs)
                by_distance = np.argsort(sq, axis=1, kind="stable")
                out_i[rows] = np.take_along_axis(idx, by_distance, axis=1)
                dist = np.take_along_axis(sq, by_distance, axis=1)
                out_d[rows] = dist if squared else self._distances(dist)
        return out_i, out_d

    def _flat_data(self) -> np.ndarray:
        import faiss

        flat = faiss.rev_swig_ptr(self._index.get_xb(), self.n * self.d)
        return np.asarray(flat).reshape(self.n, self.d)  # a view of the index's rows

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        import faiss

        state = self.__dict__.copy()
        state["_index"] = faiss.serialize_index(self._index)
        state["_prepared"] = None
        state.pop("_quantizer", None)  # serialised with the index
        return state

    def __setstate__(self, state):
        import faiss

        state = dict(state)
        state["_index"] = faiss.deserialize_index(state["_index"])
        self.__dict__.update(state)

    def __repr__(self) -> str:
        extra = ""
        if self.kind == "ivf":
            extra = f", nlist={self.nlist}, nprobe={self.nprobe}"
            if self.recall is not None:
                extra += f", calibration recall={self.recall:.4f}"
        return f"FaissIndex({self.kind}, n={self.n}, d={self.d}, metric={self.metric!r}{extra})"


def _sq_distances(Q, X, idx, n_jobs=None) -> np.ndarray:
    """Squared euclidean distances (float64 sums) of ``Q[i]`` to ``X[idx[i, c]]``
    (``inf`` where ``idx`` is negative), rows on ``n_jobs`` threads."""
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    out = np.empty(idx.shape, dtype=np.float64)
    in_row_blocks(_sq_distance_rows, idx.shape[0], Q, X, idx, out, n_jobs=n_jobs)
    return out


@numba.njit(nogil=True, cache=True)
def _sq_distance_rows(Q, X, idx, out, start, stop):
    """Rows ``start:stop`` of :func:`_sq_distances`."""
    k = idx.shape[1]
    d = Q.shape[1]
    for i in range(start, stop):
        for c in range(k):
            j = idx[i, c]
            if j < 0:
                out[i, c] = np.inf
                continue
            s = 0.0
            for f in range(d):
                t = np.float64(Q[i, f]) - np.float64(X[j, f])
                s += t * t
            out[i, c] = s
