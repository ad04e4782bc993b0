"""One run of the embeddings study (docs/embeddings-study.md): a tool (napari-tsne with
parameter overrides and optional patches of the optimiser, scikit-learn, openTSNE or
FIt-SNE) on one study set, with the map recorded every 50 iterations and scored under
the exact all-pairs P (study_kl.DenseP) and the kNN reference P; writes
``results/study/runs/<set>--<tag>.json`` (and the final map as .npy).

    python benchmarks/study_run.py debian base
    python benchmarks/study_run.py debian lr12 --params '{"learning_rate": "n/12"}'
    python benchmarks/study_run.py debian sklearn --tool scikit-learn

``--params`` values "n/K" mean n_samples / K. Patches (``--patch``, see PATCHES) swap
one ingredient of the optimiser for scikit-learn's or another variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from quality import knn_recall  # noqa: E402
from study_kl import STUDY_DIR, DenseP, load_set  # noqa: E402

RUNS = STUDY_DIR / "runs"
EVERY = 50


def _resolve(params: dict, n: int) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, str) and v.startswith("n/"):
            v = n / float(v[2:])
        out[k] = v
    return out


# ------------------------------------------------------------------ patches
def patch_sklearn_gains():
    """scikit-learn's gains rule: g *= 0.8 on agreement, clipped below at min_gain
    (instead of g = 0.8 g + min_gain)."""
    import numba

    from napari_tsne.engine import optimizer

    @numba.njit(nogil=True, cache=True)
    def _step(Y, grad, update, gains, learning_rate, momentum, min_gain, max_step):
        n, d = Y.shape
        for i in range(n):
            norm2 = 0.0
            for c in range(d):
                g = grad[i, c]
                if update[i, c] * g < 0.0:
                    gains[i, c] += 0.2
                else:
                    gains[i, c] *= 0.8
                if gains[i, c] < min_gain:
                    gains[i, c] = min_gain
                u = momentum * update[i, c] - learning_rate * gains[i, c] * g
                update[i, c] = u
                norm2 += u * u
            if max_step > 0 and norm2 > max_step * max_step:
                scale = max_step / np.sqrt(norm2)
                for c in range(d):
                    update[i, c] *= scale
            for c in range(d):
                Y[i, c] += update[i, c]
        return 0

    optimizer._step = _step


def patch_no_recenter():
    from napari_tsne.engine import optimizer

    orig = optimizer.gradient_descent

    def gd(*a, **k):
        k["recenter"] = False
        return orig(*a, **k)

    optimizer.gradient_descent = gd
    import napari_tsne.engine.embedding as e

    e.gradient_descent = gd


def patch_no_reset():
    from napari_tsne.engine.job import TSNEJob

    TSNEJob._fresh_optimiser_on_switch = lambda self, phase: None


def patch_init_std(value):
    from napari_tsne.engine import initialization

    initialization.rescale.__defaults__ = (float(value),)


def patch_lr_main(div):
    """learning rate n / div after early exaggeration (n / exaggeration during it)."""
    from napari_tsne.engine.embedding import TSNEEmbedding

    orig = TSNEEmbedding._learning_rate

    def lr(self, learning_rate, exaggeration):
        if learning_rate == "auto" and exaggeration == 1.0:
            return self.shape[0] / float(div)
        return orig(self, learning_rate, exaggeration)

    TSNEEmbedding._learning_rate = lr


def patch_lr_ee(div):
    """learning rate n / div during early exaggeration."""
    from napari_tsne.engine.embedding import TSNEEmbedding

    orig = TSNEEmbedding._learning_rate

    def lr(self, learning_rate, exaggeration):
        if learning_rate == "auto" and exaggeration != 1.0:
            return self.shape[0] / float(div)
        return orig(self, learning_rate, exaggeration)

    TSNEEmbedding._learning_rate = lr


def patch_init_noise(seed):
    """the initial map times (1 + 1e-6 noise): how much the final KL varies with a
    perturbation far below anything an option changes (the chaos of the run)."""
    from napari_tsne.engine import initialization

    orig = initialization.initialize

    def init(*a, **k):
        Y = orig(*a, **k)
        rng = np.random.default_rng(int(seed))
        return Y * (1.0 + 1e-6 * rng.standard_normal(Y.shape))

    initialization.initialize = init
    import napari_tsne.engine.preparation as prep

    prep.initialize = init


def patch_old_repulsion():
    """The repulsion before this study: "auto" = FFT above 10,000 points (cheaper of
    FFT / Barnes-Hut up to there), Barnes-Hut summarising cells by their centre of
    mass only (no quadrupoles)."""
    from napari_tsne.engine import embedding, gradients, preparation
    from napari_tsne.engine.gradients import barnes_hut

    orig = gradients.resolve_method

    def resolve(method, n, d):
        m = orig(method, n, d)
        return "fft" if m == gradients.BH_OR_FFT and n > 10_000 else m

    for mod in (gradients, embedding, preparation):
        mod.resolve_method = resolve
    barnes_hut.repulsive_bh.__defaults__ = (False,)


PATCHES = {
    "old-repulsion": patch_old_repulsion,
    "init-noise": patch_init_noise,
    "lr-main": patch_lr_main,
    "lr-ee": patch_lr_ee,
    "init-std": patch_init_std,
    "sklearn-gains": patch_sklearn_gains,
    "no-recenter": patch_no_recenter,
    "no-reset": patch_no_reset,
}


# --------------------------------------------------------------------- tools
def run_napari(X, params, patches, n_iter_total, P=None):
    for p in patches:
        name, _, arg = p.partition("=")
        PATCHES[name](*([arg] if arg else []))
    from napari_tsne import TSNE

    maps = {}

    def cb(it, kl, Y):
        maps[it] = Y.astype(np.float32)

    kw = dict(random_state=0, n_jobs=2, callbacks=cb, callback_every=EVERY)
    kw.update(params)
    t0 = time.perf_counter()
    if P is None:
        Y = TSNE(**kw).fit_transform(X)
    else:  # optimise on another P (same initial map)
        tsne = TSNE(**kw)
        emb = tsne.prepare(X)
        emb.P = P
        Y = np.asarray(tsne.run_phases(emb))
    wall = time.perf_counter() - t0
    return Y, maps, wall


def sklearn_P(X, perplexity=30.0):
    """scikit-learn's own P (its kNN search and calibration, as TSNE.fit does them)."""
    import scipy.sparse as sp
    from sklearn.manifold._t_sne import _joint_probabilities_nn
    from sklearn.neighbors import NearestNeighbors

    k = min(len(X) - 1, int(3.0 * perplexity + 1))
    D = NearestNeighbors(n_neighbors=k).fit(X).kneighbors_graph(mode="distance")
    D.data **= 2
    P = sp.csr_matrix(_joint_probabilities_nn(D, perplexity, 0))
    P.sort_indices()
    P.data = P.data.astype(np.float32)
    P.indices = P.indices.astype(np.int32)
    return P


