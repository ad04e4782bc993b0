"""Whole-process times, as a user runs the tools: ``napari-tsne embed`` against a
script calling openTSNE and one calling FIt-SNE, each a fresh process, alternating
(A B C A B C ...).

For each data set the input is written once as ``.npy``; then each round runs
``napari-tsne embed data.npy -o map.npy --threads N -q``, ``python
opentsne_script.py data.npy map.npy N`` (``openTSNE.TSNE(n_jobs=N).fit(X)``, saved
with ``np.save``) and ``fitsne-python fitsne_script.py data.npy map.npy N``
(``fitsne.FItSNE(X, perplexity=30, nthreads=N, rand_seed=0)``, its defaults otherwise:
750 iterations), each under a small wrapper that reports the child's wall time and
peak RSS (``getrusage(RUSAGE_CHILDREN)`` of a process that ran only that child).
Medians over the rounds, the ratios of the medians, and the quality of the last map of
each tool: KL divergence under one common P (exact neighbours, perplexity 30;
evaluated exactly up to 20,000 points, with the FFT gradient above), for the
sentence-embedding sets also the KL under the exact all-pairs P
(``quality.exact_kl``), 10-NN recall of the input neighbourhoods and leave-one-out
10-NN accuracy.

FIt-SNE (C++, built against FFTW) is no dependency of the package or of CI: it runs
in its own venv, ``$NAPARI_TSNE_FITSNE_PYTHON`` (default
``/work/peers/fitsne-venv/bin/python``), made with ``apt-get install libfftw3-dev``,
``python3 -m venv /work/peers/fitsne-venv``, ``pip install numpy cython wheel
setuptools scikit-learn`` and ``pip install --no-build-isolation fitsne`` in it; where
that Python is missing the column is left out with a note.

Data sets: Fashion-MNIST subsets (``fm6k`` ... ``fm70k``: PCA-50; ``-raw``: 784 pixels)
and the sentence-embedding sets ``debian`` and ``fortunes`` (384-d, see datasets.py;
built and cached on first use). ``--subset N`` takes a seeded subset of N rows of each
(smoke tests).

``--cold`` adds the first run after installation: napari-tsne with an empty numba
cache (``NUMBA_CACHE_DIR`` pointing at a new folder), next to a plain openTSNE run.

    python benchmarks/bench_process.py --datasets fm6k fm20k fm70k fm20k-raw --pairs 3
    python benchmarks/bench_process.py --datasets fm20k --pairs 3 --cold
    python benchmarks/bench_process.py --datasets debian fortunes --pairs 3
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
from datasets import SENTENCE_SETS, load_fashion_mnist, load_sentence_set, pca  # noqa: E402
from quality import exact_affinities, exact_kl, knn_loo_accuracy, knn_recall  # noqa: E402

OPENTSNE_SCRIPT = """
import sys
import numpy as np
import openTSNE

X = np.load(sys.argv[1])
Y = openTSNE.TSNE(n_jobs=int(sys.argv[3]), random_state=0).fit(X)
np.save(sys.argv[2], np.asarray(Y))
"""

#: FIt-SNE with its defaults (argv[4], if given: max_iter); run by the FIt-SNE venv's python
FITSNE_SCRIPT = """
import sys
import numpy as np
import fitsne

