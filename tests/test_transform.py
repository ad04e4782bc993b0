"""Adding samples to an existing map (transform) and subsample-and-extend."""

import pickle

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from napari_tsne import TSNE, TSNEInputError
from napari_tsne.engine.job import STAGES, fit_subsample_and_extend
from napari_tsne.engine.subsample import combine_layout, extend, sample_indices

N_REF = 600


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    tsne = TSNE(random_state=0, negative_gradient_method="exact").fit(X[:N_REF])
    return tsne


def snapshot(emb):
    return (
        emb.coordinates.tobytes(),
        emb.P.data.tobytes(),
        emb.P.indices.tobytes(),
        emb.P.indptr.tobytes(),
        emb.state.update.tobytes(),
        emb.state.gains.tobytes(),
        emb.n_iter,
        emb.kl_divergence,
        emb.knn.indices.tobytes(),
        emb.knn.distances.tobytes(),
        pickle.dumps(emb.knn.index),  # a faiss index: its serialised contents
    )


def transfer_accuracy(Y_ref, y_ref, Y_new, y_new, k=10):
    return KNeighborsClassifier(k).fit(Y_ref, y_ref).score(Y_new, y_new)


def test_copies_of_reference_points_land_next_to_their_originals(fitted, digits):
    X, _ = digits
    emb = fitted.tsne_embedding_
    Y_ref = emb.coordinates
    Y = fitted.transform(X[:60])
    moved = np.linalg.norm(Y - Y_ref[:60], axis=1)
    nn = NearestNeighbors(n_neighbors=2).fit(Y_ref).kneighbors(Y_ref)[0][:, 1]
    assert np.median(moved) < 0.25 * np.median(nn)


def test_held_out_digits_are_placed_among_their_class(fitted, digits):
    X, y = digits
    Y_new = fitted.transform(X[N_REF:])
    assert Y_new.shape == (len(X) - N_REF, 2) and np.isfinite(Y_new).all()
    # 10-NN in the 64-D data itself scores 0.95 on this split
    assert transfer_accuracy(fitted.embedding_, y[:N_REF], Y_new, y[N_REF:]) >= 0.93


def test_reference_is_unchanged_byte_for_byte(fitted, digits):
    X, _ = digits
    emb = fitted.tsne_embedding_
    before = snapshot(emb)
    fitted.transform(X[N_REF : N_REF + 50], n_iter=60, early_exaggeration_iter=20)
    assert snapshot(emb) == before
    np.testing.assert_array_equal(fitted.embedding_, emb.coordinates)


def test_transform_is_deterministic_and_points_do_not_interact(fitted, digits):
    X, _ = digits
    batch = X[N_REF : N_REF + 40]
    a = fitted.transform(batch, n_iter=80)
    b = fitted.transform(batch, n_iter=80)
    np.testing.assert_array_equal(a, b)
    # each new point is placed on its own: splitting the batch changes nothing
    halves = np.vstack(
        [fitted.transform(batch[:15], n_iter=80), fitted.transform(batch[15:], n_iter=80)]
    )
    np.testing.assert_allclose(halves, a, rtol=1e-10, atol=1e-12)
    one = fitted.transform(batch[:1], n_iter=80)  # a single sample is a valid batch
    np.testing.assert_allclose(one, a[:1], rtol=1e-10, atol=1e-12)


def test_zero_iterations_give_the_median_of_the_neighbours(fitted, digits):
    X, _ = digits
    emb = fitted.tsne_embedding_
    new = X[N_REF : N_REF + 20]
    idx, _ = emb.knn.query(new, 15)
    expected = np.median(emb.coordinates[idx], axis=1)
    np.testing.assert_allclose(fitted.transform(new, n_iter=0), expected, rtol=1e-12)
    nearest = fitted.transform(new, n_iter=0, init="nearest")
    np.testing.assert_array_equal(nearest, emb.coordinates[idx[:, 0]])


def test_precomputed_knn_gives_the_same_placement(fitted, digits):
    X, _ = digits
    emb = fitted.tsne_embedding_
    new = X[N_REF : N_REF + 30]
    idx, dist = emb.knn.query(new, 15)
    a = fitted.transform(new, n_iter=50)
    b = emb.transform(None, knn=(idx, dist), n_iter=50)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_map_from_precomputed_distances_takes_distances_to_reference(digits):
    from scipy.spatial.distance import cdist

    X, y = digits
    ref, new = X[:400], X[400:600]
    tsne = TSNE(metric="precomputed", random_state=0, n_iter=250).fit(cdist(ref, ref))
    Y_new = tsne.transform(cdist(new, ref))
    assert Y_new.shape == (200, 2)
    # 10-NN in the 64-D data scores 0.835 on this split
    assert transfer_accuracy(tsne.embedding_, y[:400], Y_new, y[400:600]) >= 0.8
    with pytest.raises(TSNEInputError, match="400 features"):
        tsne.transform(cdist(new, ref[:300]))


