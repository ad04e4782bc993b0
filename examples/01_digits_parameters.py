# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # t-SNE of the digits data set: what the parameters do
#
# The 1,797 8x8 images of handwritten digits that ship with scikit-learn, reduced to
# 30 principal components, then mapped with t-SNE. We compare PCA with t-SNE, then
# change one parameter at a time: perplexity, exaggeration, learning rate, number of
# iterations and the gradient method (exact, Barnes-Hut, FFT interpolation), with
# timings.
#
# Run as a script (`python examples/01_digits_parameters.py [--out DIR]`) or open it
# as a notebook with jupytext. `NAPARI_TSNE_FAST=1` makes it small and quick.

# %%
import time

import matplotlib.pyplot as plt
from _common import FAST, Timer, savefig
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from napari_tsne import TSNE
from napari_tsne.plotting import scatter

X, y = load_digits(return_X_y=True)
if FAST:
    X, y = X[:300], y[:300]
EE_ITER, N_ITER = (50, 50) if FAST else (250, 500)
X_pca = PCA(n_components=30, random_state=0).fit_transform(X)
print(X.shape, "->", X_pca.shape)


def run(**params):
    """t-SNE of the 30 PCs with the default schedule and the given changes."""
    base = dict(early_exaggeration_iter=EE_ITER, n_iter=N_ITER, random_state=0)
    base.update(params)
    t0 = time.perf_counter()
    tsne = TSNE(**base)
    Y = tsne.fit_transform(X_pca)
    return Y, time.perf_counter() - t0, tsne


def panel(axes, results, fmt):
    for ax, (value, (Y, seconds, tsne)) in zip(axes, results.items(), strict=True):
        scatter(Y, y, ax=ax, legend=False, s=3 if not FAST else 6)
        ax.set_title(
            f"{fmt.format(value)}\nKL {tsne.kl_divergence_:.2f}, {seconds:.1f} s", fontsize=9
        )


# %% [markdown]
# ## PCA versus t-SNE
#
# PCA keeps the directions of largest variance: the digits overlap. t-SNE keeps the
# neighbourhoods: each digit forms its own cluster (the axes of a t-SNE map have no
# meaning, only who is next to whom).

# %%
Y_tsne, seconds, tsne = run()
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
scatter(X_pca[:, :2], y, ax=axes[0], legend=False, title="PCA (first 2 of 30 components)")
scatter(Y_tsne, y, ax=axes[1], title=f"t-SNE (perplexity 30), {seconds:.1f} s", annotate=True)
savefig(fig, "digits_pca_vs_tsne.png")

# %% [markdown]
# ## Perplexity
#
# The perplexity is the effective number of neighbours each point attends to. Small
# values show local detail (and split clusters into pieces); large values show more
# of the global arrangement, at a higher cost.

# %%
results = {p: run(perplexity=p) for p in ([5, 30, 80] if not FAST else [5, 20, 50])}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), layout="constrained")
panel(axes, results, "perplexity {}")
savefig(fig, "digits_perplexity.png")

# %% [markdown]
# ## Exaggeration
#
# Exaggeration multiplies the attractive forces. 1 is plain t-SNE; larger values pull
# clusters tighter and further apart, and move the map towards Laplacian eigenmaps /
# UMAP-like pictures (Böhm, Berens & Kobak 2022). Values around 4 help with large data
# sets, where plain t-SNE spreads clusters out.

# %%
results = {e: run(exaggeration=e) for e in (1, 2, 4)}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), layout="constrained")
panel(axes, results, "exaggeration {}")
savefig(fig, "digits_exaggeration.png")

# %% [markdown]
# ## Learning rate
#
# `"auto"` is `n_samples / exaggeration` (Belkina et al. 2019), in openTSNE's units. A
# learning rate far too small converges more slowly: after the same number of
# iterations the KL divergence is higher and the clusters are looser. The smaller the
# learning rate compared with n, the larger the difference (it matters most for
# large data sets).

# %%
results = {lr: run(learning_rate=lr) for lr in (10, 100, "auto")}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), layout="constrained")
panel(axes, results, "learning rate {}")
savefig(fig, "digits_learning_rate.png")

# %% [markdown]
# ## Iterations
#
# The early-exaggeration phase (here 250 iterations at exaggeration 12) forms the
# clusters; the normal phase then lets them expand and settle. A `TSNEEmbedding` can
# be optimised further at any time, so we take snapshots of one run.

# %%
tsne = TSNE(early_exaggeration_iter=EE_ITER, n_iter=0, random_state=0)
tsne.fit(X_pca)
emb = tsne.tsne_embedding_
snapshots = {f"after early exaggeration ({EE_ITER})": (emb.coordinates.copy(), emb.kl_divergence)}
done = 0
for total in [50, 200, 750] if not FAST else [10, 30, 60]:
    emb.optimize(total - done)
    done = total
    snapshots[f"+{total} iterations"] = (emb.coordinates.copy(), emb.kl_divergence)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4), layout="constrained")
for ax, (name, (Y, kl)) in zip(axes, snapshots.items(), strict=True):
    scatter(Y, y, ax=ax, legend=False, s=3 if not FAST else 6)
    ax.set_title(f"{name}\nKL {kl:.2f}", fontsize=9)
savefig(fig, "digits_iterations.png")

# %% [markdown]
# ## Exact, Barnes-Hut and FFT gradients
#
# The repulsive forces involve all pairs of points. `exact` computes them directly
# (O(n²)); Barnes-Hut (`bh`, van der Maaten 2014) approximates distant groups of
# points with a quad-tree (O(n log n), accuracy `theta`); FFT interpolation (`fft`,
# Linderman et al. 2019) interpolates the forces on a grid (O(n)). For small data the
# three maps agree; for large data only the approximations are feasible, and FFT is
# the fastest. `negative_gradient_method="auto"` chooses by size.

# %%
timer = Timer()
results = {}
for method in ("exact", "bh", "fft"):
    with timer(method):
        results[method] = run(negative_gradient_method=method)
fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), layout="constrained")
panel(axes, results, "{}")
savefig(fig, "digits_methods.png")
print(timer.table("gradient method"))
