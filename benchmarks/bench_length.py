"""KL (common P), 10-NN recall and accuracy of napari-tsne maps at 750, 850, 900 and
1,000 iterations in all (one 250 + 750 fit, the map taken by a callback), and of a
fit with both phases "auto" (issue #17, docs/benchmarks.md "Run length").

    python benchmarks/bench_length.py fm20k    # digits, words, fm20k, fm70k, fm20k-raw
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_process import common_kl
from bench_quality import load
from quality import knn_loo_accuracy, knn_recall

from napari_tsne import TSNE

name = sys.argv[1]
checks = [750, 850, 900, 1000]
folder = Path(tempfile.mkdtemp())
path, X, y, lab = load(name, folder)
P = TSNE(random_state=0, neighbors="exact").prepare(X).P


def score(Y):
    acc = knn_loo_accuracy(Y[lab], y[lab])
    return dict(kl=round(common_kl(P, Y), 4), recall=round(knn_recall(X, Y), 4), acc=round(acc, 4))


out = {}
snaps = {}


def cb(it, kl, Y):
    snaps[it] = np.array(Y)


t = time.perf_counter()
est = TSNE(random_state=0, n_jobs=2, n_iter=750, callbacks=cb, callback_every=50)
est.fit(X)
tt = time.perf_counter() - t
print(
    "callback its",
    sorted(snaps)[:3],
    sorted(snaps)[-3:],
    "fit",
    round(tt, 1),
    est.tsne_embedding_.timings if hasattr(est, "tsne_embedding_") else "",
)
for c in checks:
    key = c if c in snaps else c - 250
    if key in snaps:
        out[f"fixed{c}"] = score(snaps[key])
        print(name, c, out[f"fixed{c}"], flush=True)
t = time.perf_counter()
est = TSNE(random_state=0, n_jobs=2, early_exaggeration_iter="auto", n_iter="auto").fit(X)
ta = time.perf_counter() - t
emb = est.tsne_embedding_
out["auto"] = score(np.asarray(est.embedding_)) | dict(
    iters=dict(emb.phase_iterations), t=round(ta, 1)
)
out["fixed_t"] = round(tt, 1)
print(name, "auto", out["auto"], flush=True)
json.dump(out, open(f"len-{name}.json", "w"))
