"""Map quality and whole-process time: napari-tsne (its default 250 + 750 schedule and
``--early-exaggeration-iter auto --n-iter auto``), openTSNE, scikit-learn and FIt-SNE,
each a fresh process (bench_process.py's wrapper: the child's wall time), on one data
set at a time.

Every map is scored against one common reference: the affinities P of exact
neighbours at perplexity 30 (``TSNE(random_state=0, neighbors="exact").prepare(X).P``),
KL(P || Q) of the map (exact up to 20,000 points, FFT above), the 10-NN recall of the
input neighbourhoods and the leave-one-out 10-NN accuracy of the labels. On the
sentence-embedding sets (and on every set with ``--exact-kl all``) the maps are also
scored by the KL under the exact all-pairs P (``quality.exact_kl``: perplexity 30 over
all n - 1 other points, no neighbour truncation; O(n^2) time, about a minute at 20,000).

* napari-tsne: ``napari-tsne embed data.npy -o map.npy --threads N`` (every tool
  writes a .npy file; the iterations run are read from the CLI's summary line);
* openTSNE: ``openTSNE.TSNE(n_jobs=N, random_state=0).fit(X)``;
* scikit-learn: ``sklearn.manifold.TSNE(max_iter=1000, n_jobs=N, random_state=0)``
  (Barnes-Hut, exact neighbours; ``n_jobs`` is its neighbour search, the gradient's
  OpenMP threads are limited by ``OMP_NUM_THREADS=N``);
* FIt-SNE: ``fitsne.FItSNE(X, perplexity=30, nthreads=N, rand_seed=0)``, its defaults
  otherwise (750 iterations; ``--fitsne-iter`` changes that), run by the python of its
  own venv (``$NAPARI_TSNE_FITSNE_PYTHON``, see bench_process.py; left out with a note
  where missing; no dependency of the package or of CI).

Data sets: ``digits`` (scikit-learn, 1,797 x 64), ``fm20k`` / ``fm70k`` (Fashion-MNIST,
PCA-50), ``fm20k-raw`` (784 pixels) and ``words`` (word2vec vectors, 100-d, trained
with gensim on the Wikipedia extract that ships with gensim's test data, unit length
so that euclidean neighbours are cosine neighbours; accuracy over the words with a
category of gensim's word-analogy test set), and the sentence-embedding sets ``debian``
(16,000 Debian package descriptions, labels: section) and ``fortunes`` (15,088 sayings of
the fortunes packages, labels: the fortune file), 384-d all-MiniLM-L6-v2 embeddings
built and cached by datasets.py on first use. ``--subset N`` takes a seeded subset of N
rows of each set (smoke tests).

    python benchmarks/bench_quality.py --datasets digits words fm20k --repeats 1
    python benchmarks/bench_quality.py --datasets debian fortunes --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_process import (  # noqa: E402
    FITSNE_DEFAULT_ITER,
    FITSNE_SCRIPT,
    OPENTSNE_SCRIPT,
    common_kl,
    fitsne_python,
    make_data,
    timed,
)
from datasets import SENTENCE_SETS  # noqa: E402
from quality import exact_affinities, exact_kl, knn_loo_accuracy, knn_recall  # noqa: E402

SKLEARN_SCRIPT = """
import sys
import numpy as np
from sklearn.manifold import TSNE

