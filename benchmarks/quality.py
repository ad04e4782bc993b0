"""Quality measures of a map shared by the benchmarks."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def knn_indices(Z: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k nearest other rows (exact)."""
    idx = NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z, return_distance=False)
    return idx[:, 1:]


def knn_loo_accuracy(Y: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Leave-one-out k-NN accuracy: each point's label by majority of its k nearest others."""
    votes = np.asarray(y)[knn_indices(Y, k)]
    n_classes = int(np.max(y)) + 1
    counts = np.zeros((len(y), n_classes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(y)), k), votes.ravel()), 1)
    return float(np.mean(counts.argmax(axis=1) == y))


def knn_recall(
    X: np.ndarray, Y: np.ndarray, k: int = 10, n_eval: int = 10_000, seed: int = 0
) -> float:
    """Fraction of each point's k nearest neighbours in X that are also among its k
    nearest in the map Y (averaged over up to ``n_eval`` random points)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), size=min(n_eval, len(X)), replace=False)
    nx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X[rows], return_distance=False)
    ny = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y[rows], return_distance=False)
    hits = [len(set(a[1:]) & set(b[1:])) for a, b in zip(nx, ny, strict=True)]
    return float(np.mean(hits) / k)


# --- KL divergence under the exact all-pairs P ------------------------------------------
#
# P is the textbook one (van der Maaten & Hinton 2008): for each point i a Gaussian over
# ALL n - 1 other points, its precision beta_i set so that the entropy of p_{.|i} is
# log(perplexity), and p_ij = (p_{j|i} + p_{i|j}) / 2n. Q is the Student-t (one degree of
# freedom) over all pairs of map points. Nothing is truncated to neighbours, so this is
# the objective every tool approximates; it costs O(n^2) time but only O(block * n)
# memory: rows are processed in blocks, and p_{i|j} of a block's columns is recomputed
# from the per-row (beta_j, shift_j, log-normaliser_j) found by the calibration.


def _default_block_rows(n: int) -> int:
    """Rows per block so that one (block, n) float64 array is about 32 MB."""
    return int(max(1, min(n, (1 << 22) // max(n, 1))))


def _sq_dists(A: np.ndarray, B: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Squared euclidean distances between the rows of A and B (float64, >= 0)."""
    D = A @ B.T
    D *= -2.0
    D += a2[:, None]
    D += b2[None, :]
    np.maximum(D, 0.0, out=D)
    return D


class ExactAffinities:
    """The calibration of the exact all-pairs P of ``X`` at one perplexity.

    For each row i: ``beta[i]`` (precision of the Gaussian over squared euclidean
    distances), ``shift[i]`` (the smallest squared distance to another point, subtracted
    before the exponential) and ``log_norm[i]`` (log of the shifted row sum), so that
    ``p_{j|i} = exp(-beta_i (d_ij - shift_i) - log_norm_i)``. Build it with
    :func:`exact_affinities`; :func:`exact_kl` accepts it to score several maps of the
    same data without calibrating again.
    """

    def __init__(self, X, perplexity, beta, shift, log_norm, n_iter, block_rows):
        self.X = X
        self.sq_norms = np.einsum("ij,ij->i", X, X)
        self.perplexity = float(perplexity)
        self.beta = beta
        self.shift = shift
        self.log_norm = log_norm
        self.n_iter = n_iter  # calibration iterations per row
        self.block_rows = block_rows
        self._plogp = None  # sum p log p (and sum p), filled by the first exact_kl

    @property
    def n(self) -> int:
        return len(self.X)

    def conditional_block(self, start: int, stop: int) -> np.ndarray:
        """``p_{j|i}`` for rows ``i`` in ``[start, stop)`` and all ``j`` (diagonal 0)."""
        rows = np.arange(start, stop)
        D = _sq_dists(self.X[start:stop], self.X, self.sq_norms[start:stop], self.sq_norms)
        D[rows - start, rows] = np.inf  # exp(-inf) = 0: no p_{i|i}, no overflow
        D -= self.shift[start:stop, None]
        D *= -self.beta[start:stop, None]
        D -= self.log_norm[start:stop, None]
        np.exp(D, out=D)
        return D

    def joint_block(self, start: int, stop: int) -> np.ndarray:
        """``p_ij = (p_{j|i} + p_{i|j}) / 2n`` for rows ``[start, stop)``, all columns."""
        rows = np.arange(start, stop)
        D = _sq_dists(self.X[start:stop], self.X, self.sq_norms[start:stop], self.sq_norms)
        # the diagonal: exp(-inf) = 0, where d_ii - shift < 0 could overflow the exponential
        D[rows - start, rows] = np.inf
        # p_{i|j}: column j's own Gaussian, evaluated at the (symmetric) distance d_ij
        T = D - self.shift[None, :]
        T *= -self.beta[None, :]
        T -= self.log_norm[None, :]
        np.exp(T, out=T)
        D -= self.shift[start:stop, None]
        D *= -self.beta[start:stop, None]
        D -= self.log_norm[start:stop, None]
        np.exp(D, out=D)
        D += T
        D *= 0.5 / self.n
        return D

    def dense(self) -> np.ndarray:
        """The whole (n, n) P; for small n only (tests)."""
        return np.concatenate(
            [
                self.joint_block(s, min(s + self.block_rows, self.n))
                for s in range(0, self.n, self.block_rows)
            ]
        )


