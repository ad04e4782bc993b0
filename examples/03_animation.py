# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Watching t-SNE optimise: map and Q matrix animations
#
# Callbacks `f(iteration, kl, coordinates)` are called every `callback_every`
# iterations. `FrameRecorder` keeps a copy of the map each time, and `animate` turns
# the copies into a GIF (or an MP4 when ffmpeg is installed). A second animation shows
# the similarity matrix Q of the map converging towards the input affinities P.
# (`NAPARI_TSNE_FAST=1`: 300 digits, few iterations.)

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, out_dir, savefig
from matplotlib import animation
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from napari_tsne import TSNE
from napari_tsne.plotting import FrameRecorder, LiveScatter, ProgressPrinter, animate

X, y = load_digits(return_X_y=True)
if FAST:
    X, y = X[:300], y[:300]
EE_ITER, N_ITER = (40, 40) if FAST else (250, 500)
X = PCA(30, random_state=0).fit_transform(X)

# %% [markdown]
# ## The map
#
# The recorder takes a frame every 10 iterations; `ProgressPrinter` prints a progress
# bar at the same time (callbacks can be combined in a list). In a notebook,
# `LiveScatter(labels=y, every=5)` would redraw a figure during the run instead.

# %%
recorder = FrameRecorder(every=10)
progress = ProgressPrinter(EE_ITER + N_ITER)
tsne = TSNE(
    early_exaggeration_iter=EE_ITER,
    n_iter=N_ITER,
    random_state=0,
    callbacks=[recorder, progress],
    callback_every=10,
)
Y = tsne.fit_transform(X)
progress.close()
print(f"{len(recorder)} frames recorded")
animate(
    recorder,
    out_dir() / "digits_optimisation.gif",
    labels=y,
    fps=8,
    figsize=(3.6, 3.6),
    dpi=70,
    title="t-SNE of the digits",
)

# %% [markdown]
# The KL divergence recorded with the frames: it drops once the early exaggeration
# ends (at iteration 250), when the clusters are free to expand.

# %%
fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.plot(recorder.iterations[1:], recorder.kl[1:], marker=".")
ax.axvline(EE_ITER, color="0.6", ls="--", lw=1)
ax.text(EE_ITER, ax.get_ylim()[1], " end of early exaggeration", va="top", fontsize=8)
ax.set_xlabel("iteration")
ax.set_ylabel("KL divergence")
savefig(fig, "digits_kl.png")

# %% [markdown]
# `LiveScatter` works in scripts too (it just redraws a figure that can be saved):

# %%
live = LiveScatter(labels=y, every=1000)  # every 1000th call: only the first one draws
live(0, float("nan"), Y)
savefig(live.figure, "digits_live_scatter.png")

# %% [markdown]
# ## The Q matrix
#
# t-SNE moves points until the similarities in the map,
# $q_{ij} \propto (1 + \|y_i - y_j\|^2)^{-1}$, match the input affinities $p_{ij}$. We
# embed a subset of digits sorted by label, so that each digit is a block on the
# diagonal, and show $\log_{10} p_{ij}$ (fixed) next to $\log_{10} q_{ij}$ at each
# recorded iteration. During early exaggeration Q is far too concentrated in the
# blocks; later it spreads to the heavy tails that let clusters separate.

# %%
m = 120 if FAST else 400
order = np.argsort(y[:m], kind="stable")
Xs, ys = X[order], y[order]
rec_q = FrameRecorder(every=10 if FAST else 50)
tsne_q = TSNE(
    early_exaggeration_iter=EE_ITER,
    n_iter=N_ITER,
    random_state=0,
    callbacks=rec_q,
    callback_every=rec_q.every,
    perplexity=min(30, (m - 1) / 3),
)
tsne_q.fit(Xs)
P = tsne_q.tsne_embedding_.P.toarray()
BLOCK = 1 if FAST else 4  # average 4x4 blocks: a smoother image, a smaller GIF


def coarse(M):
    k = M.shape[0] // BLOCK * BLOCK
    return M[:k, :k].reshape(k // BLOCK, BLOCK, k // BLOCK, BLOCK).mean(axis=(1, 3))


def q_matrix(Y):
    d2 = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    W = 1.0 / (1.0 + d2)
    np.fill_diagonal(W, 0.0)
    return coarse(W / W.sum())


P = coarse(P)
floor = 1e-7
fig, (ax_p, ax_q) = plt.subplots(1, 2, figsize=(5, 2.7), dpi=70, layout="constrained")
ax_p.imshow(
    np.log10(P + floor),
    vmin=np.log10(floor),
    vmax=np.log10(P.max()),
    cmap="magma",
    interpolation="nearest",
)
ax_p.set_title("input affinities P", fontsize=9)
img = ax_q.imshow(
    np.log10(q_matrix(rec_q.frames[0]) + floor),
    vmin=np.log10(floor),
    vmax=np.log10(P.max()),
    cmap="magma",
    interpolation="nearest",
)
title = ax_q.set_title("", fontsize=9)
for ax in (ax_p, ax_q):
    ax.set_xticks([])
    ax.set_yticks([])


def draw(i):
    i = min(i, len(rec_q.frames) - 1)
    img.set_data(np.log10(q_matrix(rec_q.frames[i].astype(np.float64)) + floor))
    title.set_text(f"map similarities Q, iteration {rec_q.iterations[i]}")
    return img, title


anim = animation.FuncAnimation(fig, draw, frames=len(rec_q.frames) + 4)
path = out_dir() / "digits_q_matrix.gif"
anim.save(path, writer=animation.PillowWriter(fps=4))
plt.close(fig)
print(f"wrote {path}")
