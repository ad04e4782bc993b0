"""The t-SNE gradient: attractive term from sparse P plus a repulsive term computed
exactly, by Barnes-Hut, or by FFT-accelerated interpolation.

Every repulsion method has the same contract::

    forces, sum_w = method(Y_src, Y_tgt, dof, same, ...)
    forces[i] = sum_j w_ij^(1 + 1/dof) (y_i - y_j)      (shape (n_tgt, d))
    sum_w[i]  = sum_j w_ij                               (shape (n_tgt,))

with ``w_ij = (1 + |y_i - y_j|^2 / dof)^(-dof)`` and ``j != i`` when ``same``. A full
embedding passes the same array as sources and targets; placing new points passes the
fixed reference map as sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import TSNEInputError
from .attractive import MapOrder, attractive_forces, p_log_p
from .exact import repulsive_exact

METHODS = ("auto", "exact", "bh", "fft")
#: "auto" computes the repulsion exactly up to this many sources
EXACT_MAX_N = 1_000
#: what "auto" resolves to above EXACT_MAX_N sources in 1-D and 2-D: Barnes-Hut or
#: FFT for each evaluation, by the map's width (:func:`cheaper_method`)
BH_OR_FFT = "bh-or-fft"


@dataclass(frozen=True)
class RepulsionParams:
    """Parameters of the approximate repulsion methods (ignored by the others)."""

    theta: float = 0.4
    n_interpolation_points: int = 3
    min_num_intervals: int = 50
    ints_in_interval: float = 1.0


def resolve_method(method: str, n_samples: int, n_components: int) -> str:
    """Pick the repulsion method: ``auto`` -> exact / Barnes-Hut / FFT by size."""
    aliases = {"barnes-hut": "bh", "barnes_hut": "bh", "interpolation": "fft"}
    method = aliases.get(str(method).lower(), str(method).lower())
    if method not in METHODS:
        raise TSNEInputError(
            f"Unknown negative_gradient_method {method!r}; use one of {', '.join(METHODS)}."
        )
    if method == "auto":
        if n_samples <= EXACT_MAX_N:
            return "exact"
        if n_components == 3 or not _fft_available():
            return "bh"
        return BH_OR_FFT
    if method == "fft" and n_components == 3:
        raise TSNEInputError(
            "negative_gradient_method='fft' supports 1-D and 2-D maps; use 'bh' for 3-D."
        )
    if method == "bh" and n_components > 3:
        raise TSNEInputError("Barnes-Hut supports at most 3 dimensions.")
    return method


def _fft_available() -> bool:
    try:
        from . import fft  # noqa: F401
    except ImportError:
        return False
    return True


def cheaper_method(Y_src, params: RepulsionParams) -> str:
    """``"fft"`` while the FFT's grid has at most one box per source point, else ``"bh"``.

    Barnes-Hut's cost grows with the number of points only (its opening criterion does
    not depend on the map's scale); the FFT's with the grid, i.e. with the map's width
    (``min_num_intervals`` at least). On a compact map (early exaggeration, the first
    expansion) the FFT is the cheaper and, its intervals being narrower than the
    kernel, accurate; once the map is wider than about one unit per point, Barnes-Hut
    with quadrupoles costs at most about twice the FFT's time and its error is an
    order of magnitude smaller, which is what the late optimisation needs: there the
    gradient is a few per cent of the repulsion, and the FFT's 3-node interpolation
    on unit intervals (about 3.5% error in the repulsion) makes the gradient's error as
    large as the gradient (docs/embeddings-study.md). CPU time per evaluation on the
    2-core machine (2 threads): 15,088 sentence embeddings, 124 x 110 wide (13,600
    boxes): FFT 14 ms / Barnes-Hut 26 ms; 205 x 180 (36,900 boxes): 38 / 27 ms;
    70,000 Fashion-MNIST images 240 x 232 (55,700 boxes, the FFT stays): 65 / 147 ms.
    The choice depends on the coordinates only, so runs stay reproducible.
    """
    from .fft import _bounds  # one compiled pass: numpy's axis-0 min and max of an
    # (n, 2) array take ~35 ms each at 1M points, a tenth of a whole iteration

    n = Y_src.shape[0]
    lo, hi = _bounds(Y_src, Y_src, True)
    width = hi - lo
    n_int = np.maximum(np.ceil(width / params.ints_in_interval), params.min_num_intervals)
    return "fft" if float(np.prod(n_int)) <= n else "bh"


def repulsion(method: str, Y_src, Y_tgt, same: bool, dof: float, params: RepulsionParams):
    """Dispatch to a repulsion method (see the module docstring for the contract)."""
    if method == BH_OR_FFT:
        method = cheaper_method(Y_src, params)
    if method == "exact":
        return repulsive_exact(Y_src, Y_tgt, float(dof), same)
    if method == "bh":
        from .barnes_hut import repulsive_bh

        return repulsive_bh(Y_src, Y_tgt, float(dof), same, float(params.theta))
    if method == "fft":
        from .fft import repulsive_fft

        return repulsive_fft(
            Y_src,
            Y_tgt,
            float(dof),
            same,
            int(params.n_interpolation_points),
            int(params.min_num_intervals),
            float(params.ints_in_interval),
        )
    raise TSNEInputError(f"Unknown repulsion method {method!r}.")


def kl_gradient(
    Y: np.ndarray,
    P,
    *,
    method: str = "exact",
    dof: float = 1.0,
    exaggeration: float = 1.0,
    Y_ref: np.ndarray | None = None,
    per_point: bool = False,
    params: RepulsionParams = RepulsionParams(),
    compute_kl: bool = True,
    order: MapOrder | None = None,
    p_terms: tuple[float, np.ndarray] | None = None,
):
    """Gradient of KL(P || Q) with respect to ``Y`` and the KL itself (or ``nan``).

    ``exaggeration`` multiplies the attractive term only. With ``Y_ref`` the targets
    ``Y`` are new points pulled by their P rows towards the fixed map ``Y_ref`` and
    repelled by it; ``per_point`` then normalises each point's Q on its own (each new
    point is placed as if it were the only one, so new points do not interact).
    The KL is always that of the un-exaggerated P. ``order`` (a :class:`MapOrder` of
    this ``P``) computes the attractive term in a cache-friendly order (same result).
    ``p_terms`` is ``p_log_p(P.indptr, P.data)``, the part of the KL that depends on P
    only: a caller that evaluates the KL of one P many times passes it once computed
    (it costs a logarithm per entry of P, as much as the rest of the KL).
    """
    same = Y_ref is None
    src = Y if same else Y_ref
    if order is not None and same:
        F_attr, logw = order.attractive_forces(Y, float(dof), bool(compute_kl))
    else:
        F_attr, logw = attractive_forces(
            P.indptr, P.indices, P.data, Y, src, float(dof), bool(compute_kl)
        )
    F_rep, sum_w = repulsion(method, src, Y, same, dof, params)
    if per_point:
        Z = np.maximum(sum_w, np.finfo(float).tiny)
        grad = 4.0 * (exaggeration * F_attr - F_rep / Z[:, None])
    else:
        Z = max(float(sum_w.sum()), np.finfo(float).tiny)
        grad = 4.0 * (exaggeration * F_attr - F_rep / Z)
    if not compute_kl:
        return grad, np.nan
    plogp, row_p = p_terms if p_terms is not None else p_log_p(P.indptr, P.data)
    if per_point:
        kl = plogp - float(logw.sum()) + float(np.sum(row_p * np.log(Z)))
    else:
        kl = plogp - float(logw.sum()) + float(row_p.sum()) * np.log(Z)
    return grad, kl
