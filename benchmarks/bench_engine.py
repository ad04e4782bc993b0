"""This engine next to openTSNE on the same data, in one process.

For each data set both tools run with their default parameters (perplexity 30, early
exaggeration 12 for 250 iterations, 500 more iterations, PCA initialisation, learning
rate n/12 then n), the same repulsion method and thread count, ``--repeats`` times;
the table gives medians of wall time, each tool's own KL divergence, the KL of both maps
under one common P (this engine's, evaluated exactly when n <= 20,000), leave-one-out
10-NN accuracy and 10-NN recall of the input neighbourhoods.

numba compilation is excluded from the timings (a warm-up run compiles or loads the
cache first, pynndescent included); its cost is reported separately by ``--compile``:
the first and second call of a small run (12,000 points, so pynndescent and the FFT
path are used) in a fresh process, once with an empty numba cache and once with the
cache that run filled.

    python benchmarks/bench_engine.py --datasets digits fmnist10k --method bh
    python benchmarks/bench_engine.py --datasets fmnist70k --method fft --repeats 3 --compile
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_fashion_mnist, pca  # noqa: E402
from quality import knn_loo_accuracy, knn_recall  # noqa: E402


def load(name: str):
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X.astype(np.float64), y
    X, y, _ = load_fashion_mnist()
    if name == "fmnist10k":
        rows = np.random.default_rng(42).choice(len(X), 10_000, replace=False)
        X, y = X[rows], y[rows]
    elif name != "fmnist70k":
        raise SystemExit(f"unknown data set {name}")
    return pca(X.astype(np.float32), 50).astype(np.float64), y.astype(np.int64)


class PeakRSS:
    """Peak resident memory of this process during a block, sampled every 20 ms."""

    def __enter__(self):
        import psutil

        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.done = threading.Event()
        self.t = threading.Thread(target=self._poll, daemon=True)
        self.t.start()
        return self

    def _poll(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self.done.set()
        self.t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def extra_gb(self) -> float:
        return (self.peak - self.base) / 1e9


def run_ours(X, method, n_jobs, seed):
    from napari_tsne import TSNE

    t = TSNE(negative_gradient_method=method, n_jobs=n_jobs, random_state=seed)
    t0 = time.perf_counter()
    emb = t.prepare(X)
    t1 = time.perf_counter()
    t.run_phases(emb)
    t2 = time.perf_counter()
    return np.asarray(emb).copy(), emb.kl_divergence, t1 - t0, t2 - t1


def run_opentsne(X, method, n_jobs, seed):
    import openTSNE

    t = openTSNE.TSNE(negative_gradient_method=method, n_jobs=n_jobs, random_state=seed)
    t0 = time.perf_counter()
    aff = openTSNE.affinity.PerplexityBasedNN(
        X, perplexity=30, n_jobs=n_jobs, random_state=seed, method="auto"
    )
    init = openTSNE.initialization.pca(X, random_state=seed)
    t1 = time.perf_counter()
    emb = t.fit(affinities=aff, initialization=init)
    t2 = time.perf_counter()
    return np.asarray(emb).copy(), float(emb.kl_divergence), t1 - t0, t2 - t1


COMPILE_CHILD = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from napari_tsne import TSNE
t_import = time.perf_counter() - t0
X = np.random.default_rng(0).normal(size=(12_000, 50))
calls = []
for _ in range(2):
    t = time.perf_counter()
    TSNE(n_iter=10, early_exaggeration_iter=10, n_jobs=int(sys.argv[1]), random_state=0).fit(X)
    calls.append(time.perf_counter() - t)
print(json.dumps({"import": t_import, "first": calls[0], "second": calls[1]}))
"""


