"""Exact O(n_tgt * n_src) repulsive term, the reference the fast methods are tested against.

Returns, for each target point i,
``forces_i = sum_j w_ij^(1 + 1/dof) (y_i - y_j)`` and ``sum_w_i = sum_j w_ij``
(``j != i`` when targets and sources are the same points).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(nogil=True, cache=True, parallel=True, fastmath=True)
def repulsive_exact(Y_src, Y_tgt, dof, same):
    n_t, d = Y_tgt.shape
    n_s = Y_src.shape[0]
    forces = np.zeros((n_t, d), dtype=np.float64)
    sum_w = np.zeros(n_t, dtype=np.float64)
    for i in prange(n_t):
        acc = np.zeros(d)
        s = 0.0
        for j in range(n_s):
            if same and j == i:
                continue
            d2 = 0.0
            for c in range(d):
                t = Y_tgt[i, c] - Y_src[j, c]
                d2 += t * t
            if dof == 1.0:
                w = 1.0 / (1.0 + d2)
                w2 = w * w
            else:
                base = 1.0 + d2 / dof
                w = base ** (-dof)
                w2 = w / base
            s += w
            for c in range(d):
                acc[c] += w2 * (Y_tgt[i, c] - Y_src[j, c])
        sum_w[i] = s
        for c in range(d):
            forces[i, c] = acc[c]
    return forces, sum_w