def test_callbacks_see_new_points_and_can_stop(fitted, digits):
    X, _ = digits
    seen = []

    def cb(iteration, kl, Y):
        seen.append((iteration, np.isfinite(kl), Y.shape))
        return iteration >= 20

    fitted.transform(X[N_REF : N_REF + 25], n_iter=100, callbacks=cb, callback_every=10)
    assert seen == [(10, True, (25, 2)), (20, True, (25, 2))]


@pytest.mark.parametrize("method", ["bh", "fft"])
def test_approximate_repulsion_places_points_like_exact(fitted, digits, method):
    X, y = digits
    new, y_new = X[N_REF : N_REF + 300], y[N_REF : N_REF + 300]
    exact = fitted.transform(new)
    Y_new = fitted.transform(new, negative_gradient_method=method)
    acc = transfer_accuracy(fitted.embedding_, y[:N_REF], Y_new, y_new)
    assert acc >= transfer_accuracy(fitted.embedding_, y[:N_REF], exact, y_new) - 0.02
    # most points end up where the exact gradient puts them
    nn = NearestNeighbors(n_neighbors=2).fit(fitted.embedding_).kneighbors()[0][:, 1]
    assert np.median(np.linalg.norm(Y_new - exact, axis=1)) < np.median(nn)


def test_tabulated_reference_field_matches_exact_repulsion():
    from napari_tsne.engine.gradients import RepulsionParams, repulsion
    from napari_tsne.engine.transform import ReferenceField

    rng = np.random.default_rng(0)
    Y_ref = np.vstack([rng.normal(size=(700, 2)) * 3 + c for c in ((0, 0), (25, 5))])
    T = np.vstack(
        [Y_ref[rng.choice(1400, 300)] + rng.normal(size=(300, 2)), [[400.0, 0.0], [-90.0, 80.0]]]
    )  # the last two lie beyond the lattice
    for dof in (1.0, 0.6):
        F_ex, Z_ex = repulsion("exact", Y_ref, T, False, dof, RepulsionParams())
        F, Z = ReferenceField(Y_ref, dof, RepulsionParams())(T)
        np.testing.assert_allclose(Z, Z_ex, rtol=1e-2)
        rel = np.linalg.norm(F / Z[:, None] - F_ex / Z_ex[:, None], axis=1) / np.linalg.norm(
            F_ex / Z_ex[:, None], axis=1
        )
        assert np.median(rel) < 1e-2 and rel.max() < 0.1
        np.testing.assert_allclose(F[-2:], F_ex[-2:], rtol=1e-10)
    # the fused placement gradient equals kl_gradient(per_point=True) up to the table
    from napari_tsne.engine.gradients import kl_gradient
    from napari_tsne.engine.transform import new_point_affinities

    idx = np.argsort(((T[:, None] - Y_ref[None]) ** 2).sum(-1), axis=1)[:, :15]
    dist = np.sqrt(((T[:, None] - Y_ref[idx]) ** 2).sum(-1))
    P = new_point_affinities(idx.astype(np.int32), dist, 5.0, len(Y_ref))
    g_ex, kl_ex = kl_gradient(T, P, method="exact", exaggeration=1.5, Y_ref=Y_ref, per_point=True)
    g, kl = ReferenceField(Y_ref, 1.0, RepulsionParams()).gradient(T, P, 1.5, None)
    assert abs(kl - kl_ex) < 1e-3 * abs(kl_ex)
    scale = np.linalg.norm(g_ex, axis=1)
    assert np.median(np.linalg.norm(g - g_ex, axis=1) / scale) < 1e-2
    np.testing.assert_allclose(g[-2:], g_ex[-2:], rtol=1e-8)
    g_clip, _ = ReferenceField(Y_ref, 1.0, RepulsionParams()).gradient(T, P, 1.5, 0.5)
    assert np.linalg.norm(g_clip, axis=1).max() <= 0.5 + 1e-12


