"""Neighbour search: faiss exact against brute force, the IVF index's recall, which
search ``neighbors=`` runs, threads, pickling, duplicates and tiny data."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from napari_tsne import TSNE, TSNEInputError, TSNEWarning
from napari_tsne.engine import _faiss_knn, neighbors
from napari_tsne.engine._faiss_knn import FaissIndex, ivf_lists, nprobe_ladder
from napari_tsne.engine.neighbors import (
    compute_neighbors,
    reference_index,
    resolve_neighbors,
    uses_pynndescent,
)

FAISS_METRICS = ["euclidean", "sqeuclidean", "cosine", "correlation"]


def clustered(n, d=12, n_clusters=8, seed=0, spread=4.0):
    """Gaussian clusters with unequal sizes and scales (float64)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d)) * spread
    scales = rng.uniform(0.3, 1.5, n_clusters)
    labels = rng.choice(n_clusters, n, p=rng.dirichlet(np.full(n_clusters, 2.0)))
    return centres[labels] + rng.normal(size=(n, d)) * scales[labels, None]


def brute_force(Q, X, k, metric, exclude_self=False):
    D = cdist(np.asarray(Q, np.float64), np.asarray(X, np.float64), metric=metric)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


def recall(found, true):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, true, strict=True)])


# ----------------------------------------------------------------------- exact
@pytest.mark.parametrize("metric", FAISS_METRICS)
def test_faiss_exact_equals_brute_force(metric):
    X = clustered(700)
    knn = compute_neighbors(X, 20, metric=metric, method="exact")
    assert knn.method == "exact" and isinstance(knn.index, FaissIndex)
    assert knn.index.kind == "flat"
    idx, dist = brute_force(X, X, 20, metric, exclude_self=True)
    np.testing.assert_array_equal(knn.indices, idx)
    np.testing.assert_allclose(knn.distances, dist, rtol=2e-5, atol=1e-6)
    assert knn.indices.dtype == np.int32 and knn.distances.dtype == np.float32


@pytest.mark.parametrize("metric", FAISS_METRICS)
def test_query_of_new_points_equals_brute_force(metric):
    X = clustered(900, seed=1)
    ref, new = X[:700], X[700:]
    knn = compute_neighbors(ref, 15, metric=metric, method="exact")
    idx, dist = knn.query(new, 9)
    true_idx, true_dist = brute_force(new, ref, 9, metric)
    np.testing.assert_array_equal(idx, true_idx)
    np.testing.assert_allclose(dist, true_dist, rtol=2e-5, atol=1e-6)
    # a reference point queried again finds itself at distance 0
    idx, dist = knn.query(ref[:5], 1)
    np.testing.assert_array_equal(idx[:, 0], np.arange(5))
    np.testing.assert_allclose(dist[:, 0], 0, atol=1e-6)


def test_exact_search_of_data_far_from_the_origin_keeps_its_precision():
    # faiss ranks by |x|^2 + |y|^2 - 2 x.y in float32; the index centres the data and
    # the distances are recomputed, so the neighbours stay exact
    X = clustered(500, d=6, spread=0.5) + 30.0
    knn = compute_neighbors(X, 10, method="exact")
    idx, dist = brute_force(X, X, 10, "euclidean", exclude_self=True)
    np.testing.assert_array_equal(knn.indices, idx)
    np.testing.assert_allclose(knn.distances, dist, rtol=1e-5)


# ------------------------------------------------------------------ approximate
def test_ivf_recall_on_clustered_data():
    X = clustered(20_000, d=20, n_clusters=30, seed=2)
    knn = compute_neighbors(X, 45, method="faiss", random_state=0)
    assert knn.method == "faiss" and knn.index.kind == "ivf"
    assert knn.index.nlist == ivf_lists(20_000)
    # calibrated: the first nprobe of the ladder whose measured recall reaches 0.99
    assert knn.index.nprobe in nprobe_ladder(knn.index.nlist) and knn.index.recall >= 0.99
    rows = np.random.default_rng(0).choice(len(X), 300, replace=False)
    D = cdist(X[rows], X)
    D[np.arange(300), rows] = np.inf
    true = np.argsort(D, axis=1)[:, :45]
    assert recall(knn.indices[rows], true) >= 0.97
    assert not (knn.indices == np.arange(len(X))[:, None]).any()
    # its distances are the true distances of the neighbours it found
    found = np.take_along_axis(D, knn.indices[rows].astype(np.int64), axis=1)
    np.testing.assert_allclose(knn.distances[rows], found, rtol=2e-5)
    # new points query the same index
    new = clustered(300, d=20, n_clusters=30, seed=2)[:300] + 0.01
    idx, dist = knn.query(new, 45)
    true_idx, true_dist = brute_force(new, X, 45, "euclidean")
    assert recall(idx, true_idx) >= 0.97
    assert (np.diff(dist, axis=1) >= 0).all()


