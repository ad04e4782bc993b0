"""Attractive term of the t-SNE gradient from a sparse P (CSR).

For each target point i: ``F_i = sum_j p_ij w_ij^(1/dof) (y_i - y_j)`` with the
heavy-tailed kernel ``w = (1 + d^2/dof)^(-dof)``; also returns ``sum p_ij log w_ij``,
the P-dependent part of the KL divergence (only when ``with_kl``; zeros otherwise).
Rows are independent, so the loop over targets is parallel and race-free. ``Y_src``
is ``Y_tgt`` for a full embedding and the fixed reference map when new points are placed.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(nogil=True, cache=True, parallel=True, fastmath=True)
def attractive_forces(indptr, indices, data, Y_tgt, Y_src, dof, with_kl=True):
    n, d = Y_tgt.shape
    F = np.zeros((n, d), dtype=np.float64)
    logw = np.zeros(n, dtype=np.float64)
    for i in prange(n):
        acc_log = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            d2 = 0.0
            for c in range(d):
                t = Y_tgt[i, c] - Y_src[j, c]
                d2 += t * t
            base = 1.0 + d2 / dof
            q = 1.0 / base
            if with_kl:  # the logarithm costs more than the rest of the loop
                acc_log -= data[p] * dof * np.log(base)
            pq = data[p] * q
            for c in range(d):
                F[i, c] += pq * (Y_tgt[i, c] - Y_src[j, c])
        logw[i] = acc_log
    return F, logw


@numba.njit(nogil=True, cache=True, parallel=True)
def p_log_p(indptr, data):
    """``sum p log p`` over all entries and the row sums of P (for the KL divergence)."""
    n = len(indptr) - 1
    row_p = np.zeros(n, dtype=np.float64)
    row_plogp = np.zeros(n, dtype=np.float64)
    for i in prange(n):
        s = 0.0
        h = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            p = np.float64(data[k])
            s += p
            if p > 0:
                h += p * np.log(p)
        row_p[i] = s
        row_plogp[i] = h
    return row_plogp.sum(), row_p