def test_fft_placement_keeps_new_points_independent(fitted, digits):
    X, _ = digits
    batch = X[N_REF : N_REF + 30]
    a = fitted.transform(batch, n_iter=60, negative_gradient_method="fft")
    b = np.vstack(
        [
            fitted.transform(batch[:10], n_iter=60, negative_gradient_method="fft"),
            fitted.transform(batch[10:], n_iter=60, negative_gradient_method="fft"),
        ]
    )
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_bad_new_samples_raise_and_leave_reference_alone(fitted, digits):
    X, _ = digits
    emb = fitted.tsne_embedding_
    before = snapshot(emb)
    nan_rows = X[N_REF : N_REF + 6].copy()
    nan_rows[[1, 4], 3] = np.nan
    cases = [
        (X[N_REF : N_REF + 5, :30], "features"),
        (nan_rows, r"NaN or infinite values in 2 row\(s\) \(rows 1, 4\)"),
        (np.empty((0, X.shape[1])), "empty"),
        (X[N_REF], "1-D"),
        (np.array([[np.inf] * X.shape[1]]), "NaN or infinite"),
        (np.full((2, X.shape[1]), "a"), "numeric"),
    ]
    for bad, message in cases:
        with pytest.raises(TSNEInputError, match=message):
            fitted.transform(bad)
    for knn, message in [
        ((np.zeros((3, 5), int), np.zeros((3, 4))), "shape"),
        ((np.full((3, 5), N_REF), np.ones((3, 5))), "indices must lie"),
        ((np.zeros((3, 5), int), -np.ones((3, 5))), ">= 0"),
    ]:
        with pytest.raises(TSNEInputError, match=message):
            emb.transform(None, knn=knn)
    with pytest.raises(TSNEInputError, match="init"):
        fitted.transform(X[N_REF : N_REF + 5], init="middle")
    with pytest.raises(TSNEInputError, match=r"expected \(5, 2\)"):
        fitted.transform(X[N_REF : N_REF + 5], init=np.zeros((4, 2)))
    with pytest.raises(TSNEInputError, match="finite"):
        fitted.transform(X[N_REF : N_REF + 5], init=np.full((5, 2), np.nan))
    with pytest.raises(TSNEInputError, match="learning_rate"):
        fitted.transform(X[N_REF : N_REF + 5], learning_rate=-1)
    assert snapshot(emb) == before


def test_estimator_transform_needs_a_fitted_map(digits):
    with pytest.raises(TSNEInputError, match="not fitted"):
        TSNE().transform(digits[0][:10])


# ----------------------------------------------------------------- subsampling
def test_sample_indices_sizes_seeds_and_errors():
    a = sample_indices(100, 30, random_state=1)
    assert len(a) == 30 and len(np.unique(a)) == 30 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, sample_indices(100, 30, random_state=1))
    assert not np.array_equal(a, sample_indices(100, 30, random_state=2))
    assert len(sample_indices(100, 0.25, random_state=0)) == 25
    assert len(sample_indices(100, 1.0, random_state=0)) == 100
    for size, message in [
        (101, "larger"),
        (3, "at least"),
        (0.02, "at least"),
        (1.5, r"\(0, 1\]"),
        (0.0, r"\(0, 1\]"),
        ("10", "number"),
        (True, "number"),
    ]:
        with pytest.raises(TSNEInputError, match=message):
            sample_indices(100, size, random_state=0)
    with pytest.raises(TSNEInputError, match="one label per sample"):
        sample_indices(100, 10, stratify=np.zeros(99))


def test_stratified_sample_keeps_label_proportions():
    labels = np.repeat(["a", "b", "c"], [700, 250, 50])
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(1000)]
    idx = sample_indices(1000, 100, random_state=0, stratify=labels)
    assert len(idx) == 100
    counts = {k: int(np.sum(labels[idx] == k)) for k in "abc"}
    assert counts == {"a": 70, "b": 25, "c": 5}
    idx = sample_indices(1000, 0.013, random_state=0, stratify=labels)  # 13 samples
    assert len(idx) == 13 and set(labels[idx]) <= {"a", "b", "c"}


def test_extend_without_optimisation_is_the_neighbour_median(fitted, digits):
    X, _ = digits
    emb = fitted.tsne_embedding_
    new = X[N_REF : N_REF + 10]
    np.testing.assert_array_equal(extend(emb, new, optimize=False), fitted.transform(new, n_iter=0))


def test_combine_layout_restores_order_and_scale():
    idx = np.array([1, 3])
    Y = combine_layout(5, idx, [[1.0, 0], [3, 0]], [[0.0, 1], [2, 1], [4, 1]])
    order = np.argsort(Y[:, 0])
    np.testing.assert_array_equal(order, np.arange(5))
    assert np.isclose(Y[:, 0].std(), 1e-4)


def loo_accuracy(Y, y, k=10):
    idx = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y, return_distance=False)
    pred = np.array([np.bincount(v, minlength=10).argmax() for v in y[idx[:, 1:]]])
    return np.mean(pred == y)


