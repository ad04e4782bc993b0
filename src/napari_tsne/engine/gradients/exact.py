"""Exact O(n_tgt * n_src) repulsive term, the reference the fast methods are tested against.

Returns, for each target point i,
``forces_i = sum_j w_ij^(1 + 1/dof) (y_i - y_j)`` and ``sum_w_i = sum_j w_ij``
(``j != i`` when targets and sources are the same points).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .kernel import kernel_weights


@numba.njit(nogil=True, cache=True)
def repulsive_exact(Y_src, Y_tgt, dof, same):
    if Y_tgt.shape[1] == 2 and dof == 1.0:
        return _exact_2d_cauchy(Y_src, Y_tgt, same)
    return _exact_nd(Y_src, Y_tgt, dof, same)


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _cauchy_2d_range(y0, y1, Y_src, j0, j1):
    f0 = 0.0
    f1 = 0.0
    s = 0.0
    for j in range(j0, j1):
        a = y0 - Y_src[j, 0]
        b = y1 - Y_src[j, 1]
        w = 1.0 / (1.0 + a * a + b * b)
        w2 = w * w
        s += w
        f0 += w2 * a
        f1 += w2 * b
    return f0, f1, s


@numba.njit(nogil=True, cache=True, parallel=True, fastmath=True)
def _exact_2d_cauchy(Y_src, Y_tgt, same):
    """The usual case (2-D, dof = 1) with the sums in registers and no branch in the
    inner loop (the self pair is skipped by splitting the range): several times faster
    than the general loop."""
    n_t = Y_tgt.shape[0]
    n_s = Y_src.shape[0]
    forces = np.empty((n_t, 2), dtype=np.float64)
    sum_w = np.empty(n_t, dtype=np.float64)
    for i in prange(n_t):
        y0 = Y_tgt[i, 0]
        y1 = Y_tgt[i, 1]
        if same:
            f0, f1, s = _cauchy_2d_range(y0, y1, Y_src, 0, i)
            g0, g1, t = _cauchy_2d_range(y0, y1, Y_src, i + 1, n_s)
            f0 += g0
            f1 += g1
            s += t
        else:
            f0, f1, s = _cauchy_2d_range(y0, y1, Y_src, 0, n_s)
        forces[i, 0] = f0
        forces[i, 1] = f1
        sum_w[i] = s
    return forces, sum_w


@numba.njit(nogil=True, cache=True, parallel=True, fastmath=True)
def _exact_nd(Y_src, Y_tgt, dof, same):
    n_t, d = Y_tgt.shape
    n_s = Y_src.shape[0]
    unit_dof = dof == 1.0
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
            w, w2 = kernel_weights(d2, dof, unit_dof)
            s += w
            for c in range(d):
                acc[c] += w2 * (Y_tgt[i, c] - Y_src[j, c])
        sum_w[i] = s
        for c in range(d):
            forces[i, c] = acc[c]
    return forces, sum_w
