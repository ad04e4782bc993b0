"""Scale: t-SNE of 1,000,000 points (50 dimensions) on one machine, per-stage time
and memory, for a plain run and for subsample-and-extend, on two data sets:

* ``--data realistic`` (the benchmark of record): a 120-component full-covariance
  Gaussian mixture fitted to Fashion-MNIST's 70,000 PCA-50 images and sampled to the
  size asked for (``datasets.realistic_mixture``; its intrinsic dimension and
  neighbour structure are compared with the real data's by ``python datasets.py
  mixture --compare``); labels: the mixture component and its Fashion-MNIST class;
* ``--data isotropic`` (the stress case): a hierarchical mixture of isotropic
  unit-variance Gaussians generated here (10 groups of 10 subclusters of unequal
  sizes, float32), intrinsically 50-dimensional, the hardest case for any approximate
  neighbour index; labels: subcluster and group.

The map's quality is checked against the labels: leave-one-out 10-NN accuracy in the
map, on a random 20,000 of the points (their neighbours searched among all points).
``--code DIR`` runs the ``src`` of another checkout (e.g. the code before an issue,
``git worktree add /tmp/before <commit>``) in the same way, for a comparison on the
same machine in the same session.

Each mode runs in a fresh process (so peak memory is its own); the stages are the
engine's own verbose stages (neighbours, affinities, initialisation, early
exaggeration, optimisation, and the subsample-and-extend phases around them), with the
peak resident memory seen during each, sampled every 50 ms::

    python benchmarks/bench_scale.py --data realistic --n 1000000 --modes full
    python benchmarks/bench_scale.py --data isotropic --n 1000000 --modes full subsample
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def hierarchical_mixture(n: int, d: int = 50, seed: int = 0):
    """``(X float32 (n, d), subcluster labels, group labels)``: 10 groups of 10
    Gaussian subclusters with Dirichlet-distributed sizes."""
    rng = np.random.default_rng(seed)
    n_groups, n_sub = 10, 10
    # overlapping on purpose: 10-NN accuracy in the 50-D input space (20,000 points,
    # 2-fold CV) is 0.68 for the subclusters and 0.98 for the groups
    groups = rng.normal(scale=0.6, size=(n_groups, d))
    centres = (groups[:, None, :] + rng.normal(scale=0.4, size=(n_groups, n_sub, d))).reshape(-1, d)
    weights = rng.dirichlet(np.full(n_groups * n_sub, 2.0))
    sub = rng.choice(n_groups * n_sub, size=n, p=weights).astype(np.int32)
    X = np.empty((n, d), dtype=np.float32)
    step = 100_000
    for s in range(0, n, step):
        e = min(n, s + step)
        X[s:e] = centres[sub[s:e]] + rng.standard_normal(size=(e - s, d), dtype=np.float32)
    return X, sub, sub // n_sub


class StageMemory(io.TextIOBase):
    """Stands in for stderr: passes everything through, reads the engine's verbose
    stage lines (``[napari-tsne] NAME ...`` / ``[napari-tsne] NAME: 1.23 s``) and
    phase lines (``[napari-tsne] NAME (250 iterations)`` / ``[napari-tsne] NAME: done,
    KL ...``, timed here) and records, per stage, its time and the peak RSS sampled
    while it ran."""

    START = re.compile(r"^\[napari-tsne\] (.+?)(?: \.\.\.| \(\d+ iterations\))$")
    END = re.compile(r"^\[napari-tsne\] (.+?): (?:([0-9.]+) s|(?:done|converged|stopped)\b.*)$")

    def __init__(self, stream):
        import psutil

        self.stream = stream
        self.proc = psutil.Process()
        self.open: dict[str, float] = {}  # stage -> peak so far
        self.started: dict[str, float] = {}  # stage -> perf_counter at its start line
        self.stages: list[dict] = []
        self.peak = self.proc.memory_info().rss
        self.buf = ""
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self):
        while not self.done.wait(0.05):
            self._sample()

    def _sample(self):
        rss = self.proc.memory_info().rss
        self.peak = max(self.peak, rss)
        for k in list(self.open):
            self.open[k] = max(self.open[k], rss)

    def write(self, s):
        self.stream.write(s)
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if m := self.START.match(line.strip()):
                self._sample()
                self.open[m.group(1)] = self.proc.memory_info().rss
                self.started[m.group(1)] = time.perf_counter()
            elif m := self.END.match(line.strip()):
                self._sample()
                name = m.group(1)  # the start line may add " (n points)"
                key = next((k for k in reversed(self.open) if k.startswith(name)), None)
                peak = self.open.pop(key) if key is not None else self.peak
                t0 = self.started.pop(key, None) if key is not None else None
                if m.group(2) is not None:
                    seconds = float(m.group(2))
                else:  # a phase line: timed from its start line
                    seconds = time.perf_counter() - t0 if t0 is not None else float("nan")
                self.stages.append({"stage": name, "s": seconds, "peak_gb": peak / 1e9})
        return len(s)

    def flush(self):
        self.stream.flush()

    def close_sampler(self):
        self.done.set()
        self.thread.join()
        self._sample()


def sampled_quality(X, Y, n_sample=20_000, n_recall=2_000, k=10, seed=0) -> dict:
    """Quality measures that compare maps of a million points: the KL divergence of a
    seeded sample of the map under the exact all-pairs P of the same sample's data (one
    common P for every run), and the 10-NN recall of seeded queries (their true
    neighbours among all points, faiss exact search, vs their neighbours in the map)."""
    import faiss
    from sklearn.neighbors import KDTree

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from quality import exact_kl

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), min(n_sample, len(X)), replace=False)
    kl = exact_kl(np.asarray(X[rows], np.float64), np.asarray(Y[rows], np.float64))
    q = rng.choice(len(X), min(n_recall, len(X)), replace=False)
    flat = faiss.IndexFlatL2(X.shape[1])
    flat.add(np.ascontiguousarray(X, np.float32))
    _, nx = flat.search(np.ascontiguousarray(X[q], np.float32), k + 1)
    ny = KDTree(Y).query(Y[q], k=k + 1, return_distance=False)
    hits = [len(set(a[1:]) & set(b[1:])) for a, b in zip(nx, ny, strict=True)]
    return {"kl_sample": float(kl), "recall10": float(np.mean(hits)) / k}


def knn_accuracy_sampled(Y, labels, n_eval=20_000, k=10, seed=0):
    from sklearn.neighbors import NearestNeighbors

    rows = np.random.default_rng(seed).choice(len(Y), min(n_eval, len(Y)), replace=False)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(Y)
    idx = nn.kneighbors(Y[rows], return_distance=False)[:, 1:]
    out = []
    for lab in labels:
        votes = lab[idx]
        pred = np.array([np.bincount(v, minlength=lab.max() + 1).argmax() for v in votes])
        out.append(float(np.mean(pred == lab[rows])))
    return out


def load_data(data: str, n: int):
    """``(X, fine labels, coarse labels)`` of the data set *data* (see the docstring)."""
    if data == "isotropic":
        return hierarchical_mixture(n)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from datasets import realistic_mixture

    X, component, label = realistic_mixture(n)
    return np.ascontiguousarray(X), component, label


def run_mode(mode: str, n: int, sample: int, n_jobs: int, data: str = "isotropic") -> dict:
    """One mode in this process (called in a child)."""
    import psutil

    t0 = time.perf_counter()
    X, sub, group = load_data(data, n)
    t_data = time.perf_counter() - t0
    base = psutil.Process().memory_info().rss

    from napari_tsne import TSNE

    tracker = StageMemory(sys.stderr)
    sys.stderr = tracker
    try:
        t0 = time.perf_counter()
        tsne = TSNE(
            n_jobs=n_jobs,
            random_state=0,
            verbose=True,
            subsample=sample if mode == "subsample" else None,
            callback_every=250,
        )
        emb = tsne.fit_embedding(X)
        wall = time.perf_counter() - t0
    finally:
        sys.stderr = tracker.stream
        tracker.close_sampler()
    Y = np.asarray(emb)
    acc_sub, acc_group = knn_accuracy_sampled(Y, [sub, group])
    quality = sampled_quality(X, Y)
    return {
        "mode": mode,
        "data": data,
        "n": n,
        "sample": sample if mode == "subsample" else None,
        "n_jobs": n_jobs,
        "data_s": t_data,
        "wall_s": wall,
        "kl": float(emb.kl_divergence),
        "acc_subcluster": acc_sub,
        "acc_group": acc_group,
        **quality,
        "base_gb": base / 1e9,
        "peak_gb": tracker.peak / 1e9,
        "maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "stages": tracker.stages,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--modes", nargs="+", default=["full", "subsample"])
    ap.add_argument("--sample", type=int, default=100_000, help="subsample size")
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write raw results here")
    ap.add_argument("--data", choices=["realistic", "isotropic"], default="realistic")
    ap.add_argument("--code", help="the folder of another checkout whose src/ to run")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        res = run_mode(args.child, args.n, args.sample, args.n_jobs, args.data)
        print("RESULT " + json.dumps(res), flush=True)
        return

    env = dict(os.environ)
    if args.code:  # another checkout's package (its own numba cache beside it)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(args.code).resolve() / "src"), env.get("PYTHONPATH", "")]
        )
    # compile (or load the cache) once so no mode pays for it
    subprocess.run([sys.executable, "-c", WARM_UP], check=True, capture_output=True, env=env)
    results = []
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--child", mode, "--n", str(args.n)]
        cmd += ["--sample", str(args.sample), "--n-jobs", str(args.n_jobs), "--data", args.data]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=env)
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT ") :]))
        report(results[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


WARM_UP = """
import numpy as np
from napari_tsne import TSNE
X = np.random.default_rng(0).normal(size=(12_000, 10))
TSNE(n_iter=5, early_exaggeration_iter=5, random_state=0).fit(X)
TSNE(n_iter=5, early_exaggeration_iter=5, random_state=0, subsample=3000).fit(X)
"""


def report(r: dict) -> None:
    title = f"{r['mode']} run" + (f", sample {r['sample']:,}" if r["sample"] else "")
    title += f", {r.get('data', 'isotropic')} data"
    print(f"\n### {r['n']:,} points: {title} (n_jobs={r['n_jobs']})\n")
    print("| stage | time s | peak RSS GB |")
    print("|---|---|---|")
    for s in r["stages"]:
        print(f"| {s['stage']} | {s['s']:.1f} | {s['peak_gb']:.2f} |")
    print(
        f"\ntotal {r['wall_s']:.1f} s ({r['wall_s'] / 60:.1f} min); peak RSS "
        f"{r['peak_gb']:.2f} GB (process maxrss {r['maxrss_gb']:.2f} GB; "
        f"{r['base_gb']:.2f} GB before the run, the data included); KL {r['kl']:.4f}; "
        f"10-NN accuracy fine labels {r['acc_subcluster']:.4f}, coarse {r['acc_group']:.4f}; "
        f"KL of a 20,000 sample under its exact P {r['kl_sample']:.4f}; 10-NN recall "
        f"{r['recall10']:.4f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
