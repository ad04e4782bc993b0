"""Exact O(n_tgt * n_src) repulsive term, the reference the fast methods are tested against.

Returns, for each target point i,
``forces_i = sum_j w_ij^(1 + 1/dof) (y_i - y_j)`` and ``sum_w_i = sum_j w_ij``
(``j != i`` when targets and sources are the same points).
"""

from __future__ import annotations

import numba
import numpy as np

from .._threads import in_row_blocks
from .kernel import kernel_weights


def repulsive_exact(Y_src, Y_tgt, dof: float, same: bool):
    """``(forces, sum_w)`` summed over every source (see the module docstring); the
    kernel is chosen here, so that a run compiles only the one it uses."""
    n_t, d = Y_tgt.shape
    forces = np.zeros((n_t, d), dtype=np.float64)
    sum_w = np.zeros(n_t, dtype=np.float64)
    if d == 2 and dof == 1.0:
        in_row_blocks(_exact_2d_cauchy, n_t, Y_src, Y_tgt, bool(same), forces, sum_w)
    else:
        in_row_blocks(_exact_nd, n_t, Y_src, Y_tgt, float(dof), bool(same), forces, sum_w)
    return forces, sum_w


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


@numba.njit(nogil=True, cache=True, fastmath=True)
def _exact_2d_cauchy(Y_src, Y_tgt, same, forces, sum_w, start, stop):
    """Targets ``start:stop`` in the usual case (2-D, dof = 1) with the sums in
    registers and no branch in the inner loop (the self pair is skipped by splitting
    the range): several times faster than the general loop."""
    n_s = Y_src.shape[0]
    for i in range(start, stop):
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


@numba.njit(nogil=True, cache=True, fastmath=True)
def _exact_nd(Y_src, Y_tgt, dof, same, forces, sum_w, start, stop):
    """Targets ``start:stop``, any dimension and degree of freedom."""
    d = Y_tgt.shape[1]
    n_s = Y_src.shape[0]
    unit_dof = dof == 1.0
    acc = np.zeros(d)
    for i in range(start, stop):
        for c in range(d):
            acc[c] = 0.0
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
