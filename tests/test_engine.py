"""Engine numbers checked against independent dense computations."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from napari_tsne import TSNE, TSNEInputError
from napari_tsne.engine.affinities import affinities_from_knn
from napari_tsne.engine.gradients import kl_gradient
from napari_tsne.engine.neighbors import compute_neighbors, neighbors_from_precomputed


def dense_P(X, perplexity):
    """Textbook dense t-SNE affinities: bisection per row over all other points."""
    n = len(X)
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    P = np.zeros((n, n))
    for i in range(n):
        d = np.delete(D[i], i)
        lo, hi = 1e-20, 1e20
        for _ in range(200):
            beta = np.sqrt(lo * hi)
            p = np.exp(-(d - d.min()) * beta)
            p /= p.sum()
            H = -np.sum(p[p > 0] * np.log(p[p > 0]))
            if H > np.log(perplexity):
                lo = beta
            else:
                hi = beta
        P[i, np.arange(n) != i] = p
    P = (P + P.T) / (2 * n)
    return P


def dense_kl(Y, P, dof=1.0):
    D = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    W = (1 + D / dof) ** (-dof)
    np.fill_diagonal(W, 0)
    Q = W / W.sum()
    mask = P > 0
    return np.sum(P[mask] * np.log(P[mask] / Q[mask]))


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 5)) * 5
    return np.vstack([c + rng.normal(size=(20, 5)) for c in centers]) + 0.0


def test_perplexity_affinities_match_dense(blobs):
    X = blobs[:31]
    knn = compute_neighbors(X, 30, method="exact")
    P = affinities_from_knn(knn.indices, knn.distances, perplexity=10.0)
    np.testing.assert_allclose(P.toarray(), dense_P(X, 10.0), rtol=2e-3, atol=1e-7)
    assert abs(P.sum() - 1) < 1e-5
    assert (abs(P - P.T) > 1e-9).nnz == 0


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_symmetrize_matches_a_dense_sum(n_jobs):
    """(P_cond + P_cond^T) / 2n from a kNN list, with zeros (dropped), a neighbour
    listed twice (summed) and mutual and one-way neighbours, against a dense sum; rows
    merged on one thread or on two give the same matrix."""
    from napari_tsne.engine.affinities import symmetrize

    rng = np.random.default_rng(0)
    n, k = 500, 12
    idx = np.array([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    idx[0, 1] = idx[0, 0]
    vals = rng.random((n, k))
    vals[3, :4] = 0.0
    vals /= vals.sum(axis=1, keepdims=True)
    dense = np.zeros((n, n))
    np.add.at(dense, (np.repeat(np.arange(n), k), idx.ravel()), vals.ravel())
    dense = (dense + dense.T) / (2 * n)
    P = symmetrize(idx, vals, n_jobs=n_jobs)
    assert P.data.dtype == np.float32 and P.indices.dtype == np.int32
    assert P.has_sorted_indices and (P.data > 0).all()
    np.testing.assert_array_equal(P.toarray() > 0, dense > 0)
    np.testing.assert_allclose(P.toarray(), dense, rtol=1e-6, atol=1e-12)
    assert abs(P.sum(dtype=np.float64) - 1) < 1e-6
    if n_jobs > 1:
        serial = symmetrize(idx, vals, n_jobs=1)
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(P, part), getattr(serial, part))


def test_conditional_rows_reach_target_perplexity(blobs):
    knn = compute_neighbors(blobs, 30, method="exact")
    Pc = affinities_from_knn(knn.indices, knn.distances, perplexity=10.0, symmetric=False)
    H = -np.sum(np.where(Pc > 0, Pc * np.log(np.maximum(Pc, 1e-300)), 0), axis=1)
    np.testing.assert_allclose(np.exp(H), 10.0, rtol=1e-3)


@pytest.mark.parametrize("dof", [1.0, 0.6, 3.0])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_exact_gradient_matches_finite_differences(blobs, dof, d):
    X = blobs[:31]
    P = sp.csr_matrix(dense_P(X, 8.0))
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(31, d))
    grad, kl = kl_gradient(Y, P, method="exact", dof=dof)
    assert kl == pytest.approx(dense_kl(Y, P.toarray(), dof), rel=1e-6)
    eps = 1e-6
    num = np.zeros_like(Y)
    for i in range(Y.shape[0]):
        for c in range(d):
            Yp, Ym = Y.copy(), Y.copy()
            Yp[i, c] += eps
            Ym[i, c] -= eps
            num[i, c] = (dense_kl(Yp, P.toarray(), dof) - dense_kl(Ym, P.toarray(), dof)) / (
                2 * eps
            )
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-7)


def test_exaggeration_scales_attraction_only(blobs):
    P = sp.csr_matrix(dense_P(blobs, 10.0))
    Y = np.random.default_rng(2).normal(size=(len(blobs), 2))
    g1, _ = kl_gradient(Y, P, method="exact", exaggeration=1.0)
    g4, _ = kl_gradient(Y, P, method="exact", exaggeration=4.0)
    g0_attr = (g4 - g1) / 3  # = 4 * attractive term
    np.testing.assert_allclose(g4, g1 + 3 * g0_attr, rtol=1e-10)


def test_precomputed_dense_and_sparse_match_features(blobs):
    from sklearn.neighbors import KNeighborsTransformer

    D = np.sqrt(((blobs[:, None] - blobs[None]) ** 2).sum(-1))
    a = compute_neighbors(blobs, 15, method="exact")
    b = neighbors_from_precomputed(D, 15)
    G = KNeighborsTransformer(n_neighbors=15, mode="distance").fit_transform(blobs)
    c = neighbors_from_precomputed(G, 15)
    for other in (b, c):
        np.testing.assert_allclose(other.distances, a.distances, rtol=1e-5)
        P1 = affinities_from_knn(a.indices, a.distances, perplexity=5)
        P2 = affinities_from_knn(other.indices, other.distances, perplexity=5)
        np.testing.assert_allclose(P1.toarray(), P2.toarray(), atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "manhattan", "correlation", "chebyshev"])
def test_exact_knn_metrics_match_scipy(blobs, metric):
    from scipy.spatial.distance import cdist

    knn = compute_neighbors(blobs, 5, metric=metric, method="exact")
    D = cdist(blobs, blobs, metric="cityblock" if metric == "manhattan" else metric)
    np.fill_diagonal(D, np.inf)
    np.testing.assert_allclose(knn.distances, np.sort(D, axis=1)[:, :5], rtol=1e-4, atol=1e-5)


def test_pynndescent_neighbours_are_accurate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 10)).astype(np.float32)
    exact = compute_neighbors(X, 10, method="exact")
    approx = compute_neighbors(X, 10, method="pynndescent", random_state=0)
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(exact.indices, approx.indices, strict=True)]
    )
    assert recall > 0.95
    assert not (approx.indices == np.arange(600)[:, None]).any()
    assert approx.method == "pynndescent" and exact.method == "exact"
    # the process now has pynndescent's search compiled (the widget's stage text uses it)
    from napari_tsne.engine.neighbors import pynndescent_compiled, uses_pynndescent

    assert pynndescent_compiled()
    assert uses_pynndescent("auto", 5000, metric="manhattan")
    assert not uses_pynndescent("auto", 4999, metric="manhattan")
    assert not uses_pynndescent("auto", 10**6)  # dense euclidean: faiss
    assert uses_pynndescent("pynndescent", 10) and not uses_pynndescent("exact", 10**6)


def knn_accuracy(Y, y, k=10):
    """Leave-one-out k-NN accuracy in the map (the measure of benchmarks/quality.py)."""
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y, return_distance=False)
    votes = y[idx[:, 1:]]
    pred = np.array([np.bincount(v, minlength=y.max() + 1).argmax() for v in votes])
    return float(np.mean(pred == y))


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def test_digits_map_separates_classes(digits):
    X, y = digits
    tsne = TSNE(random_state=0, n_jobs=2)
    Y = tsne.fit_transform(X)
    assert Y.shape == (len(X), 2) and np.isfinite(Y).all()
    # leave-one-out 10-NN accuracy: 0.986 here, openTSNE 0.987-0.988 on the same data
    # (5-fold CV without shuffling, which holds out whole writers: 0.968 vs 0.970-0.974)
    assert knn_accuracy(Y, y) >= 0.97
    assert tsne.n_iter_ == 1000  # 250 + 750 by default
    assert 0 < tsne.kl_divergence_ < 1.2


def test_same_seed_same_map(digits):
    X = digits[0][:400]
    a = TSNE(random_state=3, n_iter=100, early_exaggeration_iter=50).fit_transform(X)
    b = TSNE(random_state=3, n_iter=100, early_exaggeration_iter=50).fit_transform(X)
    np.testing.assert_array_equal(a, b)


def test_continuing_in_chunks_equals_one_run(digits):
    X = digits[0][:300]
    tsne = TSNE(random_state=0, negative_gradient_method="exact")
    one = tsne.prepare(X).optimize(60, exaggeration=12, momentum=0.5)
    chunks = tsne.prepare(X)
    for _ in range(3):
        chunks.optimize(20, exaggeration=12, momentum=0.5)
    np.testing.assert_allclose(np.asarray(chunks), np.asarray(one), rtol=1e-12, atol=1e-14)
    assert chunks.n_iter == 60


def test_callback_sees_progress_and_can_stop(digits):
    X = digits[0][:300]
    seen = []

    def cb(iteration, kl, Y):
        seen.append((iteration, kl, Y.shape))
        return iteration >= 30

    tsne = TSNE(
        random_state=0, callbacks=cb, callback_every=10, n_iter=100, early_exaggeration_iter=50
    )
    tsne.fit(X)
    assert [s[0] for s in seen] == [10, 20, 30]
    assert all(np.isfinite(s[1]) and s[2] == (300, 2) for s in seen)
    assert tsne.n_iter_ == 30


@pytest.mark.parametrize("n_components", [1, 2, 3])
@pytest.mark.parametrize("init", ["pca", "spectral", "random"])
def test_dimensions_and_inits(digits, n_components, init):
    X = digits[0][:200]
    Y = TSNE(
        n_components, init=init, random_state=0, n_iter=50, early_exaggeration_iter=50
    ).fit_transform(X)
    assert Y.shape == (200, n_components) and np.isfinite(Y).all()


def test_pca_init_scaled_like_opentsne(digits):
    from napari_tsne.engine.initialization import pca_init

    Y = pca_init(digits[0], 2, np.random.default_rng(0))
    assert Y[:, 0].std() == pytest.approx(1e-4)
    assert abs(Y.mean(axis=0)).max() < 1e-12


def test_sklearn_pipeline_with_knn_transformer(digits):
    from sklearn.neighbors import KNeighborsTransformer
    from sklearn.pipeline import make_pipeline

    X, y = digits
    pipe = make_pipeline(
        KNeighborsTransformer(n_neighbors=90, mode="distance"),
        TSNE(metric="precomputed", random_state=0),
    )
    Y = pipe.fit_transform(X)
    assert knn_accuracy(Y, y) >= 0.96


def test_get_set_params_roundtrip():
    t = TSNE(perplexity=12)
    assert t.get_params()["perplexity"] == 12
    t.set_params(perplexity=20, exaggeration=4)
    assert t.perplexity == 20 and t.exaggeration == 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        t.set_params(perpelxity=3)


def test_multiscale_and_uniform_affinities(digits):
    X, y = digits
    for kw in ({"perplexity": [10, 50]}, {"affinities": "uniform", "perplexity": 15}):
        Y = TSNE(random_state=0, **kw).fit_transform(X[:600])
        assert knn_accuracy(Y, y[:600]) >= 0.85


def test_large_perplexity_is_lowered_with_warning(digits):
    with pytest.warns(UserWarning, match="too large"):
        Y = TSNE(
            perplexity=100, random_state=0, n_iter=10, early_exaggeration_iter=10
        ).fit_transform(digits[0][:50])
    assert np.isfinite(Y).all()


BAD_INPUTS = [
    (
        np.array([[1.0, np.nan], [1, 2], [3, 4], [5, 6], [7, 8]]),
        {},
        "NaN or infinite values in 1 row",
    ),
    (np.array([[1.0, np.inf]] * 3 + [[1, 2]] * 3), {}, "3 row"),
    (np.ones((3, 4)), {}, "at least 4"),
    (np.arange(10.0), {}, "2-D"),
    (np.array([["a", "b"]] * 6), {}, "numeric"),
    (np.ones((6, 5)), {"metric": "precomputed"}, "square"),
    (-np.ones((6, 6)), {"metric": "precomputed"}, "negative"),
    (np.random.default_rng(0).normal(size=(20, 3)), {"perplexity": 0}, "perplexity must be > 0"),
    (np.random.default_rng(0).normal(size=(20, 3)), {"perplexity": -5}, "perplexity"),
    (np.random.default_rng(0).normal(size=(20, 3)), {"n_components": 4}, "n_components"),
    (np.random.default_rng(0).normal(size=(20, 3)), {"n_components": 0}, "n_components"),
    (np.random.default_rng(0).normal(size=(20, 3)), {"metric": "hamming2"}, "Unknown metric"),
    (np.random.default_rng(0).normal(size=(20, 3)), {"learning_rate": -1}, "learning_rate"),
    (np.random.default_rng(0).normal(size=(20, 3)), {"init": np.zeros((5, 2))}, "initial map"),
]


@pytest.mark.parametrize("X, kw, message", BAD_INPUTS)
def test_bad_input_raises_named_error_and_leaves_data_alone(X, kw, message):
    before = X.copy()
    with pytest.raises(TSNEInputError, match=message):
        TSNE(**kw).fit(X)
    np.testing.assert_array_equal(X, before)


def test_integer_and_sparse_input_accepted(digits):
    X, y = digits
    Xi = X.astype(np.int64)[:300]
    Y1 = TSNE(random_state=0, n_iter=50).fit_transform(Xi)
    Xs = sp.csr_matrix(X[:300])
    Y2 = TSNE(random_state=0, n_iter=50, neighbors="pynndescent").fit_transform(Xs)
    assert np.isfinite(Y1).all() and np.isfinite(Y2).all()


def test_map_order_gives_the_same_attractive_forces():
    """Visiting P's rows along the map's Z-curve (used for large maps) changes where
    the coordinates are read from, and reads the sources in float32: the forces are
    those of the direct sum with float32-rounded sources (the same terms in the same
    order; the two kernels may still round a last bit differently where the compiler
    vectorises or contracts them differently, which depends on the CPU), also after the
    points have moved and the order has been recomputed, and within the rounding
    bound of the full-precision sum."""
    from napari_tsne.engine.gradients.attractive import MapOrder, attractive_forces

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5))
    knn = compute_neighbors(X, 15, method="exact")
    P = affinities_from_knn(knn.indices, knn.distances, perplexity=5.0)
    for d in (1, 2, 3):
        order = MapOrder(P, reorder_every=2)
        for step in range(4):
            Y = rng.normal(size=(3000, d)) * 10**step  # up to a map 3000 units wide
            Y32 = Y.astype(np.float32).astype(np.float64)
            F, logw = attractive_forces(P.indptr, P.indices, P.data, Y, Y32, 1.0, True)
            F_o, logw_o = order.attractive_forces(Y, 1.0, True)
            assert sorted(order.perm.tolist()) == list(range(3000))
            # a few units in the last place of the largest term, not of each sum
            np.testing.assert_allclose(F_o, F, rtol=0, atol=1e-14 * np.abs(F).max())
            np.testing.assert_allclose(logw_o, logw, rtol=0, atol=1e-14 * np.abs(logw).max())
            # a source moved by e (float32 rounding: |e| <= 2^-24 |y| per axis) moves
            # a term p (y_i - y_j) / (1 + |y_i - y_j|^2) or p log(...) by <= p |e|
            F64, logw64 = attractive_forces(P.indptr, P.indices, P.data, Y, Y, 1.0, True)
            bound = np.asarray(P.sum(axis=1)).ravel() * 2.0**-23 * np.abs(Y).max()
            assert (np.abs(F_o - F64).max(axis=1) <= bound).all()
            assert (np.abs(logw_o - logw64) <= bound).all()  # same bound for p log w
        assert order.calls == 4


def test_map_order_resorts_when_staleness_has_cost_a_resort():
    """The default cadence: re-sort once the time lost to a stale order reaches the
    re-sort's own cost, and at least every REORDER_MAX_EVERY gradients."""
    from napari_tsne.engine.gradients import attractive

    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 5))
    knn = compute_neighbors(X, 15, method="exact")
    P = affinities_from_knn(knn.indices, knn.distances, perplexity=5.0)
    order = attractive.MapOrder(P)
    Y = rng.normal(size=(500, 2))
    order.attractive_forces(Y, 1.0, False)
    assert order.n_reorders == 1 and order._since == 1
    order._cost, order._lost = 0.5, 0.4
    assert not order._due()
    order._lost = 0.5
    assert order._due()
    order._lost, order._since = 0.0, attractive.REORDER_MAX_EVERY
    assert order._due()
    order.attractive_forces(Y, 1.0, False)
    assert order.n_reorders == 2 and order._lost == 0.0 and order._since == 1


