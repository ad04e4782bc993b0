"""FFT-accelerated interpolation-based repulsion (FIt-SNE) for 1-D and 2-D maps.

The method of Linderman et al., "Fast interpolation-based t-SNE for improved
visualization of single-cell RNA-seq data", Nature Methods 16 (2019):

1. The bounding box of all points is cut into equal intervals per dimension,
   ``max(min_num_intervals, ceil(extent / ints_in_interval))`` of them (enlarged to
   fill an FFT-friendly length), each holding ``p = n_interpolation_points``
   equispaced Lagrange nodes, so that all nodes form one uniform grid.
2. The charges of the sources are spread onto the ``p^d`` nodes of their interval
   with Lagrange weights.
3. Node-to-node interactions are a convolution with the kernel sampled on the grid,
   done as a zero-padded (circulant) FFT convolution. The kernel is even, so its
   spectrum is real and comes from a DCT-I of one quadrant.
4. The potentials are Lagrange-interpolated back to the targets (a pure gather) and
   combined there with the target's own coordinates.

With ``w = (1 + r^2/dof)^(-dof)``: for ``dof == 1`` one kernel ``K2 = w^2`` with the
charges ``[1, y, |y|^2]`` gives both terms (``w = w^2 (1 + r^2)``); otherwise
``K1 = w`` with the charge ``[1]`` gives ``sum_w`` and ``K2 = w^(1+1/dof)`` with
``[1, y]`` the forces (the forward transform of the charge ``1`` is shared). With
``same`` the self term is removed exactly as the interpolation sees it (for the forces
it cancels identically), so no interpolation error of ``w_ii`` is left in ``sum_w``.

Parallel and race-free: the sources are counting-sorted by their interval along the
first axis and cut into one equal chunk per thread; a chunk writes straight into the
grid except for the interval row it may share with the previous chunk, which goes to
a few spare rows of its own, added in afterwards. The gather is parallel over targets.
The charge grids and FFTs are float32 (no measurable loss: the error is dominated by
the interpolation), with charges relative to the box centre to limit cancellation;
interpolation weights and the final combination are float64. The number of nodes per
interval is part of the numba types (tuples), so the small loops unroll.
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import scipy.fft as sfft

from .._threads import in_row_blocks
from .._validation import TSNERuntimeWarning

#: dtype of the charge grids and the FFTs
_FFT_DTYPE = np.float32
#: cap on the intervals per dimension of a 2-D map (about 1 GB of FFT buffers at the
#: cap). Wider maps are handed to Barnes-Hut: widening the intervals instead (what
#: openTSNE does) interpolates the near field of a kernel narrower than an interval
#: and, in float32, loses ``sum_w`` to cancellation of the ``|y|^2`` charge.
MAX_INTERVALS_2D = 1000


# --------------------------------------------------------------------------- kernels


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _lagrange(u, tnodes, inv_denom, out):
    """Weights of the Lagrange polynomials on ``tnodes`` (a tuple) at ``u``."""
    p = len(tnodes)
    for m in range(p):
        v = inv_denom[m]
        for k in range(p):
            if k != m:
                v *= u - tnodes[k]
        out[m] = v


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _box(y, lo, inv_h, n_int):
    """Interval index of ``y`` (clamped) and its position in the interval, in [0, 1]."""
    x = (y - lo) * inv_h
    b = int(x)
    if b < 0:
        b = 0
    elif b >= n_int:
        b = n_int - 1
    return b, x - b


@numba.njit(nogil=True, cache=True)
def _bounds(Ys, Yt, same):
    """Per-dimension min and max over the sources (and the targets unless ``same``)."""
    d = Ys.shape[1]
    lo = np.full(d, np.inf)
    hi = np.full(d, -np.inf)
    for i in range(Ys.shape[0]):
        for c in range(d):
            v = np.float64(Ys[i, c])
            lo[c] = min(lo[c], v)
            hi[c] = max(hi[c], v)
    if not same:
        for i in range(Yt.shape[0]):
            for c in range(d):
                v = np.float64(Yt[i, c])
                lo[c] = min(lo[c], v)
                hi[c] = max(hi[c], v)
    return lo, hi


@numba.njit(nogil=True, cache=True)
def _sort_rows(Y, lo0, inv_h0, n_int0):
    """Counting sort of the points by their interval along axis 0.

    Returns the intervals and a float64 copy of the points, both in sorted order.
    """
    n, d = Y.shape
    rows = np.empty(n, dtype=np.int32)
    start = np.zeros(n_int0 + 1, dtype=np.int64)
    for i in range(n):
        b, _ = _box(np.float64(Y[i, 0]), lo0, inv_h0, n_int0)
        rows[i] = b
        start[b + 1] += 1
    for b in range(n_int0):
        start[b + 1] += start[b]
    rows_s = np.empty(n, dtype=np.int32)
    Y_s = np.empty((n, d), dtype=np.float64)
    for i in range(n):
        b = rows[i]
        k = start[b]
        start[b] = k + 1
        rows_s[k] = b
        for c in range(d):
            Y_s[k, c] = Y[i, c]
    return rows_s, Y_s


@numba.njit(nogil=True, cache=True, fastmath=True)
def _spread_2d(
    Y_s,
    rows_s,
    bounds,
    shared,
    lo0,
    lo1,
    inv_h0,
    inv_h1,
    n_int1,
    c0,
    c1,
    tnodes,
    inv_denom,
    grid,
    N0,
    t_start,
    t_stop,
):
    """Spread the charges ``[1, y0, y1(, |y|^2)]`` of the chunks ``t_start:t_stop``
    onto ``grid`` (rows, charge, cols).

    Chunk ``t`` writes its points of interval row ``shared[t]`` (shared with the
    previous chunk) into the spare rows ``N0 + t p ...`` of ``grid``.
    """
    p = len(tnodes)
    nc = grid.shape[1]
    wx = np.empty(p)
    wy = np.empty(p)
    q = np.empty(4)
    q[0] = 1.0
    for t in range(t_start, t_stop):
        srow = shared[t]
        for k in range(bounds[t], bounds[t + 1]):
            bx = rows_s[k]
            y0 = Y_s[k, 0]
            y1 = Y_s[k, 1]
            by, uy = _box(y1, lo1, inv_h1, n_int1)
            _lagrange((y0 - lo0) * inv_h0 - bx, tnodes, inv_denom, wx)
            _lagrange(uy, tnodes, inv_denom, wy)
            q[1] = y0 - c0
            q[2] = y1 - c1
            q[3] = q[1] * q[1] + q[2] * q[2]
            r0 = N0 + t * p if bx == srow else bx * p
            col = by * p
            for c in range(nc):
                qc = q[c]
                for a in range(p):
                    wa = wx[a] * qc
                    for b in range(p):
                        grid[r0 + a, c, col + b] += wa * wy[b]


@numba.njit(nogil=True, cache=True, fastmath=True)
def _gather_2d(
    Y,
    lo0,
    lo1,
    inv_h0,
    inv_h1,
    n_int0,
    n_int1,
    c0,
    c1,
    tnodes,
    inv_denom,
    phi,
    dof_one,
    same,
    kself,
    forces,
    sum_w,
    start,
    stop,
):
    """Interpolate the potentials ``phi`` (N0, 4, N1) to the targets ``start:stop``
    and combine them.

    With ``same`` the target's own contribution as the interpolation computes it,
    ``sum_{a,a',b,b'} wx[a] wx[a'] wy[b] wy[b'] K(a - a', b - b')`` (``kself``), is
    subtracted from ``sum_w``; in the forces it cancels identically.
    """
    p = len(tnodes)
    wx = np.empty(p)
    wy = np.empty(p)
    m = np.empty(p)
    for i in range(start, stop):
        y0 = np.float64(Y[i, 0])
        y1 = np.float64(Y[i, 1])
        bx, ux = _box(y0, lo0, inv_h0, n_int0)
        by, uy = _box(y1, lo1, inv_h1, n_int1)
        _lagrange(ux, tnodes, inv_denom, wx)
        _lagrange(uy, tnodes, inv_denom, wy)
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for a in range(p):
            r = bx * p + a
            for b in range(p):
                w = wx[a] * wy[b]
                c = by * p + b
                a0 += w * phi[r, 0, c]
                a1 += w * phi[r, 1, c]
                a2 += w * phi[r, 2, c]
                a3 += w * phi[r, 3, c]
        y0 -= c0
        y1 -= c1
        if dof_one:
            s = a0 * (1.0 + y0 * y0 + y1 * y1) - 2.0 * (y0 * a1 + y1 * a2) + a3
            f0 = y0 * a0 - a1
            f1 = y1 * a0 - a2
        else:
            s = a0
            f0 = y0 * a1 - a2
            f1 = y1 * a1 - a3
        if same:
            for da in range(p):
                v = 0.0
                for b in range(p):
                    u = 0.0
                    for b2 in range(p):
                        u += kself[da, b, b2] * wy[b2]
                    v += u * wy[b]
                m[da] = v
            v = 0.0
            for a in range(p):
                u = 0.0
                for a2 in range(p):
                    u += m[abs(a - a2)] * wx[a2]
                v += u * wx[a]
            s -= v
        sum_w[i] = s
        forces[i, 0] = f0
        forces[i, 1] = f1


@numba.njit(nogil=True, cache=True, fastmath=True)
def _kernel_rows(N0, N1, s0, s1, dof, out, r_start, r_end):
    """Kernels at node offsets ``(m0 s0, m1 s1)``, ``m < N``, zero elsewhere in ``out``,
    for the rows ``r_start <= m0 < r_end``.

    ``out[0]`` is ``w^(1 + 1/dof)`` (``w^2`` for dof == 1); ``out[1]``, if present, is
    ``w`` itself. Works for 1-D with ``N1 = 1``, ``s1 = 0``.
    """
    nk, M0, M1 = out.shape
    for m0 in range(r_start, r_end):
        for m1 in range(M1):
            if m0 < N0 and m1 < N1:
                x = m0 * s0
                y = m1 * s1
                base = 1.0 + (x * x + y * y) / dof
                if dof == 1.0:
                    w = 1.0 / base
                else:
                    w = base ** (-dof)
                out[0, m0, m1] = w / base
                if nk > 1:
                    out[1, m0, m1] = w
            else:
                for k in range(nk):
                    out[k, m0, m1] = 0.0


def _kernel_quadrants(N0, N1, s0, s1, dof, out, n_thr):
    """Fill ``out`` (see ``_kernel_rows``); in parallel only for big grids, as a
    parallel region costs more than it saves on small ones when cores are busy."""
    threads = n_thr if out.size > 2_000_000 else 1
    in_row_blocks(_kernel_rows, out.shape[1], N0, N1, s0, s1, dof, out, n_jobs=threads)


# --------------------------------------------------------------------------- 1-D


@numba.njit(nogil=True, cache=True, fastmath=True)
def _spread_1d(
    Y_s, rows_s, bounds, shared, lo0, inv_h0, c0, tnodes, inv_denom, grid, N0, t_start, t_stop
):
    """1-D version of ``_spread_2d``: charges ``[1, y(, y^2)]``, spare rows after N0."""
    p = len(tnodes)
    nc = grid.shape[0]
    wx = np.empty(p)
    q = np.empty(3)
    q[0] = 1.0
    for t in range(t_start, t_stop):
        srow = shared[t]
        for k in range(bounds[t], bounds[t + 1]):
            bx = rows_s[k]
            y0 = Y_s[k, 0]
            _lagrange((y0 - lo0) * inv_h0 - bx, tnodes, inv_denom, wx)
            q[1] = y0 - c0
            q[2] = q[1] * q[1]
            r0 = N0 + t * p if bx == srow else bx * p
            for c in range(nc):
                for a in range(p):
                    grid[c, r0 + a] += wx[a] * q[c]


@numba.njit(nogil=True, cache=True, fastmath=True)
def _gather_1d(
    Y,
    lo0,
    inv_h0,
    n_int0,
    c0,
    tnodes,
    inv_denom,
    phi,
    dof_one,
    same,
    kself,
    forces,
    sum_w,
    start,
    stop,
):
    """1-D version of ``_gather_2d``."""
    p = len(tnodes)
    wx = np.empty(p)
    for i in range(start, stop):
        y0 = np.float64(Y[i, 0])
        bx, ux = _box(y0, lo0, inv_h0, n_int0)
        _lagrange(ux, tnodes, inv_denom, wx)
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        for a in range(p):
            r = bx * p + a
            a0 += wx[a] * phi[0, r]
            a1 += wx[a] * phi[1, r]
            a2 += wx[a] * phi[2, r]
        y0 -= c0
        if dof_one:
            s = a0 * (1.0 + y0 * y0) - 2.0 * y0 * a1 + a2
            f0 = y0 * a0 - a1
        else:
            s = a0
            f0 = y0 * a1 - a2
        if same:
            v = 0.0
            for a in range(p):
                u = 0.0
                for a2 in range(p):
                    u += kself[a, a2] * wx[a2]
                v += u * wx[a]
            s -= v
        sum_w[i] = s
        forces[i, 0] = f0


# --------------------------------------------------------------------------- driver


def _grid_shape(extent, p, min_num_intervals, ints_in_interval, cap=None):
    """Intervals in one dimension and the padded (even, FFT-friendly) length."""
    n_int = max(int(min_num_intervals), int(math.ceil(extent / ints_in_interval)), 1)
    if cap is not None:
        n_int = min(n_int, max(cap, int(min_num_intervals)))
    half = sfft.next_fast_len(n_int * p, real=True)
    # fill the padded length: more, narrower intervals cost nothing in the FFT
    return max(n_int, half // p), 2 * half


def _lagrange_nodes(p):
    """Equispaced nodes inside the unit interval and the Lagrange denominators."""
    t = (np.arange(p, dtype=np.float64) + 0.5) / p
    inv_denom = [1.0 / np.prod([t[m] - t[k] for k in range(p) if k != m]) for m in range(p)]
    return tuple(float(v) for v in t), tuple(float(v) for v in inv_denom)


def _floor_extent(ext):
    """Keep the box non-degenerate (all points identical, or a flat map)."""
    ext = np.asarray(ext, dtype=np.float64)
    if not np.all(np.isfinite(ext)):
        raise ValueError("FFT repulsion needs finite coordinates.")
    return np.maximum(ext, max(1e-3 * float(ext.max()), 1e-6))


def _chunks(rows_s, n_chunks):
    """Equal chunks of the sorted points; the interval row each shares with its
    predecessor (``-1``: none)."""
    n = rows_s.shape[0]
    bounds = (np.arange(n_chunks + 1, dtype=np.int64) * n) // n_chunks
    shared = np.full(n_chunks, -1, dtype=np.int64)
    has_prev = bounds[:-1] > 0
    shared[has_prev] = rows_s[bounds[:-1][has_prev] - 1]
    return bounds, shared


def _kernel_values(r2, dof):
    """The kernel whose potential is ``sum_w`` (``w^2`` for dof == 1, else ``w``) at
    squared node distances ``r2``, rounded like the FFT kernel."""
    base = 1.0 + r2 / dof
    k = base**-2.0 if dof == 1.0 else base**-dof
    return k.astype(_FFT_DTYPE).astype(np.float64)


def _too_wide(Ys, Yt, same, ints_in_interval):
    """Whether a 2-D map needs more intervals than ``MAX_INTERVALS_2D``."""
    lo, hi = _bounds(Ys, Yt, same)
    return float(np.max(hi - lo)) > MAX_INTERVALS_2D * ints_in_interval


def _fft_2d(Ys, Yt, same, dof, p, min_num_intervals, ints_in_interval, n_thr):
    lo, hi = _bounds(Ys, Yt, same)
    ext = _floor_extent(hi - lo)
    centre = lo + 0.5 * ext
    n_int0, L0 = _grid_shape(ext[0], p, min_num_intervals, ints_in_interval, MAX_INTERVALS_2D)
    n_int1, L1 = _grid_shape(ext[1], p, min_num_intervals, ints_in_interval, MAX_INTERVALS_2D)
    N0, N1 = n_int0 * p, n_int1 * p
    h0, h1 = ext[0] / n_int0, ext[1] / n_int1
    s0, s1 = h0 / p, h1 / p
    tnodes, inv_denom = _lagrange_nodes(p)
    dof_one = dof == 1.0

    # spread the charges; the grid rows are zero-padded to L1 for the rfft
    nc = 4 if dof_one else 3
    rows_s, Y_s = _sort_rows(Ys, lo[0], 1.0 / h0, n_int0)
    bounds, shared = _chunks(rows_s, n_thr)
    grid = np.zeros((N0 + n_thr * p, nc, L1), dtype=_FFT_DTYPE)
    in_row_blocks(
        _spread_2d,
        n_thr,
        Y_s,
        rows_s,
        bounds,
        shared,
        lo[0],
        lo[1],
        1.0 / h0,
        1.0 / h1,
        n_int1,
        centre[0],
        centre[1],
        tnodes,
        inv_denom,
        grid,
        N0,
        n_jobs=n_thr,
    )
    del Y_s, rows_s
    for t, row in enumerate(shared):
        if row >= 0:
            grid[row * p : (row + 1) * p, :, :N1] += grid[N0 + t * p : N0 + (t + 1) * p, :, :N1]

    # kernel spectra (real: the kernel is even) from a DCT-I of one quadrant
    M0, M1 = L0 // 2 + 1, L1 // 2 + 1
    quad = np.empty((1 if dof_one else 2, M0, M1), dtype=_FFT_DTYPE)
    _kernel_quadrants(N0, N1, s0, s1, dof, quad, n_thr)
    K = sfft.dctn(quad, type=1, axes=(1, 2), overwrite_x=True, workers=n_thr)
    K = np.concatenate([K, K[:, M0 - 2 : 0 : -1]], axis=1)

    # convolve; the forward transform skips the zero rows
    C = sfft.rfft(grid[:N0], axis=-1, workers=n_thr)
    del grid
    C = sfft.fft(C, n=L0, axis=0, overwrite_x=True, workers=n_thr)
    if dof_one:
        C *= K[0][:, None, :]
    else:  # potentials [1 * K1, 1 * K2, y0 * K2, y1 * K2]
        prod = np.empty((L0, 4, M1), dtype=C.dtype)
        np.multiply(C[:, 0], K[1], out=prod[:, 0])
        np.multiply(C, K[0][:, None, :], out=prod[:, 1:])
        C = prod
    C = sfft.ifft(C, axis=0, overwrite_x=True, workers=n_thr)[:N0]
    phi = sfft.irfft(C, n=L1, axis=-1, workers=n_thr)
    del C

    n_t = Yt.shape[0]
    forces = np.empty((n_t, 2), dtype=np.float64)
    sum_w = np.empty(n_t, dtype=np.float64)
    da = np.arange(p, dtype=np.float64)[:, None, None]
    db = np.subtract.outer(np.arange(p), np.arange(p)).astype(np.float64)[None]
    kself = _kernel_values((da * s0) ** 2 + (db * s1) ** 2, dof)
    in_row_blocks(
        _gather_2d,
        n_t,
        Yt,
        lo[0],
        lo[1],
        1.0 / h0,
        1.0 / h1,
        n_int0,
        n_int1,
        centre[0],
        centre[1],
        tnodes,
        inv_denom,
        phi,
        dof_one,
        same,
        kself,
        forces,
        sum_w,
        n_jobs=n_thr,
    )
    return forces, sum_w


def _fft_1d(Ys, Yt, same, dof, p, min_num_intervals, ints_in_interval, n_thr):
    lo, hi = _bounds(Ys, Yt, same)
    ext = float(_floor_extent(hi - lo)[0])
    lo = float(lo[0])
    centre = lo + 0.5 * ext
    n_int0, L0 = _grid_shape(ext, p, min_num_intervals, ints_in_interval)
    N0 = n_int0 * p
    h0 = ext / n_int0
    s0 = h0 / p
    tnodes, inv_denom = _lagrange_nodes(p)
    dof_one = dof == 1.0

    nc = 3 if dof_one else 2
    rows_s, Y_s = _sort_rows(Ys, lo, 1.0 / h0, n_int0)
    bounds, shared = _chunks(rows_s, n_thr)
    grid = np.zeros((nc, max(L0, N0 + n_thr * p)), dtype=_FFT_DTYPE)
    in_row_blocks(
        _spread_1d, n_thr, Y_s, rows_s, bounds, shared, lo, 1.0 / h0, centre, tnodes,
        inv_denom, grid, N0, n_jobs=n_thr,
    )  # fmt: skip
    del Y_s, rows_s
    for t, row in enumerate(shared):
        if row >= 0:
            grid[:, row * p : (row + 1) * p] += grid[:, N0 + t * p : N0 + (t + 1) * p]
    grid[:, N0:] = 0.0

    M0 = L0 // 2 + 1
    quad = np.empty((1 if dof_one else 2, M0, 1), dtype=_FFT_DTYPE)
    _kernel_quadrants(N0, 1, s0, 0.0, dof, quad, n_thr)
    K = sfft.dct(quad[:, :, 0], type=1, axis=-1, overwrite_x=True)

    C = sfft.rfft(grid[:, :L0], axis=-1, workers=n_thr)
    if dof_one:
        C *= K[0]
    else:
        C = np.concatenate([C[:1] * K[1], C * K[0]])
    phi = sfft.irfft(C, n=L0, axis=-1, workers=n_thr)

    n_t = Yt.shape[0]
    forces = np.empty((n_t, 1), dtype=np.float64)
    sum_w = np.empty(n_t, dtype=np.float64)
    da = np.subtract.outer(np.arange(p), np.arange(p)).astype(np.float64)
    kself = _kernel_values((da * s0) ** 2, dof)
    in_row_blocks(
        _gather_1d,
        n_t,
        Yt,
        lo,
        1.0 / h0,
        n_int0,
        centre,
        tnodes,
        inv_denom,
        phi,
        dof_one,
        same,
        kself,
        forces,
        sum_w,
        n_jobs=n_thr,
    )
    return forces, sum_w


def repulsive_fft(
    Y_src,
    Y_tgt,
    dof: float,
    same: bool,
    n_interpolation_points: int,
    min_num_intervals: int,
    ints_in_interval: float,
):
    """Interpolation-based (FIt-SNE) repulsion; see the module docstring.

    Returns ``forces`` (n_tgt, d) with ``sum_j w_ij^(1 + 1/dof) (y_i - y_j)`` and
    ``sum_w`` (n_tgt,) with ``sum_j w_ij`` (``j != i`` when ``same``), both float64.
    With ``same=False`` the charges come from ``Y_src`` only and the potentials are
    evaluated at ``Y_tgt``.
    """
    Ys = np.ascontiguousarray(Y_src)
    Yt = Ys if same else np.ascontiguousarray(Y_tgt)
    if Ys.dtype not in (np.float32, np.float64) or Yt.dtype != Ys.dtype:
        Ys = Ys.astype(np.float64)
        Yt = Ys if same else Yt.astype(np.float64)
    if Ys.ndim != 2 or Yt.ndim != 2 or Ys.shape[1] != Yt.shape[1]:
        raise ValueError("Y_src and Y_tgt must be (n, d) arrays with the same d.")
    d = Ys.shape[1]
    if d not in (1, 2):
        raise ValueError(f"FFT repulsion supports 1-D and 2-D maps, got d={d}.")
    p = int(n_interpolation_points)
    if p < 1 or min_num_intervals < 1 or not ints_in_interval > 0 or not dof > 0:
        raise ValueError("Invalid FFT repulsion parameters.")
    n_t = Yt.shape[0]
    if n_t == 0 or Ys.shape[0] == 0:
        return np.zeros((n_t, d), dtype=np.float64), np.zeros(n_t, dtype=np.float64)
    n_thr = max(1, int(numba.get_num_threads()))
    if d == 2 and _too_wide(Ys, Yt, same, ints_in_interval):
        from .barnes_hut import repulsive_bh

        warnings.warn(
            "The map is wider than the FFT grid covers "
            f"({MAX_INTERVALS_2D} intervals of {ints_in_interval:g}); computing the "
            "repulsion by Barnes-Hut while it is. A map this wide usually means a "
            "learning rate or exaggeration far too large.",
            TSNERuntimeWarning,
            stacklevel=2,
        )
        return repulsive_bh(Ys, Yt, float(dof), bool(same), 0.5)
    fn = _fft_2d if d == 2 else _fft_1d
    return fn(
        Ys, Yt, bool(same), float(dof), p, int(min_num_intervals), float(ints_in_interval), n_thr
    )