def run_sklearn(X, params, n_iter_total, swap=None):
    import sklearn.manifold._t_sne as T
    from sklearn.manifold import TSNE

    maps = {}
    if swap:  # napari-tsne's P (and its initial map) in scikit-learn's optimiser
        from napari_tsne import TSNE as NT

        emb = NT(random_state=0, n_jobs=2).prepare(X)
        P_ours = emb.P.astype(np.float64)
        T._joint_probabilities_nn = lambda *a, **k: P_ours
        if swap == "P+init":
            params = {**params, "init": emb.coordinates.astype(np.float32)}
    orig = T._kl_divergence_bh
    count = [0]

    def obj(p, *a, **k):
        count[0] += 1
        if count[0] % EVERY == 1 and count[0] > 1:  # the map before step count[0]
            maps[count[0] - 1] = p.reshape(-1, 2).astype(np.float32).copy()
        return orig(p, *a, **k)

    T._kl_divergence_bh = obj
    kw = dict(
        n_components=2, perplexity=30, max_iter=n_iter_total, init="pca", random_state=0, n_jobs=2
    )
    kw.update(params)
    t0 = time.perf_counter()
    Y = TSNE(**kw).fit_transform(X)
    wall = time.perf_counter() - t0
    return Y, maps, wall


def run_opentsne(X, params, n_iter_total):
    """openTSNE with ``n_iter_total - 250`` iterations after its 250 of early
    exaggeration; its callbacks count each phase's iterations afresh, so the maps are
    numbered by their order (every EVERY iterations, 250 being a multiple of it)."""
    import openTSNE

    raw = []

    def cb(it, err, emb):
        raw.append(np.asarray(emb, dtype=np.float32).copy())
        return False

    kw = dict(
        n_jobs=2,
        random_state=0,
        n_iter=n_iter_total - 250,
        callbacks_every_iters=EVERY,
        callbacks=cb,
    )
    kw.update(params)
    t0 = time.perf_counter()
    Y = np.asarray(openTSNE.TSNE(**kw).fit(X))
    wall = time.perf_counter() - t0
    maps = {(i + 1) * EVERY: m for i, m in enumerate(raw)}
    return Y, maps, wall