def test_morton_keys_follow_the_z_curve():
    from napari_tsne.engine.gradients.attractive import morton_keys

    # the four corners of a square in Z order: (0,0) (1,0) (0,1) (1,1)
    Y = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert np.argsort(morton_keys(Y)).tolist() == [3, 2, 1, 0]
    # a 1-D map sorts by position; NaN rows do not break the sort
    y = np.array([[3.0], [-1.0], [np.nan], [2.0]])
    assert [i for i in np.argsort(morton_keys(y), kind="stable") if i != 2] == [1, 3, 0]
    # nearby points get nearby ranks: the sorted path is short
    rng = np.random.default_rng(0)
    pts = rng.uniform(size=(4000, 2))
    path = np.linalg.norm(np.diff(pts[np.argsort(morton_keys(pts))], axis=0), axis=1).sum()
    assert path < 0.1 * np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()


def test_large_maps_use_the_locality_order(monkeypatch, digits):
    """Above the size threshold optimize() runs the ordered kernel; the map is the
    same as without it up to the float32 reading of the attraction's sources."""
    from napari_tsne.engine import embedding as embedding_module

    X = digits[0][:400]
    tsne = TSNE(random_state=0, negative_gradient_method="bh")
    plain = tsne.prepare(X).optimize(30, exaggeration=12, momentum=0.5)
    monkeypatch.setattr(embedding_module, "LOCALITY_MIN_N", 100)
    ordered = tsne.prepare(X)
    ordered.optimize(30, exaggeration=12, momentum=0.5)
    assert ordered._order is not None
    # the rounding (~1e-7 of a force) flips a few gain updates over 30 steps: the maps
    # differ slightly (here ~7e-4 of the map's size), the KL does not
    Yp = np.asarray(plain)
    assert 0 < np.abs(np.asarray(ordered) - Yp).max() <= 1e-2 * np.ptp(Yp)
    assert abs(ordered.kl_divergence - plain.kl_divergence) <= 1e-3 * plain.kl_divergence
    assert pickle.loads(pickle.dumps(ordered))._order is None  # a cache, not pickled