def compile_times(n_jobs: int) -> dict:
    """Cost of numba compilation: first vs second call in fresh processes, with an
    empty cache and then with the cache the first process wrote."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("empty cache", "warm cache"):
            res = subprocess.run(
                [sys.executable, "-c", COMPILE_CHILD, str(n_jobs)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            t = json.loads(res.stdout.strip().splitlines()[-1])
            out[label] = t
            print(
                f"{label}: import {t['import']:.1f} s, first call {t['first']:.1f} s, "
                f"second call {t['second']:.1f} s -> compile/cache load "
                f"{t['first'] - t['second']:.1f} s",
                flush=True,
            )
    return out


def common_kl(P, Y):
    from napari_tsne.engine.gradients import kl_gradient

    method = "exact" if len(Y) <= 20_000 else "fft"
    return kl_gradient(np.ascontiguousarray(Y, dtype=np.float64), P, method=method)[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "fmnist10k"])
    ap.add_argument("--method", default="bh", help="bh or fft (same for both tools)")
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write raw results here")
    ap.add_argument("--compile", action="store_true", help="also measure compilation cost")
    args = ap.parse_args(argv)

    compiled = compile_times(args.n_jobs) if args.compile else None

    from napari_tsne import TSNE

    t0 = time.perf_counter()
    for n, neighbors in ((2000, "exact"), (6000, "pynndescent")):
        TSNE(
            n_iter=2,
            early_exaggeration_iter=2,
            negative_gradient_method=args.method,
            neighbors=neighbors,
            random_state=0,
        ).fit(np.random.default_rng(0).normal(size=(n, 5)))
    warm = time.perf_counter() - t0
    print(f"warm-up (numba compile or cache load): {warm:.1f} s", flush=True)

    rows = []
    for name in args.datasets:
        X, y = load(name)
        P_common = TSNE(random_state=0).prepare(X).P
        for tool, runner in (("napari-tsne", run_ours), ("openTSNE", run_opentsne)):
            res = []
            for r in range(args.repeats):
                with PeakRSS() as mem:
                    Y, kl, t_aff, t_opt = runner(X, args.method, args.n_jobs, r)
                res.append(
                    {
                        "time": t_aff + t_opt,
                        "t_aff": t_aff,
                        "t_opt": t_opt,
                        "kl": kl,
                        "kl_common": common_kl(P_common, Y),
                        "acc": knn_loo_accuracy(Y, y),
                        "recall": knn_recall(X, Y),
                        "mem_gb": mem.extra_gb,
                    }
                )
                print(
                    f"{name} {tool} run {r}: "
                    + ", ".join(f"{k}={v:.4g}" for k, v in res[-1].items()),
                    flush=True,
                )
            med = {k: float(np.median([x[k] for x in res])) for k in res[0]}
            rows.append({"dataset": name, "n": len(X), "tool": tool, **med})

    print(
        "\n| data | n | tool | wall s | kNN+P s | optimise s | KL (own P) | KL (common P) "
        "| 10-NN acc | 10-NN recall | peak extra GB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['n']} | {r['tool']} | {r['time']:.2f} | {r['t_aff']:.2f} "
            f"| {r['t_opt']:.2f} | {r['kl']:.4f} | {r['kl_common']:.4f} | {r['acc']:.4f} "
            f"| {r['recall']:.4f} | {r['mem_gb']:.2f} |"
        )
    for name in args.datasets:
        ours = next(r for r in rows if r["dataset"] == name and r["tool"] == "napari-tsne")
        ref = next(r for r in rows if r["dataset"] == name and r["tool"] == "openTSNE")
        print(
            f"{name}: time ratio napari-tsne/openTSNE = {ours['time'] / ref['time']:.2f}, "
            f"KL(common P) ratio = {ours['kl_common'] / ref['kl_common']:.4f}, "
            f"accuracy difference = {ours['acc'] - ref['acc']:+.4f}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"warmup_s": warm, "compile": compiled, "rows": rows}, indent=1)
        )
    print(
        f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f}"
        " GB"
    )


if __name__ == "__main__":
    main()
