"""Compile the numba kernels of a run ahead of the first map (or load them from
numba's on-disk cache), so that a first map does not wait for them."""

from __future__ import annotations

import numpy as np

from .estimator import TSNE
from .job import ENGINE_LOCK

__all__ = ["warm_up_kernels"]


def warm_up_kernels() -> None:
    """Run tiny maps (exact, Barnes-Hut and FFT gradients) and a tiny transform; the napari
    widget does this in a background thread while the user picks the data."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    with ENGINE_LOCK:
        for method in ("exact", "bh", "fft"):
            tsne = TSNE(
                perplexity=5,
                n_iter=2,
                early_exaggeration_iter=2,
                random_state=0,
                negative_gradient_method=method,
            )
            emb = tsne.fit(X).tsne_embedding_
            emb.transform(X[:3], n_iter=2)