def test_kl_reuses_the_constant_part_of_one_P(digits):
    # sum p log p is computed once per P (the KL is asked for every 10 iterations by
    # "auto" and by live views); the cached value gives the same KL, and a new P is
    # not scored with the old one's
    emb = TSNE(random_state=0, n_jobs=1).prepare(digits[0][:300])
    Y = emb.coordinates + np.random.default_rng(0).normal(size=emb.shape)
    fresh = kl_gradient(Y, emb.P)[1]
    terms = emb._kl_p_terms()
    assert emb._kl_p_terms() is terms
    assert kl_gradient(Y, emb.P, p_terms=terms)[1] == fresh
    emb.P = (emb.P * 0.5 + emb.P.T * 0.5).tocsr()  # another P object
    assert emb._kl_p_terms() is not terms
    assert kl_gradient(Y, emb.P, p_terms=emb._kl_p_terms())[1] == kl_gradient(Y, emb.P)[1]
    emb.optimize(20, callbacks=lambda it, kl, Yc: None, callback_every=10)
    assert np.isfinite(emb.kl_divergence)
    clone = pickle.loads(pickle.dumps(emb))  # the cache is not pickled, and rebuilt
    assert clone._p_terms is None and clone._kl_p_terms()[0] == emb._kl_p_terms()[0]