X = np.ascontiguousarray(np.load(sys.argv[1]), dtype=np.float64)
extra = {"max_iter": int(sys.argv[4])} if len(sys.argv) > 4 else {}
Y = fitsne.FItSNE(
    X, no_dims=2, perplexity=30.0, nthreads=int(sys.argv[3]), rand_seed=0, **extra
)
np.save(sys.argv[2], np.asarray(Y))
"""
FITSNE_PYTHON_ENV = "NAPARI_TSNE_FITSNE_PYTHON"
DEFAULT_FITSNE_PYTHON = "/work/peers/fitsne-venv/bin/python"
FITSNE_DEFAULT_ITER = 750  # fitsne 1.2.1's FItSNE(max_iter=750, stop_early_exag_iter=250)


def fitsne_python() -> str | None:
    """The Python of the FIt-SNE venv, or None (with a printed note) where it is missing."""
    python = os.environ.get(FITSNE_PYTHON_ENV) or DEFAULT_FITSNE_PYTHON
    if Path(python).exists():
        return python
    print(
        f"note: FIt-SNE left out: {python} does not exist (set {FITSNE_PYTHON_ENV} to the "
        "python of a venv where `pip install --no-build-isolation fitsne` worked)",
        flush=True,
    )
    return None


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
    # sentence embeddings (datasets.py): all their rows, 384-d as the model gives them
    "debian": (None, False),
    "fortunes": (None, False),
}


def make_data(name: str, folder: Path, subset: int | None = None):
    """(path of the .npy input, X float32, labels int64); ``subset``: a seeded random
    subset of that many rows (smoke tests)."""
    n, use_pca = DATASETS[name]
    if name in SENTENCE_SETS:
        X, y = load_sentence_set(name)
        n = len(X)
    else:
        X, y, _ = load_fashion_mnist()
    if subset is not None and subset < n:
        n = subset
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
    ap.add_argument(
        "--datasets",
        nargs="+",
        default=["fm6k", "fm20k", "fm70k", "fm20k-raw"],
        choices=list(DATASETS),
    )
    ap.add_argument("--pairs", type=int, default=3, help="rounds (one run of each tool)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="add a first run with an empty cache")
    ap.add_argument("--no-fitsne", action="store_true", help="leave FIt-SNE out")
    ap.add_argument("--subset", type=int, help="a seeded subset of N rows of each set (smoke)")
    ap.add_argument(
        "--exact-kl",
        choices=("auto", "all", "none"),
        default="auto",
        help="KL under the exact all-pairs P (O(n^2) time): auto = sentence sets only",
    )
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args(argv)

    cli = shutil.which("napari-tsne")
    if cli is None:
        raise SystemExit("napari-tsne is not on PATH: pip install . first")
    fitsne = None if args.no_fitsne else fitsne_python()
    work = Path(tempfile.mkdtemp(prefix="bench-process-"))
    script = work / "opentsne_fit.py"
    script.write_text(OPENTSNE_SCRIPT)
    (work / "fitsne_fit.py").write_text(FITSNE_SCRIPT)
    t = str(args.threads)
    results = []
    for name in args.datasets:
        data, X, y = make_data(name, work, args.subset)
        ours_out, ref_out = work / f"{name}-ours.npy", work / f"{name}-ref.npy"
        ours_cmd = [cli, "embed", str(data), "-o", str(ours_out), "--threads", t, "-q"]
        ours_cmd.append("--overwrite")
        ref_cmd = [sys.executable, str(script), str(data), str(ref_out), t]
        tools = {"napari-tsne": (ours_cmd, ours_out), "openTSNE": (ref_cmd, ref_out)}
        if fitsne:
            fit_out = work / f"{name}-fitsne.npy"
            fit_cmd = [fitsne, str(work / "fitsne_fit.py"), str(data), str(fit_out), t]
            tools["FIt-SNE"] = (fit_cmd, fit_out)
        runs = {tool: [] for tool in tools}
        if args.cold:
            cache = work / f"numba-cache-{name}"
            cache.mkdir()
            cold = timed(ours_cmd, env={**os.environ, "NUMBA_CACHE_DIR": str(cache)})
            print(f"{name} napari-tsne cold (empty numba cache): {cold}", flush=True)
        for pair in range(args.pairs):
            for tool, (cmd, _) in tools.items():
                res = timed(cmd)
                runs[tool].append(res)
                print(f"{name} pair {pair} {tool}: {res}", flush=True)
        from napari_tsne import TSNE

        P = TSNE(random_state=0, neighbors="exact").prepare(X.astype(np.float64)).P
        exact = None
        if args.exact_kl == "all" or (args.exact_kl == "auto" and name in SENTENCE_SETS):
            exact = exact_affinities(X, 30.0)  # calibrated once, scores every tool's map
        row = {"dataset": name, "n": len(X), "d": X.shape[1]}
        for tool, (_, out) in tools.items():
            Y = np.load(out)
            row[tool] = {
                "wall": float(np.median([r["wall"] for r in runs[tool]])),
                "walls": [r["wall"] for r in runs[tool]],
                "peak_gb": float(np.median([r["peak_gb"] for r in runs[tool]])),
                "kl_common": common_kl(P, Y),
                "kl_exact": None if exact is None else exact_kl(None, Y, affinities=exact),
                "recall": knn_recall(X, Y),
                "acc": knn_loo_accuracy(Y, y),
            }
        if args.cold:
            row["cold"] = cold["wall"]
        results.append(row)

    print(table(results))
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


def table(results) -> str:
    """One row per data set: each tool's median time, napari-tsne's ratio to each peer,
    then peak memory and the quality measures of every tool (in the header's order)."""
    tools = [t for t in ("napari-tsne", "openTSNE", "FIt-SNE") if any(t in r for r in results)]
    peers = tools[1:]
    with_exact = any(r[t].get("kl_exact") is not None for r in results for t in tools if t in r)
    names = " / ".join(tools)
    head = ["data", *(f"{t} s" for t in tools), *(f"ratio to {p}" for p in peers)]
    head += [f"peak GB ({names})", f"KL common P ({names})"]
    head += [f"KL exact P ({names})"] if with_exact else []
    head += [f"10-NN recall ({names})", f"10-NN acc ({names})"]
    lines = ["", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]

    def each(r, key, fmt):
        return " / ".join(
            "-" if t not in r or r[t].get(key) is None else format(r[t][key], fmt) for t in tools
        )

    for r in results:
        ours = r["napari-tsne"]["wall"]
        cells = [f"{r['dataset']} ({r['n']:,} x {r['d']})"]
        cells += [f"{r[t]['wall']:.1f}" if t in r else "-" for t in tools]
        cells += [f"**{ours / r[p]['wall']:.2f}**" if p in r else "-" for p in peers]
        cells += [each(r, "peak_gb", ".2f"), each(r, "kl_common", ".4f")]
        cells += [each(r, "kl_exact", ".4f")] if with_exact else []
        cells += [each(r, "recall", ".4f"), each(r, "acc", ".4f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
