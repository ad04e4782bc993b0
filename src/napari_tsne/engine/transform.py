"""Placing new samples into an existing t-SNE map (Poličar, Stražar & Zupan 2019, as
in openTSNE's ``TSNEEmbedding.transform``).

Each new point gets affinities to its ``k`` nearest *reference* samples only
(Gaussian at a small perplexity, normalised per row), starts at the median of those
neighbours' map positions and is then optimised on its own: it is attracted by its
neighbours and repelled by the whole (fixed) reference map, with its own
normalisation of Q, so new points do not interact and the result for a point does
not depend on which other points are in the batch. The reference map is only read.

Nothing here builds an ``n_new x n_ref`` array: neighbours come from the reference
kNN index, attraction is sparse and repulsion uses the exact or Barnes-Hut kernels
with the reference map as sources or, where FFT applies (1-D/2-D maps of more than
``EXACT_MAX_N`` points), a :class:`ReferenceField` tabulated once with the FFT kernel.

Conventions: ``learning_rate`` and ``max_grad_norm`` are in openTSNE's units (a
gradient without the factor 4), so openTSNE's documented values carry over.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from ._threads import in_row_blocks, numba_threads
from ._validation import MIN_SAMPLES, TSNEInputError, TSNEWarning, check_data, check_positive
from .affinities import affinities_from_knn
from .gradients import EXACT_MAX_N, RepulsionParams, kl_gradient, repulsion, resolve_method
from .optimizer import Callback, OptimizerState, gradient_descent

#: Initial positions: median / affinity-weighted mean of the neighbours, or the nearest one.
INITS = ("median", "weighted", "nearest")


@dataclass(frozen=True)
class TransformParams:
    """Settings of a transform; the defaults are openTSNE's.

    Checked on Fashion-MNIST (10,000 training images as the map, 10,000 test images
    placed, 10-NN accuracy of the test labels from the map): median start + 250
    iterations 0.794, nearest-neighbour start + 250 iterations 0.796, no optimisation
    0.771 (median) / 0.795 (nearest); exaggeration 1 / 2, perplexity 2-10, 500
    iterations or a 10x larger learning rate all within +-0.003. The median start is
    kept as the default: it is robust to a wrong nearest neighbour (approximate kNN).
    """

    perplexity: float = 5.0
    k: int | None = None  # None: 3 * perplexity
    init: str | np.ndarray = "median"
    n_iter: int = 250
    early_exaggeration: float = 4.0
    early_exaggeration_iter: int = 0
    exaggeration: float = 1.5
    learning_rate: float = 0.1
    momentum: float = 0.8
    max_grad_norm: float | None = 0.25
    max_step_norm: float | None = None


# ------------------------------------------------------------------- validation
def check_new_samples(X_new, n_features: int | None, *, name: str = "X_new"):
    """Validate a batch of new samples (1 row is fine) against the reference's width."""
    if X_new is None:
        raise TSNEInputError(f"{name} is None; pass the new samples (n_new, n_features).")
    if isinstance(X_new, (list, tuple)):
        try:
            X_new = np.asarray(X_new)
        except ValueError as exc:
            raise TSNEInputError(f"{name} could not be read as an array: {exc}") from None
    if not sp.issparse(X_new):
        X_new = np.asarray(X_new)
    if X_new.ndim == 1:
        raise TSNEInputError(
            f"{name} is 1-D (shape {X_new.shape}); pass a 2-D array of shape "
            f"(n_new, n_features). For a single sample use {name}.reshape(1, -1)."
        )
    if X_new.ndim != 2:
        raise TSNEInputError(
            f"{name} must be a 2-D array of shape (n_new, n_features); got shape {X_new.shape}."
        )
    n = X_new.shape[0]
    if n == 0:
        raise TSNEInputError(f"{name} is empty (shape {X_new.shape}); pass at least one sample.")
    if n_features is not None and X_new.shape[1] != n_features:
        raise TSNEInputError(
            f"{name} has {X_new.shape[1]} features but the map was made from data with "
            f"{n_features} features; new samples must be described by the same features "
            f"(and the same preprocessing) as the reference data."
        )
    if n >= MIN_SAMPLES:
        return check_data(X_new, name=name)
    # check_data wants MIN_SAMPLES rows; pad with finite zero rows to reuse its checks
    pad = MIN_SAMPLES - n
    if sp.issparse(X_new):
        padded = sp.vstack([sp.csr_matrix(X_new), sp.csr_matrix((pad, X_new.shape[1]))])
        return check_data(padded, name=name)[:n]
    if X_new.dtype.kind in "biuf":
        padded = np.concatenate([X_new, np.zeros((pad, X_new.shape[1]), X_new.dtype)])
        return check_data(padded, name=name)[:n]
    return check_data(X_new, name=name)  # wrong dtype: let check_data name it


