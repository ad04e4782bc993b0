"""FFT-accelerated (FIt-SNE) repulsion against the exact O(n^2) reference.

Measured errors with 3 interpolation points, ``min_num_intervals=50``,
``ints_in_interval=1`` (1,500 sources, 400 new targets; worst case over d = 1, 2,
dof = 1, 0.5, 3 and same = True / False), relative errors
``||F_fft - F_exact|| / ||F_exact||``:

=============  ========  ========  ==========
map extent     forces    sum_w     Z = sum
=============  ========  ========  ==========
~1             6e-7      2e-7      1e-7
~10            4e-4      1e-4      1e-5
~50            2.5e-2    5e-3      2.4e-3
=============  ========  ========  ==========

The error is that of the interpolation (intervals of width ~1 at extent 50, as in
openTSNE, which has the same error there); the float32 FFT sets the floor of ~1e-7.
The bounds below leave a margin of about 2-3x.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest

from napari_tsne.engine.gradients.exact import repulsive_exact
from napari_tsne.engine.gradients.fft import repulsive_fft

#: (forces, sum_w, Z) bounds per data set
BOUNDS = {
    "uniform1": (1e-5, 1e-5, 1e-5),
    "clusters10": (1.5e-3, 4e-4, 1e-4),
    "clusters50": (6e-2, 1.5e-2, 6e-3),
}
DEFAULTS = (3, 50, 1.0)  # n_interpolation_points, min_num_intervals, ints_in_interval


def make(kind: str, d: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform1":
        return rng.uniform(0, 1, size=(n, d))
    ext = {"clusters10": 10.0, "clusters50": 50.0}[kind]
    k = 8
    centres = rng.uniform(0, ext, size=(k, d))
    lab = rng.integers(0, k, n)
    spread = rng.uniform(0.2, 1.5, k)[lab, None] * ext / 25
    return centres[lab] + rng.normal(size=(n, d)) * spread


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def errors(Ys, Yt, dof, same, params=DEFAULTS):
    f, s = repulsive_fft(Ys, Yt, dof, same, *params)
    fe, se = repulsive_exact(Ys, Yt, dof, same)
    assert f.shape == fe.shape and s.shape == se.shape
    assert f.dtype == np.float64 and s.dtype == np.float64
    return rel(f, fe), rel(s, se), abs(s.sum() / se.sum() - 1.0)


@pytest.mark.parametrize(
    "kind, d, dof, same",
    list(itertools.product(BOUNDS, (1, 2), (1.0, 0.5, 3.0), (True, False))),
)
def test_matches_exact(kind, d, dof, same):
    Ys = make(kind, d, 1500, 0)
    Yt = Ys if same else make(kind, d, 400, 1)  # new points, distinct from the map
    err_f, err_s, err_z = errors(Ys, Yt, dof, same)
    bf, bs, bz = BOUNDS[kind]
    assert err_f < bf, f"forces rel error {err_f:.2e}"
    assert err_s < bs, f"sum_w rel error {err_s:.2e}"
    assert err_z < bz, f"Z rel error {err_z:.2e}"


@pytest.mark.parametrize("d", [1, 2])
def test_targets_outside_sources(d):
    """New points placed beyond the reference map: the grid covers both sets."""
    rng = np.random.default_rng(2)
    Ys = rng.normal(size=(2000, d))
    Yt = rng.normal(size=(300, d)) * 3 + 4
    for dof in (1.0, 3.0):
        err_f, err_s, err_z = errors(Ys, Yt, dof, False)
        assert err_f < 2e-3 and err_s < 1e-3 and err_z < 1e-3


@pytest.mark.parametrize("d", [1, 2])
def test_converges_with_finer_interpolation(d):
    """More nodes / narrower intervals shrink the error (checks the Lagrange code for
    other p too)."""
    Y = make("clusters50", d, 1500, 3)
    e3 = errors(Y, Y, 1.0, True, (3, 50, 1.0))[0]
    e5 = errors(Y, Y, 1.0, True, (5, 50, 1.0))[0]
    e3_half = errors(Y, Y, 1.0, True, (3, 50, 0.5))[0]
    assert e5 < e3 / 3
    assert e3_half < e3 / 3
    assert e5 < 1e-2


def test_as_accurate_as_opentsne():
    _tsne = pytest.importorskip("openTSNE._tsne")
    Y = np.ascontiguousarray(make("clusters50", 2, 2000, 4))
    fe, se = repulsive_exact(Y, Y, 1.0, True)
    grad = np.zeros_like(Y)
    sum_q = _tsne.estimate_negative_gradient_fft_2d(Y, grad, 3, 50, 1.0, 1.0)
    err_ot = rel(-grad * sum_q, fe)  # openTSNE returns -F / Z
    err_ours = errors(Y, Y, 1.0, True)[0]
    assert err_ours < 1.5 * err_ot, (err_ours, err_ot)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("dof", [1.0, 0.7])
def test_identical_points_finite(d, dof):
    n = 500
    for value in (0.0, 3.7, 1e6):
        Y = np.full((n, d), value)
        f, s = repulsive_fft(Y, Y, dof, True, *DEFAULTS)
        assert np.isfinite(f).all() and np.isfinite(s).all()
        np.testing.assert_allclose(s, n - 1, rtol=1e-5)
        assert np.abs(f).max() < 1e-6
        # placing new points onto a map of identical points
        f, s = repulsive_fft(Y, Y[:3] + 0.0, dof, False, *DEFAULTS)
        np.testing.assert_allclose(s, n, rtol=1e-5)


@pytest.mark.parametrize("d", [1, 2])
def test_coincident_pairs_and_flat_maps(d):
    rng = np.random.default_rng(5)
    Y = np.repeat(rng.normal(size=(400, d)) * 2, 2, axis=0)  # every point twice
    for dof in (1.0, 0.5):
        err_f, err_s, err_z = errors(Y, Y, dof, True)
        assert err_f < 2e-3 and err_s < 1e-3 and err_z < 1e-3
    if d == 2:  # all points on a line: zero extent along one axis
        line = np.c_[np.linspace(0, 10, 800), np.full(800, 2.0)]
        err_f, err_s, _ = errors(line, line, 1.0, True)
        assert err_f < 2e-3 and err_s < 1e-3


def test_tiny_inputs():
    one = np.array([[1.0, 2.0]])
    f, s = repulsive_fft(one, one, 1.0, True, *DEFAULTS)
    assert np.abs(f).max() < 1e-9 and abs(s[0]) < 1e-5
    two = np.array([[0.0, 0.0], [1.0, 0.5]])
    f, s = repulsive_fft(two, two, 1.0, True, *DEFAULTS)
    fe, se = repulsive_exact(two, two, 1.0, True)
    np.testing.assert_allclose(f, fe, atol=1e-5)
    np.testing.assert_allclose(s, se, rtol=1e-4)
    f, s = repulsive_fft(two, two[:0], 1.0, False, *DEFAULTS)
    assert f.shape == (0, 2) and s.shape == (0,)


def test_float32_input_and_thread_count():
    Y = make("clusters10", 2, 2000, 6)
    f64, s64 = repulsive_fft(Y, Y, 1.0, True, *DEFAULTS)
    f32, s32 = repulsive_fft(Y.astype(np.float32), Y.astype(np.float32), 1.0, True, *DEFAULTS)
    assert f32.dtype == np.float64
    assert rel(f32, f64) < 1e-4 and rel(s32, s64) < 1e-5
    # race-free: deterministic, and the same (up to rounding) for any thread count
    again = repulsive_fft(Y, Y, 1.0, True, *DEFAULTS)
    np.testing.assert_array_equal(again[0], f64)
    np.testing.assert_array_equal(again[1], s64)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        f1, s1 = repulsive_fft(Y, Y, 1.0, True, *DEFAULTS)
    finally:
        numba.set_num_threads(previous)
    assert rel(f1, f64) < 1e-5 and rel(s1, s64) < 1e-5


def test_dispatcher_uses_fft():
    from napari_tsne.engine.gradients import RepulsionParams, repulsion

    Y = make("clusters10", 2, 1500, 7)
    f, s = repulsion("fft", Y, Y, True, 1.0, RepulsionParams())
    fe, se = repulsive_exact(Y, Y, 1.0, True)
    assert rel(f, fe) < 2e-3 and rel(s, se) < 5e-4


def test_rejects_3d():
    Y = np.zeros((10, 3))
    with pytest.raises(ValueError):
        repulsive_fft(Y, Y, 1.0, True, *DEFAULTS)


def test_map_wider_than_grid_falls_back_to_barnes_hut():
    """A 2-D map wider than the grid's interval cap is handed to Barnes-Hut (with a
    warning) instead of being interpolated on intervals wider than the kernel."""
    from napari_tsne.engine.gradients.barnes_hut import repulsive_bh
    from napari_tsne.engine.gradients.fft import MAX_INTERVALS_2D

    rng = np.random.default_rng(3)
    Y = rng.normal(size=(400, 2)) * MAX_INTERVALS_2D
    with pytest.warns(RuntimeWarning, match="wider than the FFT grid"):
        F, S = repulsive_fft(Y, Y, 1.0, True, *DEFAULTS)
    F_bh, S_bh = repulsive_bh(Y, Y, 1.0, True, 0.5)
    np.testing.assert_array_equal(F, F_bh)
    np.testing.assert_array_equal(S, S_bh)
    F_ex, S_ex = repulsive_exact(Y, Y, 1.0, True)
    assert np.linalg.norm(S - S_ex) / np.linalg.norm(S_ex) < 1e-2
    assert np.all(S > 0)


def test_auto_picks_the_cheaper_of_barnes_hut_and_fft_per_evaluation():
    """Above 1,000 points (1-D, 2-D) "auto" takes the FFT while its grid has at most
    one box per point (a compact map), else Barnes-Hut; the result is exactly that of
    the method chosen."""
    from napari_tsne.engine.gradients import (
        BH_OR_FFT,
        RepulsionParams,
        cheaper_method,
        repulsion,
        resolve_method,
    )

    assert resolve_method("auto", 1_000, 2) == "exact"
    assert resolve_method("auto", 6_000, 2) == BH_OR_FFT
    assert resolve_method("auto", 6_000, 1) == BH_OR_FFT
    assert resolve_method("auto", 6_000, 3) == "bh"
    assert resolve_method("auto", 10_001, 2) == BH_OR_FFT
    assert resolve_method("auto", 1_000_000, 2) == BH_OR_FFT
    assert resolve_method("fft", 10_001, 2) == "fft"
    assert resolve_method("bh", 6_000, 2) == "bh"
    rng = np.random.default_rng(0)
    params = RepulsionParams()
    unit = rng.uniform(-0.5, 0.5, size=(6_000, 2))
    compact, wide = 5.0 * unit, 160.0 * unit  # 50 x 50 vs 160 x 160 intervals
    assert cheaper_method(compact, params) == "fft"
    assert cheaper_method(wide, params) == "bh"
    assert cheaper_method(90.0 * unit, params) == "bh"  # 8,100 boxes > 6,000 points
    assert cheaper_method(75.0 * unit, params) == "fft"  # 5,625 boxes
    assert cheaper_method(5.0 * unit[:2_000], params) == "bh"  # 2,500 boxes > 2,000
    for Y, chosen in ((compact, "fft"), (wide, "bh")):
        F, S = repulsion(BH_OR_FFT, Y, Y, True, 1.0, params)
        Fc, Sc = repulsion(chosen, Y, Y, True, 1.0, params)
        np.testing.assert_array_equal(F, Fc)
        np.testing.assert_array_equal(S, Sc)
        Fe, Se = repulsive_exact(Y, Y, 1.0, True)
        assert np.linalg.norm(F - Fe) / np.linalg.norm(Fe) < 0.03


def test_late_gradient_is_computed_accurately():
    """On a converged map the gradient is a small residual of attraction and repulsion
    (a few per cent of the repulsion), so a repulsion error of a few per cent makes it
    wrong: the FFT's 3-node interpolation gives a gradient error larger than the
    gradient on the map of digits after 1,000 iterations. "auto" takes Barnes-Hut with
    quadrupoles there, whose error is several times smaller (docs/embeddings-study.md:
    on 15,000-16,000-point maps this lowers the final KL by about 2%)."""
    from sklearn.datasets import load_digits

    from napari_tsne import TSNE
    from napari_tsne.engine.gradients import BH_OR_FFT, kl_gradient

    X, _ = load_digits(return_X_y=True)
    tsne = TSNE(random_state=0, n_jobs=2).fit(X)
    Y, P = tsne.embedding_, tsne.tsne_embedding_.P
    exact, _ = kl_gradient(Y, P, method="exact")
    repulsion_only = np.linalg.norm(kl_gradient(Y, P * 0.0, method="exact")[0])
    assert np.linalg.norm(exact) < 0.1 * repulsion_only

    def error(method):
        g, _ = kl_gradient(Y, P, method=method)
        return np.linalg.norm(g - exact) / np.linalg.norm(exact)

    assert error("fft") > 1.0
    assert error(BH_OR_FFT) == error("bh")
    assert error(BH_OR_FFT) < 0.2 * error("fft")
