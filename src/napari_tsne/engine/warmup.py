"""Compile every kernel of the engine ahead of the first map (or load them from numba's
cache): the napari widget does it in the background when it opens on a first run, the
tests before their timings. A run compiles only what it needs by itself
(:mod:`.precompile`)."""

from __future__ import annotations

import numpy as np

from ._threads import ENGINE_LOCK
from .precompile import GROUPS, compile_here

__all__ = ["warm_up_kernels"]


def warm_up_kernels() -> None:
    """All gradient methods, the locality order of large maps, and a transform (the
    widget's Add samples): tiny inputs of a real run's types."""
    from .estimator import TSNE

    compile_here(GROUPS)
    X = np.random.default_rng(0).normal(size=(60, 5))
    with ENGINE_LOCK:
        emb = TSNE(perplexity=5, n_iter=2, early_exaggeration_iter=2, random_state=0)
        emb.fit(X).tsne_embedding_.transform(X[:3], n_iter=2)
