"""Whole-process times, as a user runs the tools: ``napari-tsne embed`` against a
script calling openTSNE, each a fresh process, alternating (A B A B ...).

For each data set the input is written once as ``.npy``; then each pair runs
``napari-tsne embed data.npy -o map.npy --threads N -q`` and ``python
opentsne_script.py data.npy map.npy N`` (``openTSNE.TSNE(n_jobs=N).fit(X)``, saved
with ``np.save``), each under a small wrapper that reports the child's wall time and
peak RSS (``getrusage(RUSAGE_CHILDREN)`` of a process that ran only that child).
Medians over the pairs, the ratio of the medians, and the quality of the last map of
each tool: KL divergence under one common P (exact neighbours, perplexity 30;
evaluated exactly up to 20,000 points, with the FFT gradient above), 10-NN recall of
the input neighbourhoods and leave-one-out 10-NN accuracy.

``--cold`` adds the first run after installation: napari-tsne with an empty numba
cache (``NUMBA_CACHE_DIR`` pointing at a new folder), next to a plain openTSNE run.

    python benchmarks/bench_process.py --datasets fm6k fm20k fm70k fm20k-raw --pairs 3
    python benchmarks/bench_process.py --datasets fm20k --pairs 3 --cold
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_fashion_mnist, pca  # noqa: E402
from quality import knn_loo_accuracy, knn_recall  # noqa: E402

OPENTSNE_SCRIPT = """
import sys
import numpy as np
import openTSNE

X = np.load(sys.argv[1])
Y = openTSNE.TSNE(n_jobs=int(sys.argv[3]), random_state=0).fit(X)
np.save(sys.argv[2], np.asarray(Y))
"""

#: runs argv[1:] as a child and prints its wall time and peak RSS as JSON
WRAPPER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6  # kB -> GB
print(json.dumps({"rc": rc, "wall": wall, "peak_gb": peak}))
"""

DATASETS = {
    "fm6k": (6_000, True),
    "fm20k": (20_000, True),
    "fm70k": (70_000, True),
    "fm20k-raw": (20_000, False),
    "fm3k-raw": (3_000, False),
}


def make_data(name: str, folder: Path):
    n, use_pca = DATASETS[name]
    X, y, _ = load_fashion_mnist()
    if n < len(X):
        rows = np.sort(np.random.default_rng(42).choice(len(X), n, replace=False))
        X, y = X[rows], y[rows]
    X = pca(X.astype(np.float32), 50) if use_pca else X.astype(np.float32)
    path = folder / f"{name}.npy"
    np.save(path, X)
    return path, X, y.astype(np.int64)


def timed(cmd: list[str], env=None, keep_stderr: bool = False) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd],
        env=env,
        capture_output=True,
        text=True,
    )
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    res = json.loads(last)
    if res.get("rc") != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    if keep_stderr:
        res["stderr"] = out.stderr  # the child's messages (napari-tsne's summary line)
    return res


def common_kl(P, Y) -> float:
    from napari_tsne.engine.gradients import kl_gradient

    method = "exact" if len(Y) <= 20_000 else "fft"
    return float(kl_gradient(np.ascontiguousarray(Y, dtype=np.float64), P, method=method)[1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["fm6k", "fm20k", "fm70k", "fm20k-raw"])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="add a first run with an empty cache")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args(argv)

    cli = shutil.which("napari-tsne")
    if cli is None:
        raise SystemExit("napari-tsne is not on PATH: pip install . first")
    work = Path(tempfile.mkdtemp(prefix="bench-process-"))
    script = work / "opentsne_fit.py"
    script.write_text(OPENTSNE_SCRIPT)
    t = str(args.threads)
    results = []
    for name in args.datasets:
        data, X, y = make_data(name, work)
        ours_out, ref_out = work / f"{name}-ours.npy", work / f"{name}-ref.npy"
        ours_cmd = [cli, "embed", str(data), "-o", str(ours_out), "--threads", t, "-q"]
        ours_cmd.append("--overwrite")
        ref_cmd = [sys.executable, str(script), str(data), str(ref_out), t]
        runs = {"napari-tsne": [], "openTSNE": []}
        if args.cold:
            cache = work / f"numba-cache-{name}"
            cache.mkdir()
            cold = timed(ours_cmd, env={**os.environ, "NUMBA_CACHE_DIR": str(cache)})
            print(f"{name} napari-tsne cold (empty numba cache): {cold}", flush=True)
        for pair in range(args.pairs):
            for tool, cmd in (("napari-tsne", ours_cmd), ("openTSNE", ref_cmd)):
                res = timed(cmd)
                runs[tool].append(res)
                print(f"{name} pair {pair} {tool}: {res}", flush=True)
        from napari_tsne import TSNE

        P = TSNE(random_state=0, neighbors="exact").prepare(X.astype(np.float64)).P
        row = {"dataset": name, "n": len(X), "d": X.shape[1]}
        for tool, out in (("napari-tsne", ours_out), ("openTSNE", ref_out)):
            Y = np.load(out)
            row[tool] = {
                "wall": float(np.median([r["wall"] for r in runs[tool]])),
                "walls": [r["wall"] for r in runs[tool]],
                "peak_gb": float(np.median([r["peak_gb"] for r in runs[tool]])),
                "kl_common": common_kl(P, Y),
                "recall": knn_recall(X, Y),
                "acc": knn_loo_accuracy(Y, y),
            }
        if args.cold:
            row["cold"] = cold["wall"]
        results.append(row)

    print(
        "\n| data | napari-tsne s | openTSNE s | ratio | peak GB (ours / theirs) "
        "| KL common P (ours / theirs) | 10-NN recall | 10-NN acc |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        a, b = r["napari-tsne"], r["openTSNE"]
        print(
            f"| {r['dataset']} ({r['n']:,} x {r['d']}) | {a['wall']:.1f} | {b['wall']:.1f} "
            f"| **{a['wall'] / b['wall']:.2f}** | {a['peak_gb']:.2f} / {b['peak_gb']:.2f} "
            f"| {a['kl_common']:.4f} / {b['kl_common']:.4f} | {a['recall']:.4f} / "
            f"{b['recall']:.4f} | {a['acc']:.4f} / {b['acc']:.4f} |"
        )
    if args.cold:
        for r in results:
            b = r["openTSNE"]["wall"]
            print(
                f"{r['dataset']}: first run after install (empty numba cache) "
                f"{r['cold']:.1f} s = {r['cold'] / b:.2f}x openTSNE's median {b:.1f} s"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
