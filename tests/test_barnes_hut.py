"""Barnes-Hut repulsion against the exact reference."""

import numpy as np
import pytest

from napari_tsne.engine.gradients.barnes_hut import build_tree, repulsive_bh
from napari_tsne.engine.gradients.exact import repulsive_exact


def _clustered(rng, n, d, k=10, spread=20.0):
    centres = rng.normal(size=(k, d)) * spread
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))


def _rel_err(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("dof", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("same", [True, False])
def test_theta_zero_is_exact(d, dof, same):
    rng = np.random.default_rng(d)
    Y = rng.normal(size=(300, d)) * 4
    T = Y if same else rng.normal(size=(60, d)) * 4
    F, S = repulsive_bh(Y, T, dof, same, 0.0)
    Fe, Se = repulsive_exact(Y, T, dof, same)
    assert F.shape == Fe.shape and S.shape == Se.shape
    assert F.dtype == np.float64 and S.dtype == np.float64
    np.testing.assert_allclose(F, Fe, rtol=1e-10, atol=1e-12 * np.abs(Fe).max())
    np.testing.assert_allclose(S, Se, rtol=1e-10)


@pytest.mark.parametrize("d", [2, 3])
def test_float32_input(d):
    rng = np.random.default_rng(5)
    Y = (rng.normal(size=(200, d)) * 3).astype(np.float32)
    F, S = repulsive_bh(Y, Y, 1.0, True, 0.0)
    Fe, Se = repulsive_exact(Y.astype(np.float64), Y.astype(np.float64), 1.0, True)
    np.testing.assert_allclose(F, Fe, rtol=1e-10, atol=1e-12 * np.abs(Fe).max())
    np.testing.assert_allclose(S, Se, rtol=1e-10)


# theta uses the largest side of a cell's bounding box, as in bhtsne / openTSNE; the
# errors at theta = 0.5 match openTSNE's on the same data (about 2.7% force / 1.1%
# sum_w on a Gaussian blob, below 1% on clustered data)
@pytest.mark.parametrize(
    "kind, d, force_tol, sumw_tol",
    [
        ("clustered", 2, 0.02, 0.01),
        ("clustered", 3, 0.02, 0.01),
        ("gaussian", 2, 0.04, 0.02),
        ("gaussian", 1, 0.04, 0.02),
    ],
)
@pytest.mark.parametrize("same", [True, False])
def test_theta_half_accuracy(kind, d, force_tol, sumw_tol, same):
    rng = np.random.default_rng(11)
    n = 2000
    if kind == "clustered":
        Y = _clustered(rng, n, d)
        T = Y if same else _clustered(rng, 300, d)
    else:
        Y = rng.normal(size=(n, d)) * 5
        T = Y if same else rng.normal(size=(300, d)) * 5
    F, S = repulsive_bh(Y, T, 1.0, same, 0.5)
    Fe, Se = repulsive_exact(Y, T, 1.0, same)
    assert _rel_err(F, Fe) < force_tol
    assert abs(S.sum() / Se.sum() - 1) < sumw_tol
    # per-target sums are close too, and smaller theta is more accurate
    assert np.max(np.abs(S / Se - 1)) < 5 * sumw_tol
    F2, S2 = repulsive_bh(Y, T, 1.0, same, 0.2)
    assert _rel_err(F2, Fe) < _rel_err(F, Fe)
    assert _rel_err(F2, Fe) < force_tol / 2


@pytest.mark.parametrize("theta", [0.0, 0.5])
@pytest.mark.parametrize("same", [True, False])
def test_duplicate_points(theta, same):
    rng = np.random.default_rng(3)
    Y = np.vstack(
        [
            np.tile([[1.0, 2.0]], (400, 1)),  # many identical rows
            np.tile([[1.0, 2.0 + 1e-13]], (50, 1)),  # near-duplicates below the depth cap
            rng.normal(size=(300, 2)),
        ]
    )
    T = Y if same else np.vstack([Y[:5], Y[-5:], rng.normal(size=(20, 2))])
    F, S = repulsive_bh(Y, T, 1.0, same, theta)
    Fe, Se = repulsive_exact(Y, T, 1.0, same)
    assert np.all(np.isfinite(F)) and np.all(np.isfinite(S))
    if theta == 0.0:
        np.testing.assert_allclose(S, Se, rtol=1e-10)
        np.testing.assert_allclose(F, Fe, rtol=1e-8, atol=1e-10 * np.abs(Fe).max())
    else:
        assert _rel_err(F, Fe) < 0.03
        assert abs(S.sum() / Se.sum() - 1) < 0.01


@pytest.mark.parametrize("same", [True, False])
def test_all_points_identical(same):
    Y = np.zeros((1000, 2))
    T = Y if same else np.array([[0.0, 0.0], [1.0, 0.0]])
    F, S = repulsive_bh(Y, T, 1.0, same, 0.5)
    if same:
        np.testing.assert_array_equal(F, 0.0)
        np.testing.assert_allclose(S, 999.0)
    else:
        np.testing.assert_allclose(S, [1000.0, 500.0])
        np.testing.assert_allclose(F, [[0.0, 0.0], [250.0, 0.0]])


def test_cluster_plus_far_outliers():
    rng = np.random.default_rng(7)
    Y = np.vstack([rng.normal(size=(1500, 2)) * 0.5, rng.uniform(-1e4, 1e4, size=(10, 2))])
    for theta in (0.0, 0.5):
        F, S = repulsive_bh(Y, Y, 1.0, True, theta)
        Fe, Se = repulsive_exact(Y, Y, 1.0, True)
        assert np.all(np.isfinite(F))
        if theta == 0.0:
            np.testing.assert_allclose(S, Se, rtol=1e-10)
            np.testing.assert_allclose(F, Fe, rtol=1e-8, atol=1e-10 * np.abs(Fe).max())
        else:
            assert _rel_err(F, Fe) < 0.02
            assert abs(S.sum() / Se.sum() - 1) < 0.01
            # the outliers feel the cluster as one heavy point
            row_err = np.linalg.norm(F[-10:] - Fe[-10:], axis=1)
            assert np.all(row_err < 1e-2 * np.linalg.norm(Fe[-10:], axis=1))
            np.testing.assert_allclose(S[-10:], Se[-10:], rtol=1e-3)


def test_tiny_inputs():
    F, S = repulsive_bh(np.array([[0.5, 0.5]]), None, 1.0, True, 0.5)
    np.testing.assert_array_equal(F, 0.0)
    np.testing.assert_array_equal(S, 0.0)
    F, S = repulsive_bh(np.zeros((0, 2)), np.ones((3, 2)), 1.0, False, 0.5)
    assert F.shape == (3, 2) and S.shape == (3,) and not S.any()
    with pytest.raises(ValueError):
        repulsive_bh(np.zeros((5, 4)), np.zeros((5, 4)), 1.0, True, 0.5)


def test_tree_structure():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(1000, 2))
    Ys, perm, start, end, first_child, n_child, com, lo, hi = build_tree(Y, 8, 48)
    np.testing.assert_array_equal(np.sort(perm), np.arange(1000))
    np.testing.assert_array_equal(Ys, Y[perm])
    assert start[0] == 0 and end[0] == 1000
    np.testing.assert_allclose(com[0], Y.mean(0))
    leaves = n_child == 0
    assert np.all(end[leaves] - start[leaves] <= 8)
    assert (end[leaves] - start[leaves]).sum() == 1000
    for k in np.flatnonzero(~leaves):
        kids = np.arange(first_child[k], first_child[k] + n_child[k])
        assert start[kids[0]] == start[k] and end[kids[-1]] == end[k]
        np.testing.assert_array_equal(start[kids[1:]], end[kids[:-1]])


# --- quadrupole terms (dof = 1) ----------------------------------------------------


def _generic(Y, T, same, theta, quad=True):
    """The general walk (any d) on the same tree, for comparison with the 2-D path."""
    from napari_tsne.engine.gradients import barnes_hut as B

    Ys, perm, start, end, fc, nc, com, lo, hi = B.build_tree(Y, B.LEAF_SIZE, B.MAX_DEPTH)
    nodes_f, nodes_i = B._pack_nodes(Ys, start, end, fc, nc, com, lo, hi, quad)
    stack = (B._max_depth(fc, nc) + 1) * (1 << Y.shape[1]) + 1
    order = perm if same else np.arange(len(T))
    F, S = np.zeros(T.shape), np.zeros(len(T))
    args = (Ys, perm, nodes_f, nodes_i, lo, hi, T, order, 1.0, same, theta, stack, F, S)
    B._bh_forces(*args, 0, len(T))
    return F, S


def test_second_moments_of_every_node():
    from napari_tsne.engine.gradients import barnes_hut as B

    rng = np.random.default_rng(1)
    for d in (1, 2, 3):
        Y = _clustered(rng, 700, d)
        Ys, perm, start, end, fc, nc, com, lo, hi = B.build_tree(Y, 8, 48)
        nodes_f, _ = B._pack_nodes(Ys, start, end, fc, nc, com, lo, hi, True)
        iu = np.triu_indices(d)
        for k in range(len(start)):
            D = Ys[start[k] : end[k]] - com[k]
            np.testing.assert_allclose(
                nodes_f[k, d + 2 :], (D.T @ D)[iu], rtol=1e-9, atol=1e-9 * max(1, np.abs(D).max())
            )


@pytest.mark.parametrize("kind", ["clustered", "gaussian"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_quadrupoles_are_an_order_more_accurate(kind, d):
    """Summarised cells with their quadrupole terms: the error at theta = 0.5 is about a
    tenth of the centre-of-mass summary's (measured: 2-D Gaussian blob, force 2.7% ->
    0.27%, sum_w 2.7% -> 0.15%)."""
    rng = np.random.default_rng(2)
    Y = _clustered(rng, 3000, d) if kind == "clustered" else rng.normal(size=(3000, d)) * 5
    Fe, Se = repulsive_exact(Y, Y, 1.0, True)
    Fm, Sm = repulsive_bh(Y, Y, 1.0, True, 0.5, quadrupole=False)
    Fq, Sq = repulsive_bh(Y, Y, 1.0, True, 0.5)
    assert _rel_err(Fq, Fe) < 0.3 * _rel_err(Fm, Fe)
    assert np.abs(Sq / Se - 1).max() < 0.3 * np.abs(Sm / Se - 1).max()
    # larger theta with quadrupoles still beats the centre of mass at 0.5
    Fq7, _ = repulsive_bh(Y, Y, 1.0, True, 0.7)
    assert _rel_err(Fq7, Fe) < _rel_err(Fm, Fe)


@pytest.mark.parametrize("same", [True, False])
@pytest.mark.parametrize("theta", [0.3, 0.5, 0.9])
def test_quadrupole_2d_path_equals_the_general_walk(same, theta):
    rng = np.random.default_rng(4)
    Y = _clustered(rng, 2500, 2)
    T = Y if same else rng.normal(size=(200, 2)) * 20
    F, S = repulsive_bh(Y, T, 1.0, same, theta)
    F2, S2 = _generic(Y, T, same, theta)
    np.testing.assert_allclose(F, F2, rtol=1e-9, atol=1e-12 * np.abs(F2).max())
    np.testing.assert_allclose(S, S2, rtol=1e-9)


def test_other_dof_keep_the_centre_of_mass_summary():
    rng = np.random.default_rng(6)
    Y = rng.normal(size=(1500, 2)) * 4
    for dof in (0.5, 2.0):
        F, S = repulsive_bh(Y, Y, dof, True, 0.5)
        Fm, Sm = repulsive_bh(Y, Y, dof, True, 0.5, quadrupole=False)
        np.testing.assert_array_equal(F, Fm)
        np.testing.assert_array_equal(S, Sm)
