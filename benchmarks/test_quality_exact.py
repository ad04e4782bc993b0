"""Checks of quality.exact_kl (KL under the exact all-pairs P) against a dense
straightforward reference and against scikit-learn's exact-t-SNE functions.

Not part of the package's test suite (tests/); run it with

    python -m pytest benchmarks/test_quality_exact.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import exact_affinities, exact_kl  # noqa: E402


def data(n=300, d=20, seed=0):
    """Three clusters of different spreads in d dimensions, and a random map."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, d))
    labels = rng.integers(0, 3, n)
    X = centres[labels] + rng.normal(size=(n, d)) * (0.5 + labels[:, None])
    Y = rng.normal(scale=5.0, size=(n, 2))
    return X, Y


def reference_kl(X, Y, perplexity):
    """The textbook definition, dense and row by row: bisection of each row's
    precision on the entropy (200 halvings), P = (P_cond + P_cond^T) / 2n, Q Student-t."""
    n = len(X)
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    target = np.log(perplexity)
    Pc = np.zeros((n, n))
    for i in range(n):
        d = np.delete(D[i], i)
        d = d - d.min()
        lo, hi = -50.0, 50.0  # bisection on log(beta)
        for _ in range(200):
            t = 0.5 * (lo + hi)
            p = np.exp(-np.exp(t) * d)
            p /= p.sum()
            H = -np.sum(p[p > 0] * np.log(p[p > 0]))
            if H > target:
                lo = t
            else:
                hi = t
        Pc[i, np.arange(n) != i] = p
    P = (Pc + Pc.T) / (2 * n)
    W = 1.0 / (1.0 + ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(W, 0.0)
    Q = W / W.sum()
    mask = ~np.eye(n, dtype=bool)
    return float(np.sum(P[mask] * np.log(P[mask] / Q[mask]))), P


@pytest.mark.parametrize("perplexity", [5.0, 30.0])
def test_matches_dense_reference(perplexity):
    X, Y = data()
    ref, P_ref = reference_kl(X, Y, perplexity)
    A = exact_affinities(X, perplexity)
    assert np.allclose(A.dense(), P_ref, rtol=1e-8, atol=1e-15)
    assert exact_kl(X, Y, perplexity) == pytest.approx(ref, rel=1e-9)


def test_duplicates_near_duplicates_and_outliers(recwarn):
    """Rows whose Newton steps start far off (an outlier; a point with 20 exact copies and
    a tight cluster) converge without overflow and agree with the reference."""
    X, Y = data(n=200)
    X[1:21] = X[0]  # 21 identical points: entropy -> log(20) as beta grows
    X[30:60] = X[30] + 1e-6 * np.random.default_rng(2).normal(size=(30, X.shape[1]))
    X[199] = 1e4  # far from everything
    ref, _ = reference_kl(X, Y, 30.0)
    assert exact_kl(X, Y, 30.0) == pytest.approx(ref, rel=1e-8)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_blocks_do_not_change_the_result():
    X, Y = data(n=257)
    whole = exact_kl(X, Y, 30.0, block_rows=257)
    for block in (1, 7, 64):
        assert exact_kl(X, Y, 30.0, block_rows=block) == pytest.approx(whole, rel=1e-12)


def test_calibration_hits_the_perplexity():
    X, _ = data()
    A = exact_affinities(X, 30.0)
    Pc = np.concatenate([A.conditional_block(s, s + 100) for s in range(0, 300, 100)])
    assert np.allclose(Pc.sum(axis=1), 1.0, atol=1e-12)
    H = -np.sum(np.where(Pc > 0, Pc * np.log(np.where(Pc > 0, Pc, 1.0)), 0.0), axis=1)
    assert np.allclose(np.exp(H), 30.0, rtol=1e-8)
    assert A.n_iter.max() < 50  # Newton steps, not a long bisection


def test_reuses_one_calibration_for_several_maps():
    X, Y = data()
    A = exact_affinities(X, 30.0)
    rng = np.random.default_rng(1)
    for _ in range(2):
        Y2 = Y + rng.normal(size=Y.shape)
        assert exact_kl(None, Y2, affinities=A) == pytest.approx(exact_kl(X, Y2), rel=1e-12)


@pytest.mark.parametrize("perplexity", [10.0, 30.0])
def test_matches_scikit_learn(perplexity):
    from scipy.spatial.distance import pdist, squareform
    from sklearn.manifold._t_sne import _joint_probabilities, _kl_divergence

    X, Y = data()
    n = len(X)
    P = _joint_probabilities(squareform(pdist(X, "sqeuclidean")), perplexity, 0)
    sk, _ = _kl_divergence(Y.ravel(), P, 1, n, 2)
    ours = exact_kl(X, Y, perplexity)
    # scikit-learn calibrates in float32 to an entropy tolerance of 1e-5 (measured: 1e-7)
    assert ours == pytest.approx(sk, rel=1e-6)


def test_a_better_map_scores_lower():
    X, Y = data()
    from sklearn.manifold import TSNE

    Y_tsne = TSNE(method="exact", perplexity=30.0, random_state=0, max_iter=500).fit_transform(X)
    assert exact_kl(X, Y_tsne) < 0.5 * exact_kl(X, Y)


def test_rejects_impossible_perplexity():
    X, Y = data(n=20)
    with pytest.raises(ValueError, match="perplexity"):
        exact_kl(X, Y, 30.0)
