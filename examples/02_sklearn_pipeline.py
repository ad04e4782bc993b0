# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # t-SNE in a scikit-learn pipeline with your own nearest neighbours
#
# `TSNE(metric="precomputed")` accepts a sparse k-nearest-neighbour distance graph,
# the output of scikit-learn's `KNeighborsTransformer(mode="distance")` or of
# pynndescent's `PyNNDescentTransformer`. The neighbour search then becomes a step of
# a pipeline that can be swapped, cached or tuned like any other:
#
# ```python
# make_pipeline(PCA(50), KNeighborsTransformer(n_neighbors=90, mode="distance"),
#               TSNE(metric="precomputed"))
# ```
#
# We time four ways of finding the neighbours on Fashion-MNIST subsets of 10,000 and
# 20,000 images: the engine's own exact search and its pynndescent search, and the
# two scikit-learn-style transformers. The neighbours need `3 * perplexity` = 90 per
# point; the transformers return each point as its own first neighbour, which `TSNE`
# skips.
#
# pynndescent compiles its numba code the first time it is used in a Python process
# (tens of seconds, whatever the data size). The example compiles it once on a small
# sample before the timings, and prints how long that took, so that the table compares
# searches, not compilers.
#
# `NAPARI_TSNE_FAST=1` (what the test suite runs): 500 and 1,000 images, few
# Barnes-Hut iterations, and **only the two exact-neighbour pipelines** (built-in exact
# and `KNeighborsTransformer`), because the pynndescent compilation alone would take
# longer than the rest of the example. `NAPARI_TSNE_PYNNDESCENT=1` brings the
# pynndescent pipelines back in fast mode.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import FASHION_MNIST_CLASSES, FAST, load_fashion_mnist, savefig, skip
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsTransformer
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from napari_tsne import TSNE
from napari_tsne.plotting import scatter

data = load_fashion_mnist()
if data is None:
    skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
X_all, y_all = data
# NAPARI_TSNE_SIZES=2500,5000 runs other subset sizes
SIZES = (500, 1000) if FAST else (10_000, 20_000)
if not FAST and os.environ.get("NAPARI_TSNE_SIZES"):
    SIZES = tuple(int(v) for v in os.environ["NAPARI_TSNE_SIZES"].split(","))
# fast mode: a short run, and Barnes-Hut even below 1,000 points (quicker than exact)
FAST_SCHEDULE = dict(early_exaggeration_iter=25, n_iter=25, negative_gradient_method="bh")
SCHEDULE = FAST_SCHEDULE if FAST else {}
if FAST:
    # small matrices: one BLAS thread is quicker, above all on a busy machine
    threadpool_limits(1, user_api="blas")
K = 90  # 3 * perplexity 30
# the pynndescent pipelines (always in a full run; in fast mode only when asked for)
USE_PYNNDESCENT = not FAST or os.environ.get("NAPARI_TSNE_PYNNDESCENT", "") not in ("", "0")
if USE_PYNNDESCENT:
    from pynndescent import PyNNDescentTransformer
else:
    print("fast mode: exact-neighbour pipelines only (NAPARI_TSNE_PYNNDESCENT=1 adds pynndescent)")

# %% [markdown]
# ## The pipelines
#
# PCA to 50 components first (as is usual for images and single-cell data), then the
# neighbour search, then t-SNE. The built-in variants pass the PCA output to `TSNE`
# directly and choose the search with `neighbors=`.


