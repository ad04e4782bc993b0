"""Adding samples to a map, and subsample-and-extend, on Fashion-MNIST.

(a) transform: fit t-SNE on the training images (PCA to 50 dimensions, the same PCA
    for both tools), place the test images with ``transform``; report times and the
    accuracy of predicting each test label from its 10 nearest training points in the
    map -- this engine next to openTSNE, with the same repulsion method and thread
    count, each with its own default neighbour search (``--neighbors auto``: faiss
    here, Annoy in openTSNE) or both with the one named.
(b) subsample-and-extend on all images with a sample vs a plain full run: wall time
    and leave-one-out 10-NN accuracy in the map.

Each tool fits once; its ``transform`` is timed ``--repeats`` times on the same map
and the median is reported (the placements are seeded, so they are identical).

Full run (long):   python benchmarks/bench_transform.py
Quick check:       python benchmarks/bench_transform.py --n-train 10000 --n-test 2000 \\
                       --n-all 12000 --sample-size 3000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_fashion_mnist, pca  # noqa: E402
from quality import knn_loo_accuracy  # noqa: E402

from napari_tsne import TSNE  # noqa: E402


def knn_transfer_accuracy(Y_train, y_train, Y_test, y_test, k=10) -> float:
    """Accuracy of labels predicted for test points from their k nearest training points."""
    return float(KNeighborsClassifier(k).fit(Y_train, y_train).score(Y_test, y_test))


def timed(f, *a, **kw):
    t0 = time.perf_counter()
    out = f(*a, **kw)
    return out, time.perf_counter() - t0


def timed_median(repeats, f, *a, **kw):
    """The last result and the median time of ``repeats`` calls."""
    times = []
    for _ in range(max(1, repeats)):
        out, t = timed(f, *a, **kw)
        times.append(t)
    return out, float(np.median(times))


def first_transform(tsne, Z, **kw):
    """``tsne.transform(Z)`` as the first transform into this map: the inverted file that
    "auto" builds for large batches (kept on the map for later batches) is dropped
    first, so every timed repeat pays for building it."""
    knn = tsne.tsne_embedding_.knn
    if knn is not None:
        knn._query_ivf = None
    return tsne.transform(Z, **kw)


def warm_up(args):
    """Compile the numba kernels outside the timings (both code paths)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 10)).astype(np.float32)
    t = TSNE(
        n_iter=5,
        early_exaggeration_iter=5,
        neighbors=args.neighbors,
        negative_gradient_method=args.method,
        n_jobs=args.n_jobs,
        random_state=0,
    )
    t.fit(X[:500])
    t.transform(X[500:], n_iter=2)
    TSNE(
        n_iter=5,
        early_exaggeration_iter=5,
        subsample=300,
        n_jobs=args.n_jobs,
        neighbors=args.neighbors,
        negative_gradient_method=args.method,
        random_state=0,
    ).fit(X)


def bench_transform(args, X, y, split, rows):
    tr = np.arange(split.n_train)[: args.n_train]
    te = split.n_train + np.arange(split.n_test)[: args.n_test]
    Z = pca(X[np.concatenate([tr, te])], 50, fit_rows=np.arange(len(tr)))
    Ztr, Zte, ytr, yte = Z[: len(tr)], Z[len(tr) :], y[tr], y[te]
    tkw = json.loads(args.transform_params) if args.transform_params else {}

    acc_pca = knn_transfer_accuracy(Ztr, ytr, Zte, yte)
    rows.append(("(a) PCA-50 space, no t-SNE (ceiling)", len(tr), len(te), "", "", acc_pca))

    tsne = TSNE(
        neighbors=args.neighbors,
        negative_gradient_method=args.method,
        n_jobs=args.n_jobs,
        random_state=args.seed,
    )
    _, t_fit = timed(tsne.fit, Ztr)
    Yte, t_tr = timed_median(args.repeats, first_transform, tsne, Zte, **tkw)
    acc = knn_transfer_accuracy(tsne.embedding_, ytr, Yte, yte)
    ours = t_tr
    rows.append(("(a) napari-tsne fit + transform", len(tr), len(te), t_fit, t_tr, acc))
    Y0, t_med = timed(first_transform, tsne, Zte, n_iter=0)
    rows.append(
        (
            "(a) napari-tsne median placement only",
            len(tr),
            len(te),
            "",
            t_med,
            knn_transfer_accuracy(tsne.embedding_, ytr, Y0, yte),
        )
    )

    if not args.skip_opentsne:
        import openTSNE

        ot = openTSNE.TSNE(
            neighbors=args.neighbors,
            negative_gradient_method=args.method,
            n_jobs=args.n_jobs,
            random_state=args.seed,
        )
        emb, t_fit = timed(ot.fit, Ztr)
        Y_ref = np.array(emb)  # transform re-centres the reference in place
        Yte, t_tr = timed_median(args.repeats, emb.transform, Zte)
        # compare in the (re-centred) frame openTSNE used
        acc = knn_transfer_accuracy(np.array(emb), ytr, np.asarray(Yte), yte)
        rows.append(("(a) openTSNE fit + transform", len(tr), len(te), t_fit, t_tr, acc))
        del Y_ref
        rows.append(
            (f"(a) transform time ratio napari-tsne / openTSNE = {ours / t_tr:.2f}",) + ("",) * 5
        )