X = np.load(sys.argv[1])
Y = TSNE(max_iter=1000, n_jobs=int(sys.argv[3]), random_state=0).fit_transform(X)
np.save(sys.argv[2], np.asarray(Y))
"""

DATASETS = ("digits", "words", "fm20k", "fm70k", "fm20k-raw", "debian", "fortunes")
TOOLS = ("napari-tsne", "napari-tsne auto", "openTSNE", "scikit-learn", "FIt-SNE")
PEERS = ("openTSNE", "scikit-learn", "FIt-SNE")
AUTO = ["--early-exaggeration-iter", "auto", "--n-iter", "auto"]


def word_vectors():
    """(vectors, labels, labelled): word2vec on gensim's bundled corpus (see the
    module docstring); ``labelled`` marks the words with an analogy-set category."""
    from gensim.models import Word2Vec
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess

    with open(datapath("head500.noblanks.cor"), encoding="utf-8") as f:
        docs = [simple_preprocess(line) for line in f]
    sentences = [doc[i : i + 1000] for doc in docs for i in range(0, len(doc), 1000)]
    model = Word2Vec(
        sentences, vector_size=100, window=5, min_count=5, workers=1, epochs=15, seed=0
    )
    cats: dict[str, str] = {}
    section = None
    with open(datapath("questions-words.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith(":"):
                section = line[1:].strip()
                continue
            words = line.lower().split()
            for i, w in enumerate(words):  # pairs a:b :: c:d, a and c share a category
                cats.setdefault(w, f"{section}/{i % 2}")
    vocab = model.wv.index_to_key
    V = model.wv[vocab].astype(np.float32)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    names = sorted(set(cats.values()))
    labels = np.array([names.index(cats[w]) if w in cats else -1 for w in vocab])
    return V, labels


def load(name: str, folder: Path, subset: int | None = None):
    """(path of the .npy input, X, labels, rows whose labels count for the accuracy);
    ``subset``: a seeded random subset of that many rows (smoke tests)."""
    if name in ("digits", "words"):
        if name == "digits":
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
            X = X.astype(np.float32)
        else:
            X, y = word_vectors()
        if subset is not None and subset < len(X):
            rows = np.sort(np.random.default_rng(42).choice(len(X), subset, replace=False))
            X, y = X[rows], y[rows]
        path = folder / f"{name}.npy"
        np.save(path, X)
    else:
        path, X, y = make_data(name, folder, subset)
    return path, X, y, np.flatnonzero(y >= 0)


def commands(tool: str, data: Path, out: Path, threads: int, script_dir: Path, fitsne_iter=None):
    t = str(threads)
    if tool == "FIt-SNE":
        extra = [] if fitsne_iter is None else [str(fitsne_iter)]
        python = fitsne_python()
        return [python, str(script_dir / "fitsne_fit.py"), str(data), str(out), t, *extra], None
    if tool.startswith("napari-tsne"):
        cli = shutil.which("napari-tsne")
        if cli is None:
            raise SystemExit("napari-tsne is not on PATH: pip install . first")
        # no -q: the last line says how many iterations ran (read by iterations_run)
        cmd = [cli, "embed", str(data), "-o", str(out), "--threads", t, "--overwrite"]
        return cmd + (AUTO if tool.endswith("auto") else []), None
    script = script_dir / ("opentsne_fit.py" if tool == "openTSNE" else "sklearn_fit.py")
    env = {**os.environ, "OMP_NUM_THREADS": t} if tool == "scikit-learn" else None
    return [sys.executable, str(script), str(data), str(out), t], env


def iterations_run(stderr: str) -> int | None:
    """The iterations of a napari-tsne run, from the CLI's summary line
    ("...; KL divergence 0.7448, 700 iterations ...")."""
    found = re.findall(r"KL divergence [0-9.]+, (\d+) iterations", stderr)
    return int(found[-1]) if found else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each tool (medians)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--subset", type=int, help="a seeded subset of N rows of each set (smoke)")
    ap.add_argument(
        "--fitsne-iter",
        type=int,
        help=f"FIt-SNE's max_iter (default: its own, {FITSNE_DEFAULT_ITER})",
    )
    ap.add_argument(
        "--exact-kl",
        choices=("auto", "all", "none"),
        default="auto",
        help="KL under the exact all-pairs P (O(n^2) time): auto = sentence sets only",
    )
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args(argv)

    tools = list(args.tools)
    if "FIt-SNE" in tools and fitsne_python() is None:
        tools.remove("FIt-SNE")
    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    (work / "opentsne_fit.py").write_text(OPENTSNE_SCRIPT)
    (work / "sklearn_fit.py").write_text(SKLEARN_SCRIPT)
    (work / "fitsne_fit.py").write_text(FITSNE_SCRIPT)
    from napari_tsne import TSNE

    results = []
    for name in args.datasets:
        data, X, y, scored = load(name, work, args.subset)
        P = TSNE(random_state=0, neighbors="exact").prepare(X.astype(np.float64)).P
        exact = None
        if args.exact_kl == "all" or (args.exact_kl == "auto" and name in SENTENCE_SETS):
            exact = exact_affinities(X, 30.0)  # calibrated once, scores every tool's map
        row = {"dataset": name, "n": len(X), "d": X.shape[1], "tools": {}}
        for tool in tools:
            # every tool writes the same format (.npy), so that the times compare the fits
            out = work / f"{name}-{tool.replace(' ', '-')}.npy"
            cmd, env = commands(tool, data, out, args.threads, work, args.fitsne_iter)
            walls = []
            for rep in range(args.repeats):
                res = timed(cmd, env=env, keep_stderr=True)
                n_iter = iterations_run(res.pop("stderr"))
                walls.append(res["wall"])
                print(f"{name} {tool} run {rep}: {res}", flush=True)
            if tool == "FIt-SNE":
                n_iter = args.fitsne_iter or FITSNE_DEFAULT_ITER
            Y = np.load(out)
            row["tools"][tool] = {
                "wall": float(np.median(walls)),
                "walls": walls,
                "n_iter": n_iter,
                "kl_common": common_kl(P, Y),
                "kl_exact": None if exact is None else exact_kl(None, Y, affinities=exact),
                "recall": knn_recall(X, Y),
                "acc": knn_loo_accuracy(Y[scored], y[scored]),
            }
            print(f"{name} {tool}: {row['tools'][tool]}", flush=True)
        results.append(row)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    print(table(results))
    shutil.rmtree(work, ignore_errors=True)


def table(results) -> str:
    """The Markdown table of docs/benchmarks.md: one row per data set and tool, with
    the ratios to the best of the peers (openTSNE, scikit-learn, FIt-SNE; KL, recall)
    and to openTSNE's and scikit-learn's times. The exact-P columns appear when some
    data set was scored under the exact all-pairs P."""
    with_exact = any(m.get("kl_exact") is not None for r in results for m in r["tools"].values())
    head = "| data | tool | iterations | time s | KL common P "
    head += "| KL exact P " if with_exact else ""
    head += "| 10-NN recall | 10-NN acc | KL / best other "
    head += "| KL exact / best other " if with_exact else ""
    head += "| recall / best other | time / openTSNE | time / scikit-learn |"
    lines = [head, "|---|---|" + "---:|" * (head.count("|") - 3)]
    for r in results:
        tools = r["tools"]
        others = [tools[t] for t in PEERS if t in tools]
        best_kl = min((o["kl_common"] for o in others), default=None)
        exacts = [o["kl_exact"] for o in others if o.get("kl_exact") is not None]
        best_exact = min(exacts, default=None)
        best_recall = max((o["recall"] for o in others), default=None)
        ref_time = tools.get("openTSNE", {}).get("wall")
        sk_time = tools.get("scikit-learn", {}).get("wall")
        for tool, m in tools.items():
            iters = {"openTSNE": 750, "scikit-learn": 1000}.get(tool, m["n_iter"])
            exact = m.get("kl_exact")
            cells = [f"{r['dataset']} ({r['n']:,} x {r['d']})", tool, str(iters)]
            cells += [f"{m['wall']:.1f}", f"{m['kl_common']:.4f}"]
            cells += [f"{exact:.4f}" if exact is not None else ""] if with_exact else []
            cells += [f"{m['recall']:.4f}", f"{m['acc']:.4f}"]
            cells += [f"{m['kl_common'] / best_kl:.3f}" if best_kl else ""]
            if with_exact:
                cells += [f"{exact / best_exact:.3f}" if best_exact and exact else ""]
            cells += [f"{m['recall'] / best_recall:.4f}" if best_recall else ""]
            cells += [f"{m['wall'] / ref_time:.2f}" if ref_time else ""]
            cells += [f"{m['wall'] / sk_time:.2f}" if sk_time else ""]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
