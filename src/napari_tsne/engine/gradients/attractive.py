"""Attractive term of the t-SNE gradient from a sparse P (CSR).

For each target point i: ``F_i = sum_j p_ij w_ij^(1/dof) (y_i - y_j)`` with the
heavy-tailed kernel ``w = (1 + d^2/dof)^(-dof)``; also returns ``sum p_ij log w_ij``,
the P-dependent part of the KL divergence. Rows are independent, so the loop over
targets is parallel and race-free. ``Y_src`` is ``Y_tgt`` for a full embedding and the
fixed reference map when new points are placed.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(nogil=True, cache=True, parallel=True, fastmath=True)
def attractive_forces(indptr, indices, data, Y_tgt, Y_src, dof):
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
            if dof == 1.0:
                q = 1.0 / (1.0 + d2)
                acc_log += data[p] * np.log(q)
            else:
                base = 1.0 + d2 / dof
                q = 1.0 / base
                acc_log -= data[p] * dof * np.log(base)
            pq = data[p] * q
            for c in range(d):
                F[i, c] += pq * (Y_tgt[i, c] - Y_src[j, c])
        logw[i] = acc_log
    return F, logw