def bench_subsample(args, X, y, rows):
    n = min(args.n_all, len(X))
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(X), n, replace=False)) if n < len(X) else np.arange(n)
    Z, yy = pca(X[idx], 50), y[idx]
    common = dict(
        neighbors=args.neighbors,
        negative_gradient_method=args.method,
        n_jobs=args.n_jobs,
        random_state=args.seed,
    )
    full, t_full = timed(TSNE(**common).fit, Z)
    rows.append(("(b) full t-SNE", n, "", t_full, "", knn_loo_accuracy(full.embedding_, yy)))
    sub, t_sub = timed(TSNE(subsample=args.sample_size, **common).fit, Z, stratify=None)
    phases = sub.tsne_embedding_.timings
    detail = ", ".join(
        f"{k.split(': ')[1]} {v:.1f}s" for k, v in phases.items() if k.startswith("subsample: ")
    )
    rows.append(
        (
            f"(b) subsample {args.sample_size} + extend ({detail})",
            n,
            "",
            t_sub,
            "",
            knn_loo_accuracy(sub.embedding_, yy),
        )
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=60_000)
    p.add_argument("--n-test", type=int, default=10_000)
    p.add_argument("--n-all", type=int, default=70_000, help="points for part (b)")
    p.add_argument("--sample-size", type=int, default=10_000, help="sample for part (b)")
    p.add_argument("--parts", default="a,b", help="'a', 'b' or 'a,b'")
    p.add_argument(
        "--neighbors",
        default="auto",
        choices=["auto", "pynndescent", "exact"],
        help="both tools' neighbour search; auto: each its own default (faiss / Annoy)",
    )
    p.add_argument(
        "--method", default="fft", choices=["fft", "bh"], help="repulsion method, for both tools"
    )
    p.add_argument("--n-jobs", type=int, default=-1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="transform timings per tool")
    p.add_argument("--skip-opentsne", action="store_true")
    p.add_argument(
        "--transform-params",
        default="",
        help="JSON of TSNEEmbedding.transform keywords, e.g. '{\"n_iter\": 500}'",
    )
    args = p.parse_args(argv)

    X, y, split = load_fashion_mnist()
    warm_up(args)
    rows: list[tuple] = []
    parts = set(args.parts.split(","))
    if "a" in parts:
        bench_transform(args, X, y, split, rows)
    if "b" in parts:
        bench_subsample(args, X, y, rows)

    def fmt(v, spec):
        return "" if v == "" else format(v, spec)

    print(
        f"\nFashion-MNIST, PCA-50, neighbors={args.neighbors}, method={args.method}, "
        f"n_jobs={args.n_jobs}\n"
    )
    print("| run | n ref / all | n new | fit (s) | transform (s) | 10-NN accuracy |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n1, n2, t1, t2, acc in rows:
        print(f"| {name} | {n1} | {n2} | {fmt(t1, '.1f')} | {fmt(t2, '.2f')} | {fmt(acc, '.4f')} |")


if __name__ == "__main__":
    main()
