"""Initial maps: PCA, spectral (Laplacian eigenmaps on P), random, or the user's array.

t-SNE keeps the global layout of its initialisation (Kobak & Linderman 2021), so the
default is PCA, rescaled like openTSNE so that the first axis has standard deviation
1e-4 (small enough for the early-exaggeration phase to act freely).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._validation import TSNEInputError

INIT_STD = 1e-4
INITS = ("pca", "spectral", "random")


def rescale(Y: np.ndarray, std: float = INIT_STD) -> np.ndarray:
    """Centre ``Y`` and scale it so that its first column has standard deviation ``std``."""
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y - Y.mean(axis=0)
    s = Y[:, 0].std()
    return Y * (std / s) if s > 0 else Y


def _fix_signs(V: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each column positive (deterministic output)."""
    idx = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[idx, np.arange(V.shape[1])])
    signs[signs == 0] = 1
    return V * signs


def _moderate(X):
    """``X`` times a power of two (exact) if its magnitude would over- or underflow the
    covariance ``X^T X``; the result is rescaled anyway, so nothing else changes."""
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return X
    top = max(abs(float(values.max())), abs(float(values.min())))
    if top == 0 or 2.0**-64 <= top <= 2.0**64:
        return X
    scale = 2.0 ** -np.frexp(top)[1]
    return X.astype(np.float64) * scale


def principal_components(
    X, n_components: int, random_state: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(scores, axes)`` of the top principal components of dense or sparse ``X``.

    ``axes`` (n_features, k) are unit directions, ``scores`` (n, k) the projection of
    the centred ``X`` onto them (up to the exact power-of-two factor of
    :func:`_moderate`), with ``k <= n_components``; signs make the largest-magnitude
    score of each component positive. None when ``X`` has no direction to find.
    Used by the PCA initialisation and by ``napari_tsne.tl``'s PCA.
    """
    n, d = X.shape
    X = _moderate(X)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        mu = np.asarray(X.mean(axis=0)).ravel()
        # scipy may pass (k, 1) columns: flatten them so that ``mu * u.sum()`` cannot
        # broadcast into a (d, d) matrix
        op = spla.LinearOperator(
            (n, d),
            matvec=lambda v: X @ np.ravel(v) - mu @ np.ravel(v),
            rmatvec=lambda u: X.T @ np.ravel(u) - mu * np.sum(u),
            dtype=np.float64,
        )
        k = min(n_components, min(n, d) - 1)
        if k < 1:
            return None
        v0 = random_state.standard_normal(min(n, d))
        U, S, Vt = spla.svds(op, k=k, v0=v0)
        order = np.argsort(S)[::-1]
        Y, V = U[:, order] * S[order], Vt[order].T
    else:
        Xc = np.asarray(X, dtype=np.float64)
        Xc = Xc - Xc.mean(axis=0)
        if d <= 2000:
            C = Xc.T @ Xc
            evals, evecs = np.linalg.eigh(C)
            V = evecs[:, ::-1][:, :n_components]
            Y = Xc @ V
        else:
            k = min(n_components, min(n, d) - 1)
            U, S, Vt = spla.svds(Xc, k=k, v0=random_state.standard_normal(min(n, d)))
            order = np.argsort(S)[::-1]
            Y, V = U[:, order] * S[order], Vt[order].T
    idx = np.argmax(np.abs(Y), axis=0)
    signs = np.sign(Y[idx, np.arange(Y.shape[1])])
    signs[signs == 0] = 1
    return Y * signs, V * signs


def pca_init(X, n_components: int, random_state: np.random.Generator) -> np.ndarray:
    """Projection onto the top principal components (dense or sparse ``X``)."""
    n = X.shape[0]
    found = principal_components(X, n_components, random_state)
    if found is None:
        return random_init(n, n_components, random_state)
    Y = found[0]
    if Y.shape[1] < n_components:  # fewer informative directions than requested
        pad = random_state.standard_normal((n, n_components - Y.shape[1])) * 1e-8
        Y = np.hstack([Y, pad])
    Y = _fix_signs(Y)
    if not np.any(Y.std(axis=0) > 0):  # constant data: no direction to follow
        return random_init(n, n_components, random_state)
    return rescale(Y)


def spectral_init(P: sp.csr_matrix, n_components: int, random_state: np.random.Generator):
    """Leading non-trivial eigenvectors of the normalised affinity D^-1/2 P D^-1/2."""
    n = P.shape[0]
    deg = np.asarray(P.sum(axis=1)).ravel()
    deg[deg == 0] = 1.0
    inv_sqrt = 1.0 / np.sqrt(deg)
    A = sp.diags(inv_sqrt) @ P.astype(np.float64) @ sp.diags(inv_sqrt)
    k = n_components + 1
    v0 = np.sqrt(deg) + 1e-3 * random_state.standard_normal(n)
    try:
        if n <= k + 1 or n < 200:
            evals, evecs = np.linalg.eigh(A.toarray())
        else:
            evals, evecs = spla.eigsh(A, k=k, which="LA", v0=v0, tol=1e-6, maxiter=n * 10)
    except spla.ArpackNoConvergence:
        evals, evecs = np.linalg.eigh(A.toarray()) if n < 5000 else (None, None)
        if evals is None:
            raise TSNEInputError(
                "The spectral initialisation did not converge; use init='pca' instead."
            ) from None
    order = np.argsort(evals)[::-1]
    V = evecs[:, order[1:k]] * inv_sqrt[:, None]
    return rescale(_fix_signs(V))


def random_init(n: int, n_components: int, random_state: np.random.Generator) -> np.ndarray:
    return random_state.standard_normal((n, n_components)) * INIT_STD


def user_init(Y0, n_samples: int, n_components: int) -> np.ndarray:
    Y0 = np.asarray(Y0)
    if Y0.ndim != 2 or Y0.shape != (n_samples, n_components):
        raise TSNEInputError(
            f"The initial map has shape {Y0.shape}; expected ({n_samples}, {n_components}) "
            f"(n_samples, n_components)."
        )
    if not np.issubdtype(Y0.dtype, np.number) or not np.isfinite(Y0).all():
        raise TSNEInputError("The initial map must hold finite numbers.")
    return np.array(Y0, dtype=np.float64)


def initialize(init, X, P, n_components: int, random_state: np.random.Generator) -> np.ndarray:
    """Dispatch on ``init``: a name in :data:`INITS` or an array of shape (n, n_components)."""
    n = P.shape[0]
    if isinstance(init, str):
        if init == "pca":
            if X is None:  # precomputed distances have no features to project
                return spectral_init(P, n_components, random_state)
            return pca_init(X, n_components, random_state)
        if init == "spectral":
            return spectral_init(P, n_components, random_state)
        if init == "random":
            return random_init(n, n_components, random_state)
        raise TSNEInputError(
            f"Unknown init {init!r}; use 'pca', 'spectral', 'random' or an array of shape "
            f"(n_samples, n_components)."
        )
    return user_init(init, n, n_components)