# %%
def pipelines():
    pipes = {
        "built-in exact": make_pipeline(
            PCA(50, random_state=0), TSNE(neighbors="exact", random_state=0, **SCHEDULE)
        ),
        "built-in pynndescent": make_pipeline(
            PCA(50, random_state=0), TSNE(neighbors="pynndescent", random_state=0, **SCHEDULE)
        ),
        "KNeighborsTransformer": make_pipeline(
            PCA(50, random_state=0),
            KNeighborsTransformer(n_neighbors=K, mode="distance"),
            TSNE(metric="precomputed", random_state=0, **SCHEDULE),
        ),
    }
    if USE_PYNNDESCENT:
        pipes["PyNNDescentTransformer"] = make_pipeline(
            PCA(50, random_state=0),
            PyNNDescentTransformer(n_neighbors=K + 1, random_state=0),
            TSNE(metric="precomputed", random_state=0, **SCHEDULE),
        )
    else:
        del pipes["built-in pynndescent"]
    return pipes


def knn_seconds(pipe) -> float:
    """Time of the neighbour search inside a fitted pipeline."""
    tsne = pipe.steps[-1][1]
    if tsne.metric == "precomputed":
        return step_times[id(pipe)]
    return tsne.tsne_embedding_.timings["nearest neighbours"]


# %% [markdown]
# Time each step: we fit the steps one after another (what `Pipeline.fit_transform`
# does) so that the neighbour search can be timed on its own.

# %%
rng = np.random.default_rng(0)
rows = {n: np.sort(rng.choice(len(X_all), n, replace=False)) for n in SIZES}
if USE_PYNNDESCENT:
    # compile pynndescent's numba code (both the built-in search and the transformer's)
    # on 1,000 images, outside the timings
    t0 = time.perf_counter()
    warm = PCA(50, random_state=0).fit_transform(X_all[:1000].astype(np.float32))
    PyNNDescentTransformer(n_neighbors=K + 1, random_state=0).fit_transform(warm)
    TSNE(neighbors="pynndescent", random_state=0, early_exaggeration_iter=1, n_iter=1).fit(warm)
    print(f"pynndescent compilation (once per Python process): {time.perf_counter() - t0:.1f} s")
maps, step_times, table = {}, {}, []
for n in SIZES:
    X = X_all[rows[n]].astype(np.float32)
    for name, pipe in pipelines().items():
        t0 = time.perf_counter()
        Z = X
        for step_name, step in pipe.steps[:-1]:
            ts = time.perf_counter()
            Z = step.fit_transform(Z)
            if step_name.endswith("transformer"):
                step_times[id(pipe)] = time.perf_counter() - ts
        Y = pipe.steps[-1][1].fit_transform(Z)
        total = time.perf_counter() - t0
        maps[n, name] = Y
        table.append((n, name, knn_seconds(pipe), total))
        print(f"n={n:6d}  {name:24s} kNN {table[-1][2]:6.1f} s   total {total:6.1f} s")

# %%
lines = ["| n | neighbours | kNN (s) | whole pipeline (s) |", "| ---: | --- | ---: | ---: |"]
lines += [f"| {n:,} | {name} | {knn:.1f} | {total:.1f} |" for n, name, knn, total in table]
print("\n".join(lines))

# %% [markdown]
# The maps agree: the neighbour graph from the approximate searches is nearly exact,
# and exactness beyond that does not change the picture. (The built-in variants start
# from PCA of the data; with `metric="precomputed"` there are no features, so `init="pca"`
# becomes a spectral initialisation and the map comes out rotated or mirrored.)

# %%
names = list(pipelines())
fig, axes = plt.subplots(
    len(SIZES),
    len(names),
    figsize=(3.2 * len(names), 3.3 * len(SIZES)),
    layout="constrained",
    squeeze=False,
)
for i, n in enumerate(SIZES):
    y = y_all[rows[n]]
    for j, name in enumerate(names):
        knn, total = next((k, t) for m, nm, k, t in table if m == n and nm == name)
        last = i == len(SIZES) - 1 and j == len(names) - 1
        scatter(maps[n, name], y, ax=axes[i, j], legend=last, label_names=FASHION_MNIST_CLASSES)
        axes[i, j].set_title(f"{name}, n={n:,}\nkNN {knn:.1f} s, total {total:.1f} s", fontsize=9)
savefig(fig, "pipeline_fashion_mnist.png", dpi=70)
