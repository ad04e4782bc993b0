# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Large data: all 70,000 Fashion-MNIST images
#
# The recipe for large data sets (Kobak & Berens 2019; openTSNE's "embedding large data
# sets"): approximate neighbours (pynndescent) and FFT-interpolated gradients make a
# plain run feasible; exaggeration (about 4) separates the clusters that a plain run
# of many points spreads out; a larger perplexity brings more of the global structure;
# subsample-and-extend fixes the global layout with a map of a sample, places the rest
# into it, and then optimises all points. Each run is timed.
# (`NAPARI_TSNE_FAST=1`: 1,000 images, few FFT iterations, exact neighbours.)

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from _common import FASHION_MNIST_CLASSES, FAST, Timer, load_fashion_mnist, savefig, skip
from sklearn.decomposition import PCA

from napari_tsne import TSNE
from napari_tsne.plotting import ProgressPrinter, scatter

data = load_fashion_mnist()
if data is None:
    skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
X, y = data
# by default all 70,000 images (as for the figure in the docs); NAPARI_TSNE_N=20000
# runs a random subset instead
n_use = 1000 if FAST else int(os.environ.get("NAPARI_TSNE_N", len(X)))
if n_use < len(X):
    rows = np.sort(np.random.default_rng(0).choice(len(X), n_use, replace=False))
    X, y = X[rows], y[rows]
# fast mode: few iterations, and the FFT gradient that the full run uses (by size it
# would be exact for 1,000 points); the neighbours stay exact (no pynndescent compile)
FAST_SCHEDULE = dict(early_exaggeration_iter=25, n_iter=25, negative_gradient_method="fft")
SCHEDULE = FAST_SCHEDULE if FAST else {}
SUBSAMPLE = 300 if FAST else 10_000
BIG_PERPLEXITY = 40 if FAST else 100

X = PCA(50, random_state=0).fit_transform(X.astype(np.float32))
print(X.shape)

# %% [markdown]
# ## Four runs
#
# `TSNE` picks pynndescent neighbours (from 5,000 points) and FFT gradients (from
# 10,000 points) by itself. `subsample=N` runs subsample-and-extend: t-SNE of `N`
# random points, `transform` of the others into that map, then a run of all points
# started from that layout with a short early-exaggeration phase.

# %%
runs = {
    "plain t-SNE": dict(),
    "exaggeration 4": dict(exaggeration=4),
    f"perplexity {BIG_PERPLEXITY}": dict(perplexity=BIG_PERPLEXITY),
    f"subsample {SUBSAMPLE:,} and extend": dict(subsample=SUBSAMPLE),
}
timer = Timer()
maps = {}
for name, params in runs.items():
    progress = ProgressPrinter(prefix=name)
    tsne = TSNE(random_state=0, callbacks=progress, callback_every=50, **SCHEDULE, **params)
    with timer(name):
        maps[name] = tsne.fit_transform(X)
    progress.close()
    stages = tsne.tsne_embedding_.timings
    print("   ", ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))

# %%
print(timer.table())

# %%
fig, axes = plt.subplots(2, 2, figsize=(10, 9.5), layout="constrained")
for ax, (name, Y) in zip(axes.ravel(), maps.items(), strict=True):
    scatter(
        Y,
        y,
        ax=ax,
        legend=ax is axes[0, 1],
        label_names=FASHION_MNIST_CLASSES,
        alpha=0.7,
    )
    ax.set_title(f"{name}: {timer.times[name]:.0f} s", fontsize=10)
fig.suptitle(f"Fashion-MNIST, {len(X):,} images")
savefig(fig, "fashion_mnist_large_data.png", dpi=70)

# %% [markdown]
# What to see: the plain map has the most local detail, but the classes fill one large
# disc with little space between them. Exaggeration 4 pulls each class together: the
# shoes (sandal, sneaker, ankle boot), bags and trousers become separate islands, at
# the price of detail within the classes. Perplexity 100 gives more compact classes and
# clearer gaps. Subsample-and-extend gives a map like the plain one whose global layout
# was fixed by the sample. It is not much cheaper than a plain run (the sample's run,
# then a run of all points with a shorter early phase): its benefit is the layout. For
# a quick look at very large data, the placed layout of the extend step alone (no run
# of all points) costs only the sample's run plus the placement; see the large-data
# guide in the docs.