def run_fitsne(X, params, n_iter_total):
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/x.npy", X.astype(np.float64))
        kw = dict(no_dims=2, perplexity=30.0, nthreads=2, rand_seed=0, max_iter=n_iter_total)
        kw.update(params)
        code = (
            "import sys, json, numpy as np, fitsne, time\n"
            "X = np.load(sys.argv[1]); kw = json.loads(sys.argv[3])\n"
            "t0 = time.perf_counter(); Y = fitsne.FItSNE(X, **kw)\n"
            "print(time.perf_counter() - t0); np.save(sys.argv[2], Y)\n"
        )
        out = subprocess.run(
            [
                "/work/peers/fitsne-venv/bin/python",
                "-c",
                code,
                f"{tmp}/x.npy",
                f"{tmp}/y.npy",
                json.dumps(kw),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = float(out.stdout.strip().splitlines()[-1])
        Y = np.load(f"{tmp}/y.npy")
    return Y, {}, wall


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("set")
    ap.add_argument("tag")
    ap.add_argument(
        "--tool",
        default="napari-tsne",
        choices=("napari-tsne", "scikit-learn", "openTSNE", "FIt-SNE"),
    )
    ap.add_argument("--params", default="{}")
    ap.add_argument("--patch", nargs="*", default=[])
    ap.add_argument("--n-iter", type=int, default=1000, help="total iterations (peers)")
    ap.add_argument("--P", help="optimise on the exact P ('exact') or its top-K rows ('K')")
    ap.add_argument("--no-traj", action="store_true", help="score the final map only")
    args = ap.parse_args(argv)

    X, _ = load_set(args.set)
    n = len(X)
    params = _resolve(json.loads(args.params), n)
    if args.tool == "napari-tsne":
        P_opt = None
        if args.P:
            if args.P == "sklearn":
                P_opt = sklearn_P(X)
            else:
                P_opt = DenseP(args.set).csr(None if args.P == "exact" else int(args.P))
        Y, maps, wall = run_napari(X, params, args.patch, args.n_iter, P_opt)
    elif args.tool == "scikit-learn":
        Y, maps, wall = run_sklearn(X, params, args.n_iter, args.P)
    elif args.tool == "openTSNE":
        Y, maps, wall = run_opentsne(X, params, args.n_iter)
    else:
        Y, maps, wall = run_fitsne(X, params, args.n_iter)
    D = DenseP(args.set)
    traj = {}
    if not args.no_traj:
        for it in sorted(maps):
            traj[int(it)] = D.kl(maps[it])
    Y = np.asarray(Y, dtype=np.float64)
    from napari_tsne import TSNE
    from napari_tsne.engine.gradients import kl_gradient

    P = TSNE(random_state=0, neighbors="exact").prepare(X.astype(np.float64)).P
    res = {
        "set": args.set,
        "tag": args.tag,
        "tool": args.tool,
        "params": json.loads(args.params),
        "patch": args.patch,
        "wall": wall,
        "kl_exact": D.kl(Y),
        "kl_knn": float(kl_gradient(Y, P, method="exact")[1]),
        "recall": knn_recall(X, Y),
        "extent": float(np.ptp(Y, axis=0).max()),
        "traj": traj,
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{args.set}--{args.tag}.json").write_text(json.dumps(res, indent=1))
    np.save(RUNS / f"{args.set}--{args.tag}.npy", Y.astype(np.float32))
    short = {k: res[k] for k in ("set", "tag", "wall", "kl_exact", "kl_knn", "recall", "extent")}
    print(json.dumps(short), flush=True)
    if traj:
        print("traj " + " ".join(f"{k}:{v:.4f}" for k, v in traj.items()), flush=True)


if __name__ == "__main__":
    main()