def check_knn(knn, n_ref: int, n_new: int | None):
    """Validate a precomputed ``(indices, distances)`` of new points to the reference."""
    try:
        indices, distances = knn
    except (TypeError, ValueError):
        raise TSNEInputError(
            "knn must be a pair (indices, distances) of arrays of shape (n_new, k)."
        ) from None
    indices = np.asarray(indices)
    distances = np.asarray(distances)
    if indices.ndim != 2 or indices.shape != distances.shape or indices.shape[1] < 1:
        raise TSNEInputError(
            f"knn indices and distances must both have shape (n_new, k) with k >= 1; got "
            f"{indices.shape} and {distances.shape}."
        )
    if indices.shape[0] == 0:
        raise TSNEInputError("knn is empty; pass the neighbours of at least one new sample.")
    if n_new is not None and indices.shape[0] != n_new:
        raise TSNEInputError(f"knn has {indices.shape[0]} rows but X_new has {n_new} samples.")
    if not np.issubdtype(indices.dtype, np.integer):
        raise TSNEInputError(f"knn indices must be integers; got dtype {indices.dtype}.")
    if indices.min() < 0 or indices.max() >= n_ref:
        raise TSNEInputError(f"knn indices must lie in [0, {n_ref}) (rows of the reference map).")
    if not np.issubdtype(distances.dtype, np.number) or not np.isfinite(distances).all():
        raise TSNEInputError("knn distances must be finite numbers.")
    if (distances < 0).any():
        raise TSNEInputError("knn distances must be >= 0.")
    order = np.argsort(distances, axis=1, kind="stable")
    indices = np.take_along_axis(indices, order, axis=1).astype(np.int32)
    distances = np.take_along_axis(distances, order, axis=1).astype(np.float32)
    return indices, distances


