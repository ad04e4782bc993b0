"""Input-space affinities P from a kNN graph.

* perplexity (van der Maaten & Hinton 2008): a Gaussian per point whose bandwidth is
  found by bisection so that the conditional distribution has the target perplexity;
* multiscale (Lee et al. 2015): the average of Gaussians at several perplexities;
* uniform: p_{j|i} = 1/k on the k nearest neighbours.

The conditional matrix is symmetrised, ``P = (P_cond + P_cond^T) / 2n``, and stored as
a CSR matrix (int32 indices, float32 values) whose entries sum to one.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
import scipy.sparse as sp

from ._threads import in_row_blocks
from ._validation import TSNEInputError, TSNEWarning

#: Bisection stops at this absolute error in entropy (nats) or after MAX_STEPS steps.
ENTROPY_TOL = 1e-5
MAX_STEPS = 200


@numba.njit(nogil=True, cache=True)
def _gaussian_rows(sq_dist, perplexity, tol, max_steps, P, failed, start, stop):
    """Rows ``start:stop``: search for beta = 1/(2 sigma^2) (safeguarded Newton:
    bisection whenever a Newton step leaves the bracket), ``P[i]`` = the row's
    conditional distribution, ``failed[i] = 1`` where the search did not converge.
    Serial, driven by :func:`in_row_blocks`."""
    k = sq_dist.shape[1]
    target = np.log(perplexity)
    for i in range(start, stop):
        # shift by the nearest distance: exp(-beta (d - d0)) avoids underflow
        d0 = sq_dist[i, 0]
        for j in range(1, k):
            if sq_dist[i, j] < d0:
                d0 = sq_dist[i, j]
        # start from the inverse mean spread: makes the search independent of the data scale
        spread = 0.0
        for j in range(k):
            spread += sq_dist[i, j] - d0
        beta = k / spread if spread > 0 else 1.0
        lo = 0.0
        hi = np.inf
        ok = False
        for _ in range(max_steps):
            s = 0.0
            sd = 0.0
            sd2 = 0.0
            for j in range(k):
                dj = sq_dist[i, j] - d0
                w = np.exp(-beta * dj)
                P[i, j] = w
                s += w
                sd += w * dj
                sd2 += w * dj * dj
            # entropy H = log s + beta * E[d - d0], decreasing in beta
            mean = sd / s
            H = np.log(s) + beta * mean
            if abs(H - target) < tol:
                ok = True
                break
            if H > target:
                lo = beta
            else:
                hi = beta
            # Newton step (dH/dbeta = -beta Var[d]) while it stays inside the bracket,
            # else bisection: 4-6 passes per row instead of ~25
            var = sd2 / s - mean * mean
            nb = beta + (H - target) / (beta * var) if var > 0 else -1.0
            if nb > lo and nb < hi:
                beta = nb
            else:
                beta = beta * 2.0 if hi == np.inf else (lo + hi) / 2.0
            if beta > 1e300 or (hi - lo) < 1e-300 * max(hi, 1.0):
                break
        s = 0.0
        for j in range(k):
            s += P[i, j]
        for j in range(k):
            P[i, j] /= s
        if not ok:
            failed[i] = 1


def conditional_gaussian(distances: np.ndarray, perplexity: float, n_jobs=None) -> np.ndarray:
    """p_{j|i} on each kNN row for one perplexity (``distances`` are not squared)."""
    sq = np.asarray(distances, dtype=np.float64) ** 2
    n, k = sq.shape
    P = np.empty((n, k), dtype=np.float64)
    failed = np.zeros(n, dtype=np.int8)
    in_row_blocks(
        _gaussian_rows, n, sq, float(perplexity), ENTROPY_TOL, MAX_STEPS, P, failed,
        n_jobs=n_jobs, blocks_per_thread=8,  # rows take 2 to 200 steps
    )  # fmt: skip
    n_failed = int(np.count_nonzero(failed))
    if n_failed:
        warnings.warn(
            f"Perplexity calibration did not reach the target for {n_failed} point(s) (for "
            f"example points whose neighbours are all at the same distance); their "
            f"affinities use the closest bandwidth found.",
            TSNEWarning,
            stacklevel=2,
        )
    return P


def conditional_uniform(distances: np.ndarray) -> np.ndarray:
    n, k = distances.shape
    return np.full((n, k), 1.0 / k)


def symmetrize(indices: np.ndarray, P_cond: np.ndarray, n_jobs=None) -> sp.csr_matrix:
    """``(P + P^T) / (2 n)`` as CSR with float32 data and int32 indices, summing to one.

    Built in two linear passes (the kNN lists transposed by a counting sort, then each
    row's own list merged with its transposed one) without the float64 COO/CSR
    intermediates of ``C + C.T`` in scipy: at 1M points x 90 neighbours that sum took
    30 s and was the run's peak memory."""
    n, k = indices.shape
    idx = np.ascontiguousarray(indices, dtype=np.int32)
    vals = np.ascontiguousarray(P_cond, dtype=np.float64)
    if n == 0 or k == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    tptr, src, tval = _transpose_lists(idx, vals)
    total = 2.0 * float(vals.sum())
    indptr = np.zeros(n + 1, dtype=np.int64)
    # the counting pass gets empty arrays of the writing pass's types: one compiled
    # specialisation serves both (a second one cost ~4 s of compilation on a first run)
    no_cols, no_data = np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
    args = (idx, vals, tptr, src, tval, 1.0 / total)
    in_row_blocks(_merge_rows, n, *args, True, indptr, no_cols, no_data, n_jobs=n_jobs)
    np.cumsum(indptr, out=indptr)
    cols = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1], dtype=np.float32)
    in_row_blocks(_merge_rows, n, *args, False, indptr, cols, data, n_jobs=n_jobs)
    return sp.csr_matrix((data, cols, indptr), shape=(n, n))