def exact_affinities(
    X: np.ndarray,
    perplexity: float = 30.0,
    *,
    tol: float = 1e-10,
    max_iter: int = 200,
    block_rows: int | None = None,
) -> ExactAffinities:
    """Calibrate the exact all-pairs P of ``X`` (see :class:`ExactAffinities`).

    Each row's precision is found by safeguarded Newton steps on ``log beta`` (the
    entropy's derivative is ``-beta^2 Var(d)`` under the row's distribution), falling
    back to bisection of the bracket whenever a step leaves it, until the entropy (in
    nats) is within ``tol`` of ``log(perplexity)``. Memory is O(block_rows * n).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = len(X)
    if not 0 < perplexity < n - 1:
        raise ValueError(f"perplexity must be in (0, n - 1) = (0, {n - 1}), got {perplexity}")
    block_rows = block_rows or _default_block_rows(n)
    target = np.log(perplexity)
    sq = np.einsum("ij,ij->i", X, X)
    beta = np.empty(n)
    shift = np.empty(n)
    log_norm = np.empty(n)
    n_iter = np.zeros(n, dtype=np.int64)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        b = stop - start
        rows = np.arange(start, stop)
        D = _sq_dists(X[start:stop], X, sq[start:stop], sq)
        D[rows - start, rows] = np.inf
        s = D.min(axis=1)
        D -= s[:, None]
        D[rows - start, rows] = 0.0  # masked out of every sum below
        shift[start:stop] = s
        # start at 1 / (mean shifted distance): the right order of magnitude
        t = -np.log(np.maximum(D.sum(axis=1) / (n - 1), 1e-300))
        lo = np.full(b, -np.inf)
        hi = np.full(b, np.inf)
        active = np.arange(b)
        for it in range(max_iter):
            Da = D if len(active) == b else D[active]
            cols = rows[active]
            bt = np.exp(t[active])
            E = Da * -bt[:, None]
            np.exp(E, out=E)
            E[np.arange(len(active)), cols] = 0.0
            S = E.sum(axis=1)
            m1 = np.einsum("ij,ij->i", E, Da) / S
            E *= Da
            m2 = np.einsum("ij,ij->i", E, Da) / S
            H = np.log(S) + bt * m1
            diff = H - target
            done = np.abs(diff) < tol
            idx = active[done]
            beta[start + idx] = bt[done]
            log_norm[start + idx] = np.log(S[done])
            n_iter[start + idx] = it + 1
            keep = ~done
            active, diff, bt = active[keep], diff[keep], bt[keep]
            var = np.maximum(m2[keep] - m1[keep] ** 2, 0.0)
            if len(active) == 0:
                break
            ta = t[active]
            # entropy too high -> beta too small -> raise the lower end of the bracket
            high = diff > 0
            lo[active] = np.where(high, ta, lo[active])
            hi[active] = np.where(high, hi[active], ta)
            with np.errstate(all="ignore"):  # var 0 or tiny: bisect instead
                step = diff / (bt * bt * var)
            # at most a factor e^4 in beta per step (far from the root the entropy's
            # slope says little); the bracket then takes over
            newton = ta + np.clip(step, -4.0, 4.0)
            la, ha = lo[active], hi[active]
            bad = ~np.isfinite(newton) | (newton <= la) | (newton >= ha)
            bisect = np.where(
                np.isfinite(la) & np.isfinite(ha),
                0.5 * (la + ha),
                np.where(high, ta + 2.0, ta - 2.0),
            )
            t[active] = np.where(bad, bisect, newton)
        else:
            raise RuntimeError(
                f"perplexity calibration did not converge for {len(active)} rows "
                f"(e.g. row {start + active[0]}) in {max_iter} iterations; a point with "
                "perplexity or more exact duplicates has no such calibration"
            )
    return ExactAffinities(X, perplexity, beta, shift, log_norm, n_iter, block_rows)


def exact_kl(
    X: np.ndarray | None,
    Y: np.ndarray,
    perplexity: float = 30.0,
    *,
    affinities: ExactAffinities | None = None,
    block_rows: int | None = None,
) -> float:
    """KL(P || Q) of the map ``Y`` under the exact all-pairs P of ``X`` (natural log).

    P: Gaussian conditionals over all n - 1 other points calibrated to ``perplexity``
    by :func:`exact_affinities`, symmetrised as ``(p_{j|i} + p_{i|j}) / 2n``; Q:
    ``(1 + |y_i - y_j|^2)^-1`` over all pairs, normalised. Computed in row blocks
    (O(block_rows * n) memory); pass ``affinities`` (from :func:`exact_affinities`,
    with ``X=None`` allowed) to score several maps of the same data with one
    calibration: its sum of ``p log p`` is computed once and kept.
    """
    from scipy.special import xlogy

    if affinities is None:
        if X is None:
            raise ValueError("give X or affinities")
        affinities = exact_affinities(X, perplexity, block_rows=block_rows)
    A = affinities
    n = A.n
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    if Y.shape[0] != n:
        raise ValueError(f"Y has {Y.shape[0]} rows, the data {n}")
    y2 = np.einsum("ij,ij->i", Y, Y)
    block = block_rows or A.block_rows
    need_plogp = A._plogp is None
    plogp = psum = plogw = z = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = np.arange(start, stop)
        P = A.joint_block(start, stop)
        if need_plogp:
            plogp += float(xlogy(P, P).sum())
            psum += float(P.sum())
        W = _sq_dists(Y[start:stop], Y, y2[start:stop], y2)
        W += 1.0
        np.reciprocal(W, out=W)  # w_ij = 1 / (1 + d_ij)
        W[rows - start, rows] = 0.0
        z += float(W.sum())
        W[rows - start, rows] = 1.0  # log 1 = 0 where P is 0
        np.log(W, out=W)
        plogw += float(np.einsum("ij,ij->", P, W))
    if need_plogp:
        A._plogp = (plogp, psum)
    plogp, psum = A._plogp
    # with P normalised by its sum (1 up to rounding): KL = sum p log p - sum p log w + log Z
    return float(plogp / psum - np.log(psum) - plogw / psum + np.log(z))