# ------------------------------------------------------------------- neighbours
def neighbors_of_new(knn_graph, X_new, k: int, n_jobs=None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest reference samples of each new sample, sorted by distance.

    For a map made from precomputed distances, ``X_new`` holds the distances of the
    new samples to the reference samples, shape ``(n_new, n_ref)``.
    """
    if knn_graph is None:
        raise TSNEInputError(
            "This map has no neighbour index (it was not made by TSNE.fit); pass the "
            "neighbours of the new samples with knn=(indices, distances)."
        )
    if knn_graph.metric == "precomputed":
        if sp.issparse(X_new):
            raise TSNEInputError(
                "For a map made from precomputed distances, pass the new samples' distances "
                "to the reference samples as a dense (n_new, n_ref) array, or pass "
                "knn=(indices, distances)."
            )
        D = np.asarray(X_new, dtype=np.float32)
        if (D < 0).any():
            raise TSNEInputError("Distances to the reference samples must be >= 0.")
        k = min(k, D.shape[1])
        idx = np.argpartition(D, k - 1, axis=1)[:, :k] if k < D.shape[1] else np.argsort(D, 1)
        d = np.take_along_axis(D, idx, axis=1)
        order = np.argsort(d, axis=1, kind="stable")
        return (
            np.take_along_axis(idx, order, 1).astype(np.int32),
            np.take_along_axis(d, order, 1).astype(np.float32),
        )
    idx, dist = knn_graph.query(X_new, k, n_jobs=n_jobs)
    idx = np.asarray(idx, dtype=np.int32)
    dist = np.asarray(dist, dtype=np.float32)
    if (idx < 0).any():  # an approximate search that found fewer than k neighbours
        raise TSNEInputError(
            "The neighbour search found fewer than k reference neighbours for some samples; "
            "lower k or pass knn=(indices, distances)."
        )
    return idx, dist


def new_point_affinities(indices, distances, perplexity: float, n_ref: int, n_jobs=None):
    """Row-normalised Gaussian affinities of new points to their reference neighbours.

    Returns a CSR matrix ``(n_new, n_ref)`` (float32 data, int32 indices) whose rows
    each sum to one.
    """
    n, k = indices.shape
    if k == 1:
        P_cond = np.ones((n, 1))
    else:
        with warnings.catch_warnings():
            # rows whose neighbours are all at one distance get uniform weights: fine here
            warnings.filterwarnings("ignore", message="Perplexity calibration")
            P_cond = affinities_from_knn(
                indices,
                distances,
                method="perplexity",
                perplexity=float(perplexity),
                n_jobs=n_jobs,
                symmetric=False,
            )
    P_cond = P_cond / P_cond.sum(axis=1, keepdims=True)
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    P = sp.csr_matrix(
        (P_cond.ravel().astype(np.float32), indices.ravel().astype(np.int32), indptr),
        shape=(n, n_ref),
    )
    P.sort_indices()
    return P


# --------------------------------------------------------------- initial positions
@numba.njit(nogil=True, cache=True)
def _neighbour_median(Y_ref, indices, out, start, stop):
    """Rows ``start:stop``: the median of the neighbours' positions, per axis."""
    k = indices.shape[1]
    d = Y_ref.shape[1]
    buf = np.empty(k, dtype=np.float64)
    for i in range(start, stop):
        for c in range(d):
            for j in range(k):
                buf[j] = Y_ref[indices[i, j], c]
            out[i, c] = np.median(buf)


@numba.njit(nogil=True, cache=True)
def _neighbour_weighted_mean(Y_ref, indptr, indices, weights, out, start, stop):
    """Rows ``start:stop``: the affinity-weighted mean of the neighbours' positions
    (``out`` starts at zero)."""
    d = Y_ref.shape[1]
    for i in range(start, stop):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            w = weights[p]
            s += w
            for c in range(d):
                out[i, c] += w * Y_ref[indices[p], c]
        if s > 0:
            for c in range(d):
                out[i, c] /= s


def initial_positions(init, Y_ref, indices, P_new) -> np.ndarray:
    """Starting positions of new points: "median" (of the neighbours' positions),
    "weighted" (affinity-weighted mean), "nearest" (the nearest neighbour's position)
    or an array ``(n_new, n_components)``."""
    n, d = indices.shape[0], Y_ref.shape[1]
    if isinstance(init, str):
        if init in ("median", "weighted"):
            out = np.zeros((n, d), dtype=np.float64)
            if init == "median":
                in_row_blocks(_neighbour_median, n, Y_ref, indices, out)
            else:
                weights = P_new.data.astype(np.float64)
                args = (Y_ref, P_new.indptr, P_new.indices, weights, out)
                in_row_blocks(_neighbour_weighted_mean, n, *args)
            return out
        if init == "nearest":
            return np.array(Y_ref[indices[:, 0]], dtype=np.float64)
        raise TSNEInputError(
            f"Unknown init {init!r} for new samples; use one of {', '.join(INITS)} or an "
            f"array of shape (n_new, n_components)."
        )
    Y0 = np.asarray(init)
    if Y0.shape != (n, d) or not np.issubdtype(Y0.dtype, np.number):
        raise TSNEInputError(
            f"The initial positions of the new samples have shape {Y0.shape}; expected ({n}, {d})."
        )
    if not np.isfinite(Y0).all():
        raise TSNEInputError("The initial positions of the new samples must be finite.")
    return np.array(Y0, dtype=np.float64)


# ------------------------------------------------------- tabulated reference field
#: lattice spacing of the tabulated field, in map units (the kernel has width ~1); the
#: cubic interpolation's error grows as spacing**4: at 0.4 the sum of kernels Z is
#: within 1% of the exact sum (tests/test_transform.py), at 0.5 it is not
FIELD_SPACING = 0.4
#: the lattice extends this fraction of the map's extent beyond it on every side
FIELD_PADDING = 0.1
#: most lattice nodes per axis (the spacing grows for very large maps)
FIELD_MAX_NODES = 2048


@numba.njit(nogil=True, cache=True, inline="always")
def _cubic4(t):
    """4-point Lagrange weights for nodes -1, 0, 1, 2 at fraction t in [0, 1)."""
    return (
        -t * (t - 1.0) * (t - 2.0) / 6.0,
        (t + 1.0) * (t - 1.0) * (t - 2.0) / 2.0,
        -(t + 1.0) * t * (t - 2.0) / 2.0,
        (t + 1.0) * t * (t - 1.0) / 6.0,
    )


@numba.njit(nogil=True, cache=True, inline="always")
def _lattice_coords(Y, i, lo, inv_h, table):
    """Lattice coordinates of ``Y[i]`` and whether the 4-node stencil fits (False for
    NaN too); the second axis is 1.0 for a 1-D map (a single column)."""
    ux = (Y[i, 0] - lo[0]) * inv_h[0]
    ok = ux >= 1.0 and ux < table.shape[0] - 2.0
    uy = 1.0
    if Y.shape[1] == 2:
        uy = (Y[i, 1] - lo[1]) * inv_h[1]
        ok = ok and uy >= 1.0 and uy < table.shape[1] - 2.0
    return ux, uy, ok


@numba.njit(nogil=True, cache=True, inline="always")
def _interp2(table, ux, uy):
    """Cubic interpolation of a 2-D lattice of (F0, F1, Z) at lattice coords (ux, uy)."""
    ix, iy = int(ux), int(uy)
    wx, wy = _cubic4(ux - ix), _cubic4(uy - iy)
    r0 = r1 = rz = 0.0
    for a in range(4):
        s0 = s1 = sz = 0.0
        for b in range(4):
            t = table[ix - 1 + a, iy - 1 + b]
            s0 += wy[b] * t[0]
            s1 += wy[b] * t[1]
            sz += wy[b] * t[2]
        r0 += wx[a] * s0
        r1 += wx[a] * s1
        rz += wx[a] * sz
    return r0, r1, rz


@numba.njit(nogil=True, cache=True, inline="always")
def _interp1(table, ux):
    """Cubic interpolation of a 1-D lattice of (F0, Z) at lattice coordinate ux."""
    ix = int(ux)
    wx = _cubic4(ux - ix)
    r0 = rz = 0.0
    for a in range(4):
        r0 += wx[a] * table[ix - 1 + a, 0, 0]
        rz += wx[a] * table[ix - 1 + a, 0, 1]
    return r0, rz


@numba.njit(nogil=True, cache=True)
def _interp_field(table, lo, inv_h, Y, out, inside, start, stop):
    """Rows ``start:stop``: the tabulated field at ``Y[i]`` (``inside[i]``: on the
    lattice)."""
    two_d = Y.shape[1] == 2
    for i in range(start, stop):
        ux, uy, ok = _lattice_coords(Y, i, lo, inv_h, table)
        inside[i] = ok
        if not ok:
            continue
        if two_d:
            r0, r1, rz = _interp2(table, ux, uy)
            out[i, 0] = r0
            out[i, 1] = r1
            out[i, 2] = rz
        else:
            r0, rz = _interp1(table, ux)
            out[i, 0] = r0
            out[i, 1] = rz


@numba.njit(nogil=True, cache=True, fastmath=True)
def _placement_gradient(
    indptr,
    indices,
    data,
    Y,
    Y_ref,
    table,
    lo,
    inv_h,
    dof,
    exaggeration,
    clip,
    with_kl,
    grad,
    kl_rows,
    inside,
    start,
    stop,
):
    """Rows ``start:stop`` of the fused per-point gradient (attraction to the P row,
    tabulated repulsion, gradient clip) and, with ``with_kl``, per-point KL (the
    logarithms cost more than the rest, so they are skipped otherwise). Rows off the
    lattice get ``inside = False``, the attractive force in ``grad`` and ``sum p log p -
    sum p log w`` in ``kl_rows``. 1-D and 2-D maps only; everything per point lives in
    scalars (the version with per-point scratch arrays and loops over the dimension was
    5x slower)."""
    two_d = Y.shape[1] == 2
    inv_dof = 1.0 / dof
    for i in range(start, stop):
        y0 = Y[i, 0]
        y1 = Y[i, 1] if two_d else 0.0
        f0 = f1 = acc = row_p = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            pij = np.float64(data[p])
            d0 = y0 - Y_ref[j, 0]
            d1 = y1 - Y_ref[j, 1] if two_d else 0.0
            base = 1.0 + (d0 * d0 + d1 * d1) * inv_dof
            pq = pij / base
            f0 += pq * d0
            f1 += pq * d1
            row_p += pij
            if with_kl and pij > 0:
                acc += pij * (np.log(pij) + dof * np.log(base))
        ux, uy, ok = _lattice_coords(Y, i, lo, inv_h, table)
        inside[i] = ok
        if not ok:
            grad[i, 0] = f0
            if two_d:
                grad[i, 1] = f1
            kl_rows[i] = acc
            continue
        if two_d:
            r0, r1, rz = _interp2(table, ux, uy)
        else:
            r0, rz = _interp1(table, ux)
            r1 = 0.0
        rz = max(rz, 1e-300)
        g0 = 4.0 * (exaggeration * f0 - r0 / rz)
        g1 = 4.0 * (exaggeration * f1 - r1 / rz)
        norm2 = g0 * g0 + g1 * g1
        if clip > 0 and norm2 > clip * clip:
            scale = clip / np.sqrt(norm2)
            g0 *= scale
            g1 *= scale
        grad[i, 0] = g0
        if two_d:
            grad[i, 1] = g1
        kl_rows[i] = acc + row_p * np.log(rz) if with_kl else 0.0


class ReferenceField:
    """The repulsion of a fixed 1-D or 2-D map, tabulated once on a lattice.

    The reference does not move while new points are placed, so (as openTSNE does with
    its interpolation grid) its repulsive field ``sum_j w^(1+1/dof) (y - y_j)`` and
    ``sum_j w`` are evaluated once at the nodes of a lattice (spacing
    :data:`FIELD_SPACING` map units, padded by :data:`FIELD_PADDING` of the extent)
    with ``repulsion(method, ...)`` and then interpolated (cubic) at the new points in
    each iteration: O(n_new) per iteration instead of a pass over the reference.
    Points beyond the lattice are computed directly (exactly, or by Barnes-Hut). The
    values depend only on the reference, so new points stay independent of each other.
    """

    def __init__(self, Y_ref, dof: float, params: RepulsionParams, method: str = "fft"):
        Y_ref = np.ascontiguousarray(Y_ref, dtype=np.float64)
        self.Y_ref, self.dof, self.params, self.method = Y_ref, float(dof), params, method
        d = Y_ref.shape[1]
        lo, hi = Y_ref.min(axis=0), Y_ref.max(axis=0)
        pad = FIELD_PADDING * (hi - lo) + 4 * FIELD_SPACING
        lo, hi = lo - pad, hi + pad
        n_nodes = np.minimum(
            np.ceil((hi - lo) / FIELD_SPACING).astype(np.int64) + 1, FIELD_MAX_NODES
        )
        h = (hi - lo) / (n_nodes - 1)
        axes = [lo[c] + h[c] * np.arange(n_nodes[c]) for c in range(d)]
        nodes = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
        F, Z = repulsion(method, Y_ref, np.ascontiguousarray(nodes), False, self.dof, params)
        shape = (int(n_nodes[0]), int(n_nodes[1]) if d == 2 else 1, d + 1)
        self.table = np.ascontiguousarray(np.concatenate([F, Z[:, None]], axis=1).reshape(shape))
        self.lo = np.ascontiguousarray(lo, dtype=np.float64)
        self.inv_h = np.ascontiguousarray(1.0 / h, dtype=np.float64)

    def __call__(self, Y) -> tuple[np.ndarray, np.ndarray]:
        """``(forces, sum_w)`` at the points ``Y`` (the repulsion contract, same=False)."""
        n, d = Y.shape
        out = np.empty((n, d + 1), dtype=np.float64)
        inside = np.empty(n, dtype=np.bool_)
        in_row_blocks(_interp_field, n, self.table, self.lo, self.inv_h, Y, out, inside)
        if not inside.all():
            rows = np.flatnonzero(~inside)
            F, Z = self._direct(Y[rows])
            out[rows, :d] = F
            out[rows, d] = Z
        return out[:, :d], out[:, d]

    def _direct(self, Y_rows):
        # far from the map: direct sums (an FFT grid stretched to reach them would be
        # coarse and large)
        few = len(Y_rows) * len(self.Y_ref) <= 4_000_000
        return repulsion(
            "exact" if few else "bh",
            self.Y_ref,
            np.ascontiguousarray(Y_rows),
            False,
            self.dof,
            self.params,
        )

    def gradient(self, Y, P_new, exaggeration: float, clip: float | None, compute_kl: bool = True):
        """Per-point KL gradient of new points ``Y`` with affinities ``P_new`` to the
        reference (as :func:`kl_gradient` with ``per_point=True``), each row's norm
        clipped to ``clip``; returns ``(grad, kl)`` (``kl`` is NaN unless
        ``compute_kl``)."""
        n, d = Y.shape
        grad = np.empty((n, d), dtype=np.float64)
        kl_rows = np.empty(n, dtype=np.float64)
        inside = np.empty(n, dtype=np.bool_)
        in_row_blocks(
            _placement_gradient,
            n,
            P_new.indptr,
            P_new.indices,
            P_new.data,
            Y,
            self.Y_ref,
            self.table,
            self.lo,
            self.inv_h,
            self.dof,
            float(exaggeration),
            float(clip or 0.0),
            bool(compute_kl),
            grad,
            kl_rows,
            inside,
        )
        if not inside.all():
            rows = np.flatnonzero(~inside)
            F, Z = self._direct(Y[rows])
            Z = np.maximum(Z, np.finfo(float).tiny)
            g = 4.0 * (exaggeration * grad[rows] - F / Z[:, None])
            if clip:
                _clip_rows(g, clip)
            grad[rows] = g
            if compute_kl:
                ptr, data = P_new.indptr, P_new.data
                row_p = np.array([data[ptr[r] : ptr[r + 1]].sum(dtype=float) for r in rows])
                kl_rows[rows] += row_p * np.log(Z)
        return grad, (float(kl_rows.sum()) if compute_kl else np.nan)


def placement_method(requested: str, n_ref: int, n_components: int) -> str:
    """Repulsion for placing points: "field" (tabulated via FFT) where the FFT method
    applies -- explicitly, or "auto" for maps of more than EXACT_MAX_N points in 1-D
    or 2-D -- otherwise "exact" or "bh" evaluated in every iteration."""
    method = resolve_method(requested, n_ref, n_components)
    if method == "fft":
        return "field"
    if (
        str(requested).lower() == "auto"
        and n_components <= 2
        and n_ref > EXACT_MAX_N
        and _fft_importable()
    ):
        return "field"
    return method


def _fft_importable() -> bool:
    try:
        from .gradients import fft  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------ optimisation
def _clip_rows(grad: np.ndarray, max_norm: float) -> None:
    norms = np.sqrt(np.einsum("ij,ij->i", grad, grad))
    over = norms > max_norm
    if over.any():
        grad[over] *= (max_norm / norms[over])[:, None]


def optimize_new_points(
    Y: np.ndarray,
    Y_ref: np.ndarray,
    P_new: sp.csr_matrix,
    *,
    method: str,
    dof: float,
    params: RepulsionParams,
    schedule: TransformParams,
    callbacks: Sequence[Callback] = (),
    callback_every: int = 50,
) -> tuple[float, int, bool]:
    """Optimise the new points ``Y`` in place against the fixed map ``Y_ref``.

    ``method`` is "exact", "bh" or "field" (see :func:`placement_method`). Returns
    ``(kl, n_iter_done, stopped)`` like :func:`gradient_descent`.
    """
    s = schedule
    # our gradient carries the factor 4 that openTSNE leaves out: scale lr and clip to match
    clip = 4.0 * float(s.max_grad_norm) if s.max_grad_norm else None
    state = OptimizerState.fresh(Y.shape)
    n_total = s.early_exaggeration_iter + s.n_iter
    field = ReferenceField(Y_ref, dof, params) if method == "field" and n_total else None
    kl, done_total, stopped = float("nan"), 0, False
    for n_iter, exaggeration in (
        (s.early_exaggeration_iter, s.early_exaggeration),
        (s.n_iter, s.exaggeration),
    ):
        if n_iter == 0:
            continue

        def grad_fn(Yc, compute_kl, exaggeration=exaggeration):
            if field is not None:
                return field.gradient(Yc, P_new, exaggeration, clip, compute_kl)
            grad, kl = kl_gradient(
                Yc,
                P_new,
                method=method,
                dof=dof,
                exaggeration=exaggeration,
                Y_ref=Y_ref,
                per_point=True,
                params=params,
                compute_kl=compute_kl,
            )
            if clip is not None:
                _clip_rows(grad, clip)
            return grad, kl

        kl, done, stopped = gradient_descent(
            Y,
            grad_fn,
            int(n_iter),
            state,
            learning_rate=float(s.learning_rate) / 4.0,
            momentum=float(s.momentum),
            max_step_norm=s.max_step_norm,
            recenter=False,
            callbacks=list(callbacks),
            callback_every=int(callback_every),
            start_iter=done_total,
        )
        done_total += done
        if stopped:
            break
    return kl, done_total, stopped


# ---------------------------------------------------------------------- driver
def check_schedule(s: TransformParams) -> None:
    check_positive(s.perplexity, "perplexity")
    if s.k is not None:
        check_positive(s.k, "k", integer=True)
    check_positive(s.n_iter, "n_iter", integer=True, allow_zero=True)
    check_positive(
        s.early_exaggeration_iter, "early_exaggeration_iter", integer=True, allow_zero=True
    )
    check_positive(s.early_exaggeration, "early_exaggeration")
    check_positive(s.exaggeration, "exaggeration")
    check_positive(s.learning_rate, "learning_rate")
    check_positive(s.momentum, "momentum", allow_zero=True)
    if s.max_grad_norm is not None:
        check_positive(s.max_grad_norm, "max_grad_norm")
    if s.max_step_norm is not None:
        check_positive(s.max_step_norm, "max_step_norm")
    if isinstance(s.init, str) and s.init not in INITS:
        raise TSNEInputError(
            f"Unknown init {s.init!r} for new samples; use one of {', '.join(INITS)} or an "
            f"array of shape (n_new, n_components)."
        )


def transform_embedding(
    embedding,
    X_new,
    schedule: TransformParams,
    *,
    knn=None,
    negative_gradient_method: str | None = None,
    callbacks: Sequence[Callback] = (),
    callback_every: int = 50,
    n_jobs=None,
) -> tuple[np.ndarray, float]:
    """Place ``X_new`` into ``embedding`` (a TSNEEmbedding, left unchanged).

    Returns ``(Y_new, kl)``. All validation happens before any computation.
    """
    check_schedule(schedule)
    check_positive(callback_every, "callback_every", integer=True)
    n_ref, d = embedding.shape
    n_features = getattr(embedding, "n_features_in", None)
    if knn is not None:
        n_new = None
        if X_new is not None:
            X_new = check_new_samples(X_new, n_features)
            n_new = X_new.shape[0]
        indices, distances = check_knn(knn, n_ref, n_new)
        if schedule.k is not None and schedule.k < indices.shape[1]:
            indices = np.ascontiguousarray(indices[:, : schedule.k])
            distances = np.ascontiguousarray(distances[:, : schedule.k])
    else:
        X_new = check_new_samples(X_new, n_features)
        if embedding.knn is None:
            raise TSNEInputError(
                "This map has no neighbour index (it was not made by TSNE.fit); pass the "
                "neighbours of the new samples with knn=(indices, distances)."
            )
    if not isinstance(schedule.init, str):
        n_rows = X_new.shape[0] if X_new is not None else indices.shape[0]
        initial_positions(
            schedule.init, np.zeros((1, d)), np.zeros((n_rows, 1), np.int32), None
        )  # validates shape and values only
    method = placement_method(
        negative_gradient_method or embedding.negative_gradient_method, n_ref, d
    )
    perplexity = float(schedule.perplexity)
    k = int(schedule.k) if schedule.k is not None else max(1, int(3 * perplexity))
    k = min(k, n_ref)

    with numba_threads(n_jobs):
        if knn is None:
            indices, distances = neighbors_of_new(embedding.knn, X_new, k, n_jobs=n_jobs)
        k = indices.shape[1]
        affinities_used = schedule.n_iter + schedule.early_exaggeration_iter > 0 or (
            isinstance(schedule.init, str) and schedule.init == "weighted"
        )
        if perplexity >= k and affinities_used and k > 1:
            warnings.warn(
                f"perplexity {perplexity} is too large for {k} neighbours; using {k / 3:.3g}.",
                TSNEWarning,
                stacklevel=3,
            )
            perplexity = k / 3
        P_new = new_point_affinities(indices, distances, perplexity, n_ref, n_jobs=n_jobs)
        # a private copy of the reference: the map itself is never handed to a kernel
        Y_ref = np.array(embedding.coordinates, dtype=np.float64, copy=True)
        Y = initial_positions(schedule.init, Y_ref, indices, P_new)
        kl, _, _ = optimize_new_points(
            Y,
            Y_ref,
            P_new,
            method=method,
            dof=embedding.dof,
            params=embedding.repulsion_params,
            schedule=schedule,
            callbacks=callbacks,
            callback_every=callback_every,
        )
    return Y, kl