@numba.njit(nogil=True, cache=True)
def _transpose_lists(indices, vals):
    """For every point ``j`` the ``(i, p_{j|i})`` with ``j`` in row ``i``, ``i``
    ascending (a counting sort; one pass to count, one to place)."""
    n, k = indices.shape
    tptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        for m in range(k):
            tptr[indices[i, m] + 1] += 1
    for j in range(n):
        tptr[j + 1] += tptr[j]
    fill = tptr[:n].copy()
    src = np.empty(tptr[n], dtype=np.int32)
    tval = np.empty(tptr[n], dtype=np.float64)
    for i in range(n):
        for m in range(k):
            j = indices[i, m]
            q = fill[j]
            src[q] = i
            tval[q] = vals[i, m]
            fill[j] = q + 1
    return tptr, src, tval


@numba.njit(nogil=True, cache=True, inline="always")
def _argsort_small(values, order):
    """``order`` = the positions of ``values`` in ascending order, by Shell sort with
    Ciura's gaps: a kNN row is short (~90), and numba's own ``np.argsort`` compiles
    its quicksort for several seconds on a first run."""
    n = values.shape[0]
    for i in range(n):
        order[i] = i
    for gap in (701, 301, 132, 57, 23, 10, 4, 1):
        if gap >= n:
            continue
        for i in range(gap, n):
            item = order[i]
            v = values[item]
            j = i
            while j >= gap and values[order[j - gap]] > v:
                order[j] = order[j - gap]
                j -= gap
            order[j] = item


@numba.njit(nogil=True, cache=True, inline="always")
def _merge_row(i, indices, vals, tptr, src, tval, scale, count_only, indptr, cols, data):
    """Row ``i`` of ``P_cond + P_cond^T``: its own (sorted) kNN list merged with the
    transposed list, equal columns summed, zeros dropped, values times ``scale``.
    ``count_only``: store the row length in ``indptr[i + 1]``; otherwise write the
    row at ``indptr[i]``. Touches row ``i``'s places only (so rows can run in parallel)."""
    k = indices.shape[1]
    own = np.empty(k, dtype=np.int64)
    _argsort_small(indices[i], own)
    a = 0
    b = tptr[i]
    b_end = tptr[i + 1]
    out = 0 if count_only else indptr[i]
    while a < k or b < b_end:
        ca = indices[i, own[a]] if a < k else np.int32(2**31 - 1)
        cb = src[b] if b < b_end else np.int32(2**31 - 1)
        c = min(ca, cb)
        v = 0.0
        while a < k and indices[i, own[a]] == c:
            v += vals[i, own[a]]
            a += 1
        while b < b_end and src[b] == c:
            v += tval[b]
            b += 1
        if v != 0.0:
            if not count_only:
                cols[out] = c
                data[out] = v * scale
            out += 1
    if count_only:
        indptr[i + 1] = out


@numba.njit(nogil=True, cache=True)
def _merge_rows(indices, vals, tptr, src, tval, scale, count_only, indptr, cols, data, start, stop):
    """:func:`_merge_row` for the rows ``start:stop`` (race-free: each row writes its
    own places), driven by :func:`in_row_blocks`."""
    for i in range(start, stop):
        _merge_row(i, indices, vals, tptr, src, tval, scale, count_only, indptr, cols, data)


def affinities_from_knn(
    indices: np.ndarray,
    distances: np.ndarray,
    method: str = "perplexity",
    perplexity=30.0,
    n_jobs=None,
    symmetric: bool = True,
):
    """P for a kNN graph; ``symmetric=False`` returns row-normalised conditionals (n, k)."""
    if method == "perplexity":
        if np.ndim(perplexity) > 0:
            P_cond = np.mean(
                [conditional_gaussian(distances, p, n_jobs) for p in perplexity], axis=0
            )
        else:
            P_cond = conditional_gaussian(distances, perplexity, n_jobs)
    elif method == "multiscale":
        perps = np.atleast_1d(perplexity)
        P_cond = np.mean([conditional_gaussian(distances, p, n_jobs) for p in perps], axis=0)
    elif method == "uniform":
        P_cond = conditional_uniform(distances)
    else:
        raise TSNEInputError(
            f"Unknown affinity {method!r}; use 'perplexity', 'multiscale' or 'uniform'."
        )
    if not symmetric:
        return P_cond
    return symmetrize(indices, P_cond, n_jobs)
