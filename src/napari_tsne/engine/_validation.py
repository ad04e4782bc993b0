"""Input checks shared by every public entry point of the engine.

Each check raises :class:`TSNEInputError` (a ``ValueError``) with a message that
names the problem and how to fix it, *before* anything is computed or modified.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp


class TSNEInputError(ValueError):
    """Raised when data or parameters given to the engine cannot be used."""


class TSNEWarning(UserWarning):
    """Something the user should know about a run that goes on (a parameter adjusted,
    a slower search chosen). Front ends show these: the CLI as a line on stderr, the
    napari widget in its message line, Jupyter as a warning."""


class TSNERuntimeWarning(TSNEWarning, RuntimeWarning):
    """A numerical problem the run worked around (skipped steps, a fallback method)."""


MIN_SAMPLES = 4
METRICS = ("euclidean", "sqeuclidean", "cosine", "manhattan", "correlation", "chebyshev")


def check_data(X, *, name: str = "X", allow_sparse: bool = True):
    """Return ``X`` as a 2-D float array (dense float32/float64 or CSR) after validation.

    The caller's array is never modified: a converted copy is made when needed.
    """
    if sp.issparse(X):
        if not allow_sparse:
            raise TSNEInputError(f"{name} is a sparse matrix; this operation needs a dense array.")
        X = sp.csr_matrix(X)
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise TSNEInputError(
                f"{name} has dtype {X.dtype}; t-SNE needs real numbers. Convert it with "
                f"X.astype(float)."
            )
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        _check_shape(X.shape, name)
        bad = ~np.isfinite(X.data)
        if bad.any():
            rows = np.unique(np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[bad])
            raise TSNEInputError(_nonfinite_message(name, rows))
        return X
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X)
        except ValueError as exc:
            raise TSNEInputError(f"{name} could not be read as an array: {exc}") from None
    X = np.asarray(X)
    if X.dtype == bool:
        X = X.astype(np.float64)
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise TSNEInputError(
            f"{name} has dtype {X.dtype}; t-SNE needs a numeric array. Select the numeric "
            f"columns or convert them with X.astype(float)."
        )
    if X.ndim != 2:
        raise TSNEInputError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got {X.ndim}-D "
            f"shape {X.shape}. Use X.reshape(-1, 1) for a single feature or "
            f"X.reshape(len(X), -1) to flatten images."
        )
    _check_shape(X.shape, name)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    finite = np.isfinite(X)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise TSNEInputError(_nonfinite_message(name, rows))
    return X


def _check_shape(shape, name):
    if len(shape) != 2:
        raise TSNEInputError(f"{name} must be 2-D; got shape {shape}.")
    if shape[0] < MIN_SAMPLES:
        raise TSNEInputError(f"{name} has {shape[0]} samples; t-SNE needs at least {MIN_SAMPLES}.")
    if shape[1] < 1:
        raise TSNEInputError(f"{name} has no features (shape {shape}).")


def _nonfinite_message(name, rows) -> str:
    shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
    return (
        f"{name} contains NaN or infinite values in {len(rows)} row(s) (rows {shown}). "
        f"Drop or impute those rows before running t-SNE."
    )


def check_precomputed(D):
    """Validate a precomputed distance matrix: dense square or a sparse kNN graph."""
    if sp.issparse(D):
        D = sp.csr_matrix(D)
        if D.shape[0] != D.shape[1]:
            raise TSNEInputError(
                f"metric='precomputed' needs a square (n_samples, n_samples) distance matrix; "
                f"got shape {D.shape}."
            )
        D = check_data(D, name="the precomputed distance matrix")
        if (D.data < 0).any():
            raise TSNEInputError(
                "The precomputed distance matrix has negative entries; distances must be >= 0."
            )
        return D
    D = check_data(D, name="the precomputed distance matrix", allow_sparse=False)
    if D.shape[0] != D.shape[1]:
        raise TSNEInputError(
            f"metric='precomputed' needs a square (n_samples, n_samples) distance matrix; "
            f"got shape {D.shape}."
        )
    if (D < 0).any():
        raise TSNEInputError(
            "The precomputed distance matrix has negative entries; distances must be >= 0."
        )
    return D


def check_positive(value, name: str, *, integer: bool = False, allow_zero: bool = False):
    """Check that a scalar parameter is a (positive) real or integer number."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
        what = "an integer" if integer else "a finite number"
        raise TSNEInputError(f"{name} must be {what}; got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise TSNEInputError(f"{name} must be {bound}; got {value!r}.")
    return value


def check_n_components(n_components) -> int:
    if (
        isinstance(n_components, bool)
        or not isinstance(n_components, numbers.Integral)
        or not 1 <= n_components <= 3
    ):
        raise TSNEInputError(
            f"n_components must be 1, 2 or 3; got {n_components!r}. t-SNE maps are for "
            f"looking at, so they have at most 3 dimensions."
        )
    return int(n_components)


def check_metric(metric: str) -> str:
    if metric == "precomputed" or metric in METRICS:
        return metric
    raise TSNEInputError(
        f"Unknown metric {metric!r}; choose one of {', '.join(METRICS)} or 'precomputed'."
    )


def check_perplexity(perplexity, n_samples: int, *, warn: bool = True):
    """Validate perplexity (a number or a list of numbers); lower it if it exceeds (n-1)/3."""
    import warnings

    many = np.ndim(perplexity) > 0
    values = list(np.atleast_1d(perplexity)) if many else [perplexity]
    if len(values) == 0:
        raise TSNEInputError("perplexity is an empty list; give at least one value.")
    out = []
    limit = (n_samples - 1) / 3
    for p in values:
        if isinstance(p, np.generic):
            p = p.item()
        check_positive(p, "perplexity")
        if p > limit:
            if warn:
                warnings.warn(
                    f"perplexity {p} is too large for {n_samples} samples; using {limit:.3g} "
                    f"(at most (n_samples - 1) / 3).",
                    TSNEWarning,
                    stacklevel=3,
                )
            p = limit
        out.append(float(p))
    return out if many else out[0]
