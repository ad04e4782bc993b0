"""Attractive term of the t-SNE gradient from a sparse P (CSR).

For each target point i: ``F_i = sum_j p_ij w_ij^(1/dof) (y_i - y_j)`` with the
heavy-tailed kernel ``w = (1 + d^2/dof)^(-dof)``; also returns ``sum p_ij log w_ij``,
the P-dependent part of the KL divergence (only when ``with_kl``; zeros otherwise).
Rows are independent, so the loop over targets is parallel and race-free. ``Y_src``
is ``Y_tgt`` for a full embedding and the fixed reference map when new points are placed.

The kernels take P with its rows in any order and write row ``r``'s results to
output row ``out[r]``: P itself for small maps, for large ones a copy renumbered along
the map's own space-filling curve (:class:`MapOrder`). Every row keeps its entries in
P's stored order, so the sums, and the result, do not depend on the numbering.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from .._threads import in_row_blocks


def attractive_forces(indptr, indices, data, Y_tgt, Y_src, dof, with_kl=True):
    """``(F, logw)``: the forces (n_tgt, d) and per-row ``sum_j p_ij log w_ij``."""
    out = np.arange(Y_tgt.shape[0])
    return _attractive(indptr, indices, data, out, Y_tgt, Y_src, dof, with_kl)


def _attractive(indptr, cols, data, out, Y_rows, Y_src, dof, with_kl):
    """Row ``r`` of the CSR matrix at position ``Y_rows[r]``, its sources at
    ``Y_src[cols]``, its results in row ``out[r]``. The logarithms are a separate pass
    so that the forces are bit-identical whether or not the KL is asked for (a chunked
    run must equal an uninterrupted one). Chosen here in Python, not in a compiled
    wrapper, so that a run compiles only the kernels it uses (a 2-D map never
    compiles the general loop: ~3 s of a first run)."""
    n, d = Y_rows.shape
    F = np.zeros((n, d), dtype=np.float64)
    args = (indptr, cols, data, out, Y_rows, Y_src, dof)
    in_row_blocks(_forces_2d if d == 2 else _forces_nd, n, *args, F)
    logw = np.zeros(n, dtype=np.float64)
    if with_kl:
        in_row_blocks(_log_w, n, *args, logw)
    return F, logw


@numba.njit(nogil=True, cache=True, fastmath=True)
def _forces_2d(indptr, cols, data, out, Y_rows, Y_src, dof, F, start, stop):
    """Rows ``start:stop`` of the forces, the common 2-D case with the sums in
    registers: about 4x faster than the general loop, which stores into ``F`` for
    every entry of P."""
    inv_dof = 1.0 / dof
    for r in range(start, stop):
        i = out[r]
        y0 = Y_rows[r, 0]
        y1 = Y_rows[r, 1]
        f0 = 0.0
        f1 = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            j = cols[p]
            a = y0 - Y_src[j, 0]
            b = y1 - Y_src[j, 1]
            pq = data[p] / (1.0 + (a * a + b * b) * inv_dof)
            f0 += pq * a
            f1 += pq * b
        F[i, 0] = f0
        F[i, 1] = f1


@numba.njit(nogil=True, cache=True, inline="always", fastmath=True)
def _sq_dist(Y_rows, r, Y_src, j):
    """``|Y_rows[r] - Y_src[j]|^2``."""
    d2 = 0.0
    for c in range(Y_rows.shape[1]):
        t = Y_rows[r, c] - Y_src[j, c]
        d2 += t * t
    return d2


@numba.njit(nogil=True, cache=True, fastmath=True)
def _forces_nd(indptr, cols, data, out, Y_rows, Y_src, dof, F, start, stop):
    """Rows ``start:stop`` of the forces in any dimension (``F`` starts at zero)."""
    d = Y_rows.shape[1]
    inv_dof = 1.0 / dof
    for r in range(start, stop):
        i = out[r]
        for p in range(indptr[r], indptr[r + 1]):
            j = cols[p]
            pq = data[p] / (1.0 + _sq_dist(Y_rows, r, Y_src, j) * inv_dof)
            for c in range(d):
                F[i, c] += pq * (Y_rows[r, c] - Y_src[j, c])


@numba.njit(nogil=True, cache=True, fastmath=True)
def _log_w(indptr, cols, data, out, Y_rows, Y_src, dof, logw, start, stop):
    """Rows ``start:stop`` of ``sum_j p_ij log w_ij = -dof sum_j p_ij log(1 +
    d_ij^2 / dof)``."""
    inv_dof = 1.0 / dof
    for r in range(start, stop):
        i = out[r]
        acc = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            d2 = _sq_dist(Y_rows, r, Y_src, cols[p])
            acc += data[p] * np.log(1.0 + d2 * inv_dof)
        logw[i] = -dof * acc


def p_log_p(indptr, data, n_jobs=None) -> tuple[float, np.ndarray]:
    """``sum p log p`` over all entries and the row sums of P (for the KL divergence)."""
    n = len(indptr) - 1
    row_p = np.zeros(n, dtype=np.float64)
    row_plogp = np.zeros(n, dtype=np.float64)
    in_row_blocks(_p_log_p_rows, n, indptr, data, row_p, row_plogp, n_jobs=n_jobs)
    return float(row_plogp.sum()), row_p


@numba.njit(nogil=True, cache=True)
def _p_log_p_rows(indptr, data, row_p, row_plogp, start, stop):
    """Rows ``start:stop`` of :func:`p_log_p`."""
    for i in range(start, stop):
        s = 0.0
        h = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            p = np.float64(data[k])
            s += p
            if p > 0:
                h += p * np.log(p)
        row_p[i] = s
        row_plogp[i] = h


# ------------------------------------------------------------- memory locality
#: from this many points on, the attractive term reads the map in its own
#: space-filling-curve order: below it the coordinates fit in a core's cache
LOCALITY_MIN_N = 50_000
#: at most this many gradients between two re-sorts of the map
REORDER_MAX_EVERY = 100
#: bits per axis of the Morton key (3 * 21 = 63 bits; 2**21 cells per axis)
_MORTON_BITS = 21


class MapOrder:
    """P renumbered along a Z-order curve through the current map.

    The attractive term reads ``Y[j]`` for every entry ``p_ij``. In the data's own
    numbering those reads jump across the whole map; once the map is larger than the
    cache (a few hundred thousand points) nearly every read is a miss, and the term
    costs more than the FFT repulsion (1M points: 1.8 s per gradient against 0.07 s).
    But a point's neighbours in P become its neighbours in the map: numbered along a
    Z-order (Morton) curve of the current coordinates, a row's sources lie mostly in a
    window of the sorted ``Y`` that the rows around it read too. The sources are read
    from a float32 copy of the sorted map, which halves the window's cache footprint
    (1M points: 0.35-0.45 s per gradient against 0.5-0.6 s in float64); rounding the
    sources to float32 changes the forces by about 1e-6 of their norm, far below the
    approximation error of the repulsion.

    As the map moves the order goes stale and the reads slow down. The order is
    recomputed (a sort of ``n`` keys and a copy of P's entries with rows and columns
    renumbered, 0.8-0.9 s at 1M points) when the time lost since the last re-sort,
    measured against the fastest gradient since, has grown as large as the re-sort
    itself, and at least every :data:`REORDER_MAX_EVERY` gradients: fast-moving maps
    (the start of each phase) are re-sorted often, settled ones rarely. The order
    never changes the result: each row keeps its entries in P's stored order, so the
    forces are bit for bit those of :func:`attractive_forces` with the sources
    rounded to float32. ``reorder_every`` fixes the cadence instead (tests). P itself
    is only read.
    """

    def __init__(self, P, reorder_every: int | None = None):
        self.P = P
        self.reorder_every = None if reorder_every is None else int(reorder_every)
        self.calls = 0
        self.n_reorders = 0
        self.perm = np.arange(P.shape[0], dtype=np.int64)
        self.indptr, self.cols, self.data = P.indptr, P.indices, P.data
        self._copy = None  # the renumbered copy's arrays, allocated once and refilled
        self._since = 0  # gradients since the last re-sort
        self._cost = 0.0  # seconds the last re-sort took
        self._fresh = None  # seconds of the fastest gradient since then
        self._lost = 0.0  # seconds lost since then to the order going stale

    def reorder(self, Y) -> None:
        """Renumber P along the Z-curve of the coordinates ``Y``."""
        t0 = time.perf_counter()
        n = self.P.shape[0]
        self.perm = np.argsort(morton_keys(Y), kind="stable")
        inv = np.empty(n, dtype=np.int32)
        inv[self.perm] = np.arange(n, dtype=np.int32)
        P = self.P
        if self._copy is None:  # refilling the same memory saves ~1 s of page faults at 1M
            self._copy = (
                np.empty(n + 1, dtype=np.int64),
                np.empty(P.nnz, dtype=np.int32),
                np.empty(P.nnz, dtype=P.data.dtype),
            )
        _renumber_csr(P.indptr, P.indices, P.data, self.perm, inv, *self._copy)
        self.indptr, self.cols, self.data = self._copy
        self.n_reorders += 1
        self._since, self._fresh, self._lost = 0, None, 0.0
        self._cost = time.perf_counter() - t0

    def _due(self) -> bool:
        if self.n_reorders == 0:
            return True
        if self.reorder_every is not None:
            return self._since >= self.reorder_every
        return self._since >= REORDER_MAX_EVERY or self._lost >= self._cost

    def attractive_forces(self, Y, dof, with_kl):
        """``attractive_forces`` of P at ``Y`` (in P's row order), its sources read in
        float32 (see the class docstring)."""
        if self._due():
            self.reorder(Y)
        self.calls += 1
        self._since += 1
        t0 = time.perf_counter()
        n, d = Y.shape
        Yp = np.empty((n, d), dtype=np.float64)
        Yp32 = np.empty((n, d), dtype=np.float32)
        in_row_blocks(_gather_rows, n, Y, self.perm, Yp, Yp32)
        result = _attractive(self.indptr, self.cols, self.data, self.perm, Yp, Yp32, dof, with_kl)
        if not with_kl:  # the KL's extra pass would read as staleness
            dt = time.perf_counter() - t0
            if self._fresh is None or dt < self._fresh:
                self._fresh = dt  # the fastest since the re-sort: robust to a noisy start
            self._lost += dt - self._fresh
        return result


@numba.njit(nogil=True, cache=True)
def _gather_rows(Y, perm, Yp, Yp32, start, stop):
    """Rows ``start:stop`` of ``Y[perm]`` in float64 (the rows' own positions) and
    float32 (the sources)."""
    d = Y.shape[1]
    for r in range(start, stop):
        for c in range(d):
            v = Y[perm[r], c]
            Yp[r, c] = v
            Yp32[r, c] = v


def morton_keys(Y) -> np.ndarray:
    """Z-order (Morton) keys of the points of a 1-, 2- or 3-D map: the coordinates
    quantised on the bounding box and their bits interleaved (NaN: key 0)."""
    n, d = Y.shape
    bits = min(_MORTON_BITS, 63 // max(d, 1))
    lo, scale = _morton_scale(Y, bits)
    keys = np.zeros(n, dtype=np.uint64)
    in_row_blocks(_morton_rows, n, Y, lo, scale, bits, keys)
    return keys


@numba.njit(nogil=True, cache=True)
def _morton_scale(Y, bits):
    """The bounding box's low corner and the scale onto ``2**bits - 1`` levels."""
    n, d = Y.shape
    levels = (1 << bits) - 1
    lo = np.empty(d)
    scale = np.empty(d)
    for c in range(d):
        a, b = np.inf, -np.inf
        for i in range(n):
            v = Y[i, c]
            if v < a:
                a = v
            if v > b:
                b = v
        lo[c] = a
        scale[c] = levels / (b - a) if b > a else 0.0
    return lo, scale


@numba.njit(nogil=True, cache=True)
def _morton_rows(Y, lo, scale, bits, keys, start, stop):
    """Keys of the rows ``start:stop``."""
    d = Y.shape[1]
    levels = (1 << bits) - 1
    for i in range(start, stop):
        key = np.uint64(0)
        for c in range(d):
            u = (Y[i, c] - lo[c]) * scale[c]
            q = np.uint64(min(max(u, 0.0), levels)) if u == u else np.uint64(0)
            for bit in range(bits):
                key |= ((q >> np.uint64(bit)) & np.uint64(1)) << np.uint64(bit * d + c)
        keys[i] = key


def _renumber_csr(indptr, indices, data, perm, inv, new_indptr, cols, values) -> None:
    """Fill ``(new_indptr, cols, values)`` with the CSR matrix whose row ``r`` is row
    ``perm[r]`` of the given one, its columns renamed by ``inv``; the entries keep
    their order within the row."""
    new_indptr[0] = 0
    np.cumsum(np.diff(indptr)[perm], out=new_indptr[1:])
    args = (indptr, indices, data, perm, inv, new_indptr, cols, values)
    in_row_blocks(_renumber_rows, perm.shape[0], *args)


@numba.njit(nogil=True, cache=True)
def _renumber_rows(indptr, indices, data, perm, inv, new_indptr, cols, values, start, stop):
    """Rows ``start:stop`` of :func:`_renumber_csr`."""
    for r in range(start, stop):
        s = indptr[perm[r]]
        t = new_indptr[r]
        for q in range(new_indptr[r + 1] - t):
            cols[t + q] = inv[indices[s + q]]
            values[t + q] = data[s + q]
