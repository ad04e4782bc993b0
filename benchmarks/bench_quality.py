"""Map quality and whole-process time: napari-tsne (its default 250 + 750 schedule and
``--early-exaggeration-iter auto --n-iter auto``), openTSNE and scikit-learn, each
a fresh process (bench_process.py's wrapper: the child's wall time), on one data set
at a time.

Every map is scored against one common reference: the affinities P of exact
neighbours at perplexity 30 (``TSNE(random_state=0, neighbors="exact").prepare(X).P``),
KL(P || Q) of the map (exact up to 20,000 points, FFT above), the 10-NN recall of the
input neighbourhoods and the leave-one-out 10-NN accuracy of the labels.

* napari-tsne: ``napari-tsne embed data.npy -o map.npy --threads N`` (every tool
  writes a .npy file; the iterations run are read from the CLI's summary line);
* openTSNE: ``openTSNE.TSNE(n_jobs=N, random_state=0).fit(X)``;
* scikit-learn: ``sklearn.manifold.TSNE(max_iter=1000, n_jobs=N, random_state=0)``
  (Barnes-Hut, exact neighbours; ``n_jobs`` is its neighbour search, the gradient's
  OpenMP threads are limited by ``OMP_NUM_THREADS=N``).

Data sets: ``digits`` (scikit-learn, 1,797 x 64), ``fm20k`` / ``fm70k`` (Fashion-MNIST,
PCA-50), ``fm20k-raw`` (784 pixels) and ``words`` (word2vec vectors, 100-d, trained
with gensim on the Wikipedia extract that ships with gensim's test data, unit length
so that euclidean neighbours are cosine neighbours; accuracy over the words with a
category of gensim's word-analogy test set).

    python benchmarks/bench_quality.py --datasets digits words fm20k --repeats 1
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
from bench_process import OPENTSNE_SCRIPT, common_kl, make_data, timed  # noqa: E402
from quality import knn_loo_accuracy, knn_recall  # noqa: E402

SKLEARN_SCRIPT = """
import sys
import numpy as np
from sklearn.manifold import TSNE

X = np.load(sys.argv[1])
Y = TSNE(max_iter=1000, n_jobs=int(sys.argv[3]), random_state=0).fit_transform(X)
np.save(sys.argv[2], np.asarray(Y))
"""

DATASETS = ("digits", "words", "fm20k", "fm70k", "fm20k-raw")
TOOLS = ("napari-tsne", "napari-tsne auto", "openTSNE", "scikit-learn")
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


def load(name: str, folder: Path):
    """(path of the .npy input, X, labels, rows whose labels count for the accuracy)."""
    if name in ("digits", "words"):
        if name == "digits":
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
            X = X.astype(np.float32)
        else:
            X, y = word_vectors()
        path = folder / f"{name}.npy"
        np.save(path, X)
    else:
        path, X, y = make_data(name, folder)
    return path, X, y, np.flatnonzero(y >= 0)


def commands(tool: str, data: Path, out: Path, threads: int, script_dir: Path):
    t = str(threads)
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
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    (work / "opentsne_fit.py").write_text(OPENTSNE_SCRIPT)
    (work / "sklearn_fit.py").write_text(SKLEARN_SCRIPT)
    from napari_tsne import TSNE

    results = []
    for name in args.datasets:
        data, X, y, scored = load(name, work)
        P = TSNE(random_state=0, neighbors="exact").prepare(X.astype(np.float64)).P
        row = {"dataset": name, "n": len(X), "d": X.shape[1], "tools": {}}
        for tool in args.tools:
            # every tool writes the same format (.npy), so that the times compare the fits
            out = work / f"{name}-{tool.replace(' ', '-')}.npy"
            cmd, env = commands(tool, data, out, args.threads, work)
            walls = []
            for rep in range(args.repeats):
                res = timed(cmd, env=env, keep_stderr=True)
                n_iter = iterations_run(res.pop("stderr"))
                walls.append(res["wall"])
                print(f"{name} {tool} run {rep}: {res}", flush=True)
            Y = np.load(out)
            row["tools"][tool] = {
                "wall": float(np.median(walls)),
                "walls": walls,
                "n_iter": n_iter,
                "kl_common": common_kl(P, Y),
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
    the ratios to the best of openTSNE and scikit-learn (KL, recall) and to openTSNE's
    time."""
    lines = [
        "| data | tool | iterations | time s | KL common P | 10-NN recall | 10-NN acc "
        "| KL / best other | recall / best other | time / openTSNE |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        tools = r["tools"]
        others = [tools[t] for t in ("openTSNE", "scikit-learn") if t in tools]
        best_kl = min((o["kl_common"] for o in others), default=None)
        best_recall = max((o["recall"] for o in others), default=None)
        ref_time = tools.get("openTSNE", {}).get("wall")
        for tool, m in tools.items():
            iters = {"openTSNE": 750, "scikit-learn": 1000}.get(tool, m["n_iter"])
            ratios = [
                f"{m['kl_common'] / best_kl:.3f}" if best_kl else "",
                f"{m['recall'] / best_recall:.4f}" if best_recall else "",
                f"{m['wall'] / ref_time:.2f}" if ref_time else "",
            ]
            lines.append(
                f"| {r['dataset']} ({r['n']:,} x {r['d']}) | {tool} | {iters} "
                f"| {m['wall']:.1f} | {m['kl_common']:.4f} | {m['recall']:.4f} "
                f"| {m['acc']:.4f} | {' | '.join(ratios)} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