def test_subsample_and_extend_matches_full_run_accuracy(digits):
    X, y = digits
    X, y = X[:800], y[:800]
    params = dict(
        random_state=0, negative_gradient_method="exact", n_iter=300, early_exaggeration_iter=150
    )
    full = TSNE(**params).fit_transform(X)
    phases, shapes = [], []

    def on_phase(name, indices):
        phases.append((name, len(indices)))

    def cb(iteration, kl, Y):
        shapes.append(Y.shape[0])

    emb = fit_subsample_and_extend(
        TSNE(callback_every=100, **params),
        X,
        250,
        stratify=y,
        callbacks=cb,
        phase_callback=on_phase,
    )
    assert [p[0] for p in phases] == list(STAGES)
    assert [p[1] for p in phases] == [250, 550, 800]
    assert {250, 550, 800} == set(shapes)
    Y = np.asarray(emb)
    assert Y.shape == (800, 2) and np.isfinite(Y).all()
    assert abs(loo_accuracy(Y, y) - loo_accuracy(full, y)) <= 0.03
    assert len(emb.sample_indices) == 250
    assert {"subsample: sample", "subsample: extend", "subsample: full"} <= set(emb.timings)


def test_estimator_subsample_parameter(digits):
    X, y = digits
    X, y = X[:400], y[:400]
    tsne = TSNE(
        subsample=0.5,
        random_state=0,
        n_iter=150,
        early_exaggeration_iter=100,
        negative_gradient_method="exact",
    )
    assert tsne.get_params()["subsample"] == 0.5 and "subsample=0.5" in repr(tsne)
    Y = tsne.fit_transform(X, stratify=y)
    assert Y.shape == (400, 2) and loo_accuracy(Y, y) > 0.9
    assert tsne.n_features_in_ == X.shape[1]
    # the fitted map accepts new samples like any other
    assert tsne.transform(X[:5]).shape == (5, 2)


def test_stopping_in_the_sample_phase_still_returns_a_complete_map(digits):
    X = digits[0][:400]
    calls = []

    def stop(iteration, kl, Y):
        calls.append(Y.shape[0])
        return True

    emb = fit_subsample_and_extend(TSNE(random_state=0, callbacks=stop, callback_every=10), X, 100)
    assert emb.stopped and np.asarray(emb).shape == (400, 2) and calls == [100]


def test_stratify_without_subsample_is_an_error(digits):
    with pytest.raises(TSNEInputError, match="subsample"):
        TSNE().fit(digits[0][:50], stratify=digits[1][:50])


def test_tabulated_field_and_placement_gradient_in_1d():
    """The 1-D lattice (one column of (F, Z)) adds little to the FFT's own error."""
    from napari_tsne.engine.gradients import RepulsionParams, kl_gradient, repulsion
    from napari_tsne.engine.transform import ReferenceField, new_point_affinities

    rng = np.random.default_rng(1)
    Y_ref = np.concatenate([rng.normal(size=600) * 4, rng.normal(size=600) * 2 + 40])[:, None]
    T = np.concatenate([Y_ref[rng.choice(1200, 200), 0] + rng.normal(size=200), [500.0]])[:, None]
    for dof in (1.0, 0.7):
        F_ex, Z_ex = repulsion("exact", Y_ref, T, False, dof, RepulsionParams())
        F_fft, Z_fft = repulsion("fft", Y_ref, T, False, dof, RepulsionParams())
        F, Z = ReferenceField(Y_ref, dof, RepulsionParams())(T)
        assert rel_norm(Z, Z_ex) < 1e-2
        assert rel_norm(F, F_ex) < 1.5 * rel_norm(F_fft, F_ex)
        np.testing.assert_allclose(F[-1], F_ex[-1], rtol=1e-10)  # beyond the lattice
    idx = np.argsort(np.abs(T - Y_ref.T), axis=1)[:, :15]
    dist = np.abs(T - Y_ref[idx, 0])
    P = new_point_affinities(idx.astype(np.int32), dist, 5.0, len(Y_ref))
    g_ex, kl_ex = kl_gradient(T, P, method="exact", exaggeration=1.5, Y_ref=Y_ref, per_point=True)
    g, kl = ReferenceField(Y_ref, 1.0, RepulsionParams()).gradient(T, P, 1.5, None)
    assert g.shape == (201, 1)
    assert abs(kl - kl_ex) < 1e-3 * abs(kl_ex)
    assert rel_norm(g, g_ex) < 2e-2
    np.testing.assert_allclose(g[-1], g_ex[-1], rtol=1e-8)


def rel_norm(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