def test_ivf_cosine_uses_unit_rows():
    X = clustered(3000, d=10, seed=3)
    knn = compute_neighbors(X, 10, metric="cosine", method="faiss", random_state=0)
    true, _ = brute_force(X, X, 10, "cosine", exclude_self=True)
    assert recall(knn.indices, true) >= 0.97
    found = np.take_along_axis(cdist(X, X, "cosine"), knn.indices.astype(np.int64), axis=1)
    np.testing.assert_allclose(knn.distances, found, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------- choice
def test_auto_picks_what_is_documented(monkeypatch):
    assert resolve_neighbors("auto", 1000) == "exact"
    assert resolve_neighbors("auto", 70_000, n_features=50) == "exact"
    assert resolve_neighbors("auto", 70_001, n_features=50) == "faiss"
    assert resolve_neighbors("auto", 19_999, n_features=5000) == "exact"
    assert resolve_neighbors("auto", 20_000, n_features=784) == "faiss"
    assert resolve_neighbors("auto", 200_000, n_features=5) == "exact"  # n^2 d = 2e11
    for metric in ("sqeuclidean", "cosine", "correlation"):
        assert resolve_neighbors("auto", 10**6, metric=metric) == "faiss"
    for metric in ("manhattan", "chebyshev"):
        assert resolve_neighbors("auto", 4999, metric=metric) == "exact"
        assert resolve_neighbors("auto", 5000, metric=metric) == "pynndescent"
    assert resolve_neighbors("auto", 4999, sparse=True) == "exact"
    assert resolve_neighbors("auto", 5000, sparse=True) == "pynndescent"
    assert resolve_neighbors("exact", 10**7, metric="manhattan", sparse=True) == "exact"
    assert resolve_neighbors("faiss", 10) == "faiss"
    for name in ("pynndescent", "approx", "nndescent"):
        assert resolve_neighbors(name, 10) == "pynndescent"


def low_dim(n, d=30, n_clusters=10, dim=3, seed=0):
    """Clusters of intrinsic dimension ``dim`` in ``d`` dimensions (like real data)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_clusters, n)
    centres = rng.normal(scale=5.0, size=(n_clusters, d))
    bases = rng.normal(size=(n_clusters, dim, d))
    Z = rng.normal(size=(n, dim))
    return (
        centres[labels] + np.einsum("ij,ijk->ik", Z, bases[labels]) + 0.01 * rng.normal(size=(n, d))
    )


def test_auto_keeps_an_ivf_index_only_where_it_pays(monkeypatch):
    # thresholds lowered so that small data reach the IVF stage
    monkeypatch.setattr(neighbors, "FAISS_EXACT_MIN", 0)
    monkeypatch.setattr(neighbors, "FAISS_EXACT_WORK", 0)
    # structured data: the IVF index reaches recall 0.99 searching 1/20 of its lists
    X = low_dim(8000)
    knn = compute_neighbors(X, 10, random_state=0)
    assert knn.method == "faiss" and knn.index.kind == "ivf"
    assert knn.index.nprobe <= knn.index.nlist / 20 and knn.index.recall >= 0.99
    true, _ = brute_force(X[:300], X, 11, "euclidean")
    assert recall(knn.indices[:300], true[:, 1:]) >= 0.97
    # isotropic 50-d data: it does not, so auto searches exactly ...
    Y = np.random.default_rng(1).normal(size=(8000, 50))
    knn = compute_neighbors(Y, 10, random_state=0)
    assert knn.method == "exact" and knn.index.kind == "flat"
    # ... or with pynndescent where exact search would be too slow
    monkeypatch.setattr(neighbors, "FALLBACK_EXACT_WORK", 0)
    monkeypatch.setattr(neighbors, "_pynndescent_knn", fake_pynndescent)
    with pytest.warns(TSNEWarning, match="pynndescent searches instead"):
        assert compute_neighbors(Y, 10, random_state=0).method == "pynndescent"
    # an explicit "faiss" raises nprobe as far as it takes (up to all lists)
    knn = compute_neighbors(Y[:3000], 10, method="faiss", random_state=0)
    assert knn.method == "faiss" and knn.index.recall >= 0.99


def fake_pynndescent(X, k, metric, random_state, n_jobs, verbose):
    """Stands in for pynndescent (which compiles for ~45 s): records its calls."""
    fake_pynndescent.calls.append((sp.issparse(X), metric))
    n = X.shape[0]
    idx = (np.arange(n)[:, None] + np.arange(1, k + 1)) % n
    return neighbors.KNNGraph(
        idx.astype(np.int32), np.ones((n, k), np.float32), metric, "pynndescent", object()
    )


fake_pynndescent.calls = []


def test_bad_neighbors_values_name_the_fix():
    X = clustered(100)
    with pytest.raises(TSNEInputError, match="use 'auto', 'exact', 'faiss' or 'pynndescent'"):
        compute_neighbors(X, 5, method="hnsw")
    with pytest.raises(TSNEInputError, match="neighbors='pynndescent'"):
        compute_neighbors(X, 5, metric="manhattan", method="faiss")
    with pytest.raises(TSNEInputError, match=r"X\.toarray\(\)"):
        compute_neighbors(sp.csr_matrix(X), 5, method="faiss")
    with pytest.raises(TSNEInputError, match="'faiss'"):
        TSNE(neighbors="flat", n_iter=0, early_exaggeration_iter=0).fit(X)


def test_uses_pynndescent_only_when_pynndescent_runs():
    big = 10**6
    assert not uses_pynndescent("auto", big)  # dense euclidean: faiss
    assert not uses_pynndescent("auto", big, metric="cosine")
    assert not uses_pynndescent("exact", big, metric="manhattan")
    assert not uses_pynndescent("faiss", big)
    assert uses_pynndescent("auto", 5000, metric="manhattan")
    assert not uses_pynndescent("auto", 4999, metric="chebyshev")
    assert uses_pynndescent("auto", 5000, sparse=True)
    assert uses_pynndescent("pynndescent", 10)
    assert not uses_pynndescent("auto", big, metric="precomputed")
    assert not uses_pynndescent("no-such-method", big)


def test_sparse_data_and_other_metrics_keep_their_searches(monkeypatch):
    calls = fake_pynndescent.calls = []
    monkeypatch.setattr(neighbors, "_pynndescent_knn", fake_pynndescent)
    X = clustered(5000, d=5)
    Xs = sp.csr_matrix(np.where(X > 0, X, 0))
    assert compute_neighbors(Xs, 10).method == "pynndescent"
    assert compute_neighbors(X, 10, metric="manhattan").method == "pynndescent"
    assert compute_neighbors(X, 10, method="pynndescent").method == "pynndescent"
    assert calls == [(True, "euclidean"), (False, "manhattan"), (False, "euclidean")]
    # below the threshold: exact as before (sparse densified; numba for manhattan)
    small = compute_neighbors(Xs[:300], 10)
    assert small.method == "exact" and isinstance(small.index, FaissIndex)
    idx, dist = brute_force(Xs[:300].toarray(), Xs[:300].toarray(), 10, "euclidean", True)
    np.testing.assert_allclose(small.distances, dist, rtol=2e-5, atol=1e-6)
    man = compute_neighbors(X[:300], 10, metric="manhattan")
    assert man.method == "exact" and isinstance(man.index, np.ndarray)
    idx, dist = brute_force(X[:300], X[:300], 10, "cityblock", True)
    np.testing.assert_allclose(man.distances, dist, rtol=1e-5)
    np.testing.assert_array_equal(
        man.query(X[300:320], 4)[0], brute_force(X[300:320], X[:300], 4, "cityblock")[0]
    )
    assert len(calls) == 3


def test_dense_search_and_adding_samples_need_no_pynndescent(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynndescent", None)  # importing it would fail
    monkeypatch.setattr(neighbors, "FAISS_EXACT_MIN", 0)
    monkeypatch.setattr(neighbors, "FAISS_EXACT_WORK", 0)
    monkeypatch.setattr(neighbors, "IVF_MAX_FRACTION", 1.0)  # keep the IVF index
    X = low_dim(1500)
    tsne = TSNE(n_iter=20, early_exaggeration_iter=20, random_state=0).fit(X[:1200])
    assert tsne.tsne_embedding_.knn.method == "faiss"
    Y = tsne.transform(X[1200:], n_iter=10)
    assert np.isfinite(Y).all() and Y.shape == (300, 2)


def test_faiss_is_imported_only_when_a_search_runs():
    code = (
        "import sys, napari_tsne, napari_tsne.engine.neighbors\n"
        "assert 'faiss' not in sys.modules, 'faiss imported at import time'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


# ------------------------------------------------------------------ threads
def test_faiss_threads_follow_n_jobs(monkeypatch):
    import faiss

    seen = []

    class Recording(faiss.IndexFlatL2):
        def search(self, *args, **kwargs):
            seen.append(faiss.omp_get_max_threads())
            return super().search(*args, **kwargs)

    monkeypatch.setattr(faiss, "IndexFlatL2", Recording)
    previous = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(3)
        X = clustered(300)
        knn = compute_neighbors(X, 5, method="exact", n_jobs=1)
        assert seen == [1] and faiss.omp_get_max_threads() == 3
        knn.query(X[:10], 3, n_jobs=1)
        assert seen == [1, 1] and faiss.omp_get_max_threads() == 3
        compute_neighbors(X, 5, method="exact", n_jobs=-1)  # all cores
        assert seen[-1] == _faiss_knn.resolve_n_jobs(None)
        assert faiss.omp_get_max_threads() == 3
    finally:
        faiss.omp_set_num_threads(previous)


# ----------------------------------------------------------------- pickling
@pytest.mark.parametrize("method", ["exact", "faiss"])
def test_pickle_round_trip_keeps_the_index(method):
    X = clustered(2500, seed=4)
    emb = TSNE(neighbors=method, random_state=0).prepare(X[:2000])
    copy = pickle.loads(pickle.dumps(emb))
    assert isinstance(copy.knn.index, FaissIndex) and copy.knn.index.kind == emb.knn.index.kind
    a = emb.knn.query(X[2000:], 15)
    b = copy.knn.query(X[2000:], 15)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(
        emb.transform(X[2000:], n_iter=0), copy.transform(X[2000:], n_iter=0)
    )


def test_reference_index_queries_like_the_graph():
    X = clustered(1200, seed=5)
    for method in ("exact", "faiss"):
        ref = reference_index(X[:1000], method=method, random_state=0)
        graph = compute_neighbors(X[:1000], 15, method=method, random_state=0)
        assert ref.index._prepared is None  # no second copy of the data kept
        a, b = ref.query(X[1000:], 10), graph.query(X[1000:], 10)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1])


def test_large_batches_query_an_inverted_file_of_the_reference(monkeypatch):
    # "auto" with a flat index: a batch whose exact search would cost >= QUERY_IVF_WORK
    # searches a calibrated inverted file of the same rows (thresholds scaled down)
    monkeypatch.setattr(neighbors, "FAISS_EXACT_MIN", 1000)
    monkeypatch.setattr(neighbors, "QUERY_IVF_WORK", 1_000_000)
    monkeypatch.setattr(neighbors, "IVF_MAX_FRACTION", 1 / 4)  # 38 lists: up to 9 probes
    X = clustered(3500, seed=8, n_clusters=12)
    ref, new = X[:3000], X[3000:]  # 500 x 3000 x 12 = 1.8e7 >= 1e6
    graph = compute_neighbors(ref, 15, method="auto", random_state=0)
    assert graph.method == "exact" and graph.index.kind == "flat" and graph.auto
    true_idx, true_dist = brute_force(new, ref, 15, "euclidean")

    few_idx, few_dist = graph.query(new[:20], 15)  # 20 x 3000 x 12 < 1e6: exact
    assert graph._query_ivf is None
    np.testing.assert_array_equal(few_idx, true_idx[:20])

    idx, dist = graph.query(new, 15)
    ivf = graph._query_ivf
    assert isinstance(ivf, FaissIndex) and ivf.kind == "ivf" and ivf.recall >= 0.99
    assert ivf.nlist == ivf_lists(3000) // 2 and ivf._prepared is None
    assert recall(idx, true_idx) >= 0.97
    # true distances of the neighbours found, sorted
    found = np.take_along_axis(cdist(new, ref), idx.astype(np.int64), axis=1)
    np.testing.assert_allclose(dist, found, rtol=2e-5, atol=1e-6)
    assert (np.diff(dist, axis=1) >= 0).all()
    # the same batch gives the same answer, from this graph or a fresh one
    np.testing.assert_array_equal(graph.query(new, 15)[0], idx)
    again = compute_neighbors(ref, 15, method="auto", random_state=1)
    np.testing.assert_array_equal(again.query(new, 15)[0], idx)
    # the small batch still searches exactly; the inverted file is not pickled
    np.testing.assert_array_equal(graph.query(new[:20], 15)[0], few_idx)
    assert pickle.loads(pickle.dumps(graph))._query_ivf is None

    # an explicit "exact" stays exact at any batch size
    exact = compute_neighbors(ref, 15, method="exact")
    np.testing.assert_array_equal(exact.query(new, 15)[0], true_idx)
    assert not exact.auto and exact._query_ivf is None


def test_inverted_file_for_queries_that_fails_calibration_keeps_exact(monkeypatch):
    # uniform 40-d data: one probe of 64 lists finds few true neighbours
    monkeypatch.setattr(neighbors, "FAISS_EXACT_MIN", 1000)
    monkeypatch.setattr(neighbors, "QUERY_IVF_WORK", 1_000_000)
    X = np.random.default_rng(9).uniform(size=(3300, 40))
    graph = compute_neighbors(X[:3000], 15, method="auto", random_state=0)
    idx, _ = graph.query(X[3000:], 10)
    assert graph._query_ivf is False
    np.testing.assert_array_equal(idx, brute_force(X[3000:], X[:3000], 10, "euclidean")[0])


def test_auto_says_when_it_falls_back_to_pynndescent(monkeypatch):
    # too large for exact search, and an inverted file that does not reach its recall
    # within 1/20 of the lists: "auto" searches with pynndescent and says why
    monkeypatch.setattr(neighbors, "FAISS_EXACT_MIN", 1000)
    monkeypatch.setattr(neighbors, "FAISS_EXACT_WORK", 1)
    monkeypatch.setattr(neighbors, "FALLBACK_EXACT_WORK", 1)
    X = np.random.default_rng(10).uniform(size=(3000, 40)).astype(np.float32)
    with pytest.warns(TSNEWarning, match="pynndescent searches instead") as record:
        method, index = neighbors._search_index(X, 15, "euclidean", "auto", 0, 1)
    assert method == "pynndescent" and index is None
    text = str(record[0].message)
    assert "3,000 samples" in text and "neighbors='exact'" in text
    # asked for explicitly, the inverted file searches as many lists as it needs
    method, index = neighbors._search_index(X, 15, "euclidean", "faiss", 0, 1)
    assert method == "faiss" and index.recall >= 0.99


# ------------------------------------------------------ duplicates, tiny data
@pytest.mark.parametrize("method", ["exact", "faiss"])
def test_duplicates(method):
    rng = np.random.default_rng(6)
    base = rng.normal(size=(400, 6))
    X = np.repeat(base, 4, axis=0)  # every point four times
    knn = compute_neighbors(X, 8, method=method, random_state=0)
    assert not (knn.indices == np.arange(len(X))[:, None]).any()
    # the three copies come first, at distance 0
    np.testing.assert_array_equal(knn.distances[:, :3], 0)
    assert (knn.distances[:, 3:] > 0).all()
    same = knn.indices[:, :3] // 4 == np.arange(len(X))[:, None] // 4
    assert same.all()
    D = cdist(X, X)
    found = np.take_along_axis(D, knn.indices.astype(np.int64), axis=1)
    np.testing.assert_allclose(knn.distances, found, rtol=2e-5, atol=1e-7)
    np.fill_diagonal(D, np.inf)
    true = np.argsort(D, axis=1, kind="stable")[:, :8]
    assert recall(knn.indices, true) >= (1.0 if method == "exact" else 0.97)


@pytest.mark.parametrize("method", ["exact", "faiss"])
def test_identical_points_and_n_close_to_k(method):
    X = np.ones((12, 4))
    knn = compute_neighbors(X, 30, method=method)
    assert knn.indices.shape == (12, 11)
    for i, row in enumerate(knn.indices):
        assert sorted(row) == [j for j in range(12) if j != i]
    np.testing.assert_array_equal(knn.distances, 0)
    X = clustered(13, d=3)
    knn = compute_neighbors(X, 12, method=method)
    for i, row in enumerate(knn.indices):
        assert sorted(row) == [j for j in range(13) if j != i]
    _, dist = brute_force(X, X, 12, "euclidean", exclude_self=True)
    np.testing.assert_allclose(knn.distances, dist, rtol=2e-5)
    idx, _ = knn.query(X[:2], 13)
    assert sorted(idx[0]) == list(range(13))


def test_faiss_index_of_few_points_falls_back_to_all_lists():
    # more lists than the probes can fill with k neighbours: searches all lists
    X = np.random.default_rng(7).uniform(size=(400, 4))
    index = FaissIndex(X, "euclidean", "ivf", nlist=40, nprobe=1, seed=0)
    idx, dist = index.query(X[:50], 60)
    assert (idx >= 0).all()
    true_idx, true_dist = brute_force(X[:50], X, 60, "euclidean")
    np.testing.assert_allclose(dist, true_dist, rtol=2e-5, atol=1e-6)
