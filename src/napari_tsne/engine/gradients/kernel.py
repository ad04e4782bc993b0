"""The heavy-tailed t-SNE kernel ``w = (1 + d^2 / dof)^(-dof)``, shared by the
repulsion methods so that every one of them evaluates it the same way."""

from __future__ import annotations

import numba


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def kernel_weights(d2, dof, unit_dof):
    """``(w, w^(1 + 1/dof))`` at squared distance ``d2`` (``unit_dof``: ``dof == 1``,
    where the power is a plain square)."""
    if unit_dof:
        w = 1.0 / (1.0 + d2)
        return w, w * w
    base = 1.0 + d2 / dof
    w = base ** (-dof)
    return w, w / base
