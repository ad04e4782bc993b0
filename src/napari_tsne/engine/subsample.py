"""Subsample-and-extend for large data sets (openTSNE's "Embedding large data sets"
recipe; Kobak & Berens 2019, "The art of using t-SNE for single-cell transcriptomics").

1. ``sample``: full t-SNE of a random (optionally stratified) sample, with the
   estimator's parameters. The sample map fixes the global layout.
2. ``extend``: every other point is placed into the sample map
   (:meth:`TSNEEmbedding.transform`, or only the median of its neighbours' positions
   with ``optimize=False``).
3. ``full``: t-SNE of all points initialised with that layout, rescaled to standard
   deviation 1e-4 like every other initialisation (so that the learning rate
   ``n / exaggeration`` behaves as usual). The layout already has its structure, so
   the early phase only needs to re-form the clusters at full size: it uses
   :data:`FULL_EARLY_EXAGGERATION_ITER` iterations at the estimator's
   ``early_exaggeration`` (openTSNE's recipe uses the same 12 for 250-500 iterations),
   then ``n_iter`` iterations at the estimator's ``exaggeration``. On 12,000
   Fashion-MNIST images with a 3,000 sample, 0 / 125 / 250 early iterations gave the
   same 10-NN accuracy as a full run (0.816 vs 0.815) and KL 1.577 / 1.576 / 1.576
   (full run 1.579); the early iterations are cheap (compact map), so 125 are kept.

The widget calls the steps one by one in a background thread (:func:`sample_indices`,
:func:`fit_sample`, :func:`extend`, :func:`combine_layout`, :func:`fit_full`);
:func:`fit_subsample_and_extend` composes them. Nothing builds an ``n x n`` or
``n_rest x n_sample`` array (except a user's own dense precomputed distances).

Progress: callbacks get ``(iteration, kl, coordinates)`` as everywhere, with the
iteration count restarting in each phase and the coordinates of the points that phase
moves: the sample, the placed points, then all points (original order).
``phase_callback(phase, indices)`` is called before each phase with its name
(:data:`PHASES`) and the rows of ``X`` those coordinates belong to; a callback object
with a ``phase`` attribute also gets it set to the current phase's name.
"""

from __future__ import annotations

import numbers
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ._validation import MIN_SAMPLES, TSNEInputError, check_data, check_precomputed
from .embedding import TSNEEmbedding
from .initialization import INIT_STD, rescale

if TYPE_CHECKING:
    from .estimator import TSNE

#: names of the phases, in order
PHASES = ("sample", "extend", "full")
#: early-exaggeration iterations of the full phase (the layout is already formed)
FULL_EARLY_EXAGGERATION_ITER = 125

PhaseCallback = Callable[[str, np.ndarray], None]


# ------------------------------------------------------------------------ steps
def sample_indices(n: int, sample_size: int | float, random_state=None, stratify=None):
    """Sorted indices of a random sample of ``sample_size`` of ``n`` rows.

    ``sample_size`` is a number of samples (4 <= size <= n) or a fraction in (0, 1].
    ``stratify`` (one label per row) samples every label in proportion to its size
    (largest remainders), so small groups keep their share.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < MIN_SAMPLES:
        raise TSNEInputError(f"Subsampling needs at least {MIN_SAMPLES} samples; got {n!r}.")
    n = int(n)
    if isinstance(sample_size, bool) or not isinstance(sample_size, numbers.Real):
        raise TSNEInputError(
            f"sample_size must be a number of samples or a fraction in (0, 1]; got {sample_size!r}."
        )
    if isinstance(sample_size, numbers.Integral):
        size = int(sample_size)
    else:
        if not 0 < sample_size <= 1:
            raise TSNEInputError(
                f"A fractional sample_size must lie in (0, 1]; got {sample_size!r}. Give a "
                f"whole number for a number of samples."
            )
        size = int(round(float(sample_size) * n))
    if size > n:
        raise TSNEInputError(f"sample_size {size} is larger than the {n} samples.")
    if size < MIN_SAMPLES:
        raise TSNEInputError(
            f"sample_size {sample_size!r} gives {size} samples; t-SNE of the sample needs at "
            f"least {MIN_SAMPLES}."
        )
    rng = np.random.default_rng(random_state)
    if stratify is None:
        return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
    labels = np.asarray(stratify)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise TSNEInputError(
            f"stratify must hold one label per sample ({n}); got shape {labels.shape}."
        )
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise TSNEInputError("stratify contains NaN labels; give every sample a label.")
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = size * counts / n
    take = np.floor(quota).astype(np.int64)
    left = size - int(take.sum())
    if left:
        frac = quota - take
        order = np.argsort(-frac, kind="stable")
        take[order[:left]] += 1
    chosen = []
    for label, m in enumerate(take):
        if m:
            members = np.flatnonzero(codes == label)
            chosen.append(rng.choice(members, size=int(m), replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _clone(tsne: TSNE, **changes) -> TSNE:
    params = tsne.get_params()
    params.update(subsample=None, **changes)
    return type(tsne)(**params)


def _rows(X, rows, cols=None):
    """``X[rows]`` (or ``X[rows][:, cols]`` for distance matrices), dense or CSR."""
    if cols is None:
        return X[rows]
    return X[np.ix_(rows, cols)] if not sp.issparse(X) else X[rows][:, cols]


def fit_sample(tsne: TSNE, X, indices: np.ndarray, *, callbacks=None) -> TSNEEmbedding:
    """Full t-SNE of ``X[indices]`` with ``tsne``'s parameters (``X`` is validated)."""
    precomputed = tsne.metric == "precomputed"
    X_s = _rows(X, indices, indices if precomputed else None)
    init = tsne.init
    if not isinstance(init, str):
        init = np.asarray(init)[indices]
    changes = {"init": init}
    if callbacks is not None:
        changes["callbacks"] = callbacks
    return _clone(tsne, **changes).fit_embedding(X_s)


def extend(
    sample_embedding: TSNEEmbedding,
    X_rest,
    *,
    optimize: bool = True,
    knn=None,
    callbacks=None,
    callback_every: int = 50,
    **transform_kwargs,
) -> np.ndarray:
    """Coordinates of ``X_rest`` placed into ``sample_embedding`` (left unchanged).

    ``optimize=True`` is :meth:`TSNEEmbedding.transform` (``transform_kwargs`` go to
    it); ``optimize=False`` only puts each point at the median map position of its
    nearest sample neighbours (fast, no optimisation).
    """
    if not optimize:
        transform_kwargs.update(n_iter=0, early_exaggeration_iter=0)
    return sample_embedding.transform(
        X_rest,
        knn=knn,
        callbacks=callbacks,
        callback_every=callback_every,
        **transform_kwargs,
    )


def combine_layout(n: int, indices: np.ndarray, Y_sample, Y_rest) -> np.ndarray:
    """The sample and placed coordinates in the original row order, rescaled so that
    the first axis has standard deviation 1e-4 (the scale of every t-SNE init)."""
    Y_sample = np.asarray(Y_sample, dtype=np.float64)
    Y = np.empty((n, Y_sample.shape[1]), dtype=np.float64)
    mask = np.zeros(n, dtype=bool)
    mask[indices] = True
    Y[indices] = Y_sample
    Y[~mask] = np.asarray(Y_rest, dtype=np.float64)
    return rescale(Y, INIT_STD)


def fit_full(
    tsne: TSNE,
    X,
    init: np.ndarray,
    *,
    callbacks=None,
    early_exaggeration_iter: int | None = None,
) -> TSNEEmbedding:
    """t-SNE of all of ``X`` started from ``init`` (see the module docstring for the
    schedule; ``early_exaggeration_iter`` overrides :data:`FULL_EARLY_EXAGGERATION_ITER`,
    but never exceeds the estimator's own)."""
    ee_iter = (
        FULL_EARLY_EXAGGERATION_ITER
        if early_exaggeration_iter is None
        else int(early_exaggeration_iter)
    )
    changes = {
        "init": init,
        "early_exaggeration_iter": min(ee_iter, int(tsne.early_exaggeration_iter)),
    }
    if callbacks is not None:
        changes["callbacks"] = callbacks
    return _clone(tsne, **changes).fit_embedding(X)


# --------------------------------------------------------------------- composed
def fit_subsample_and_extend(
    tsne: TSNE,
    X,
    sample_size: int | float,
    *,
    stratify=None,
    extend_optimize: bool = True,
    callbacks=None,
    phase_callback: PhaseCallback | None = None,
    full_early_exaggeration_iter: int | None = None,
    **transform_kwargs,
) -> TSNEEmbedding:
    """Subsample-and-extend with ``tsne``'s parameters; returns the embedding of all
    rows of ``X`` in their original order.

    ``callbacks`` default to ``tsne.callbacks``; if one returns True the current phase
    stops and later phases run no iterations (the result is still a complete,
    continuable embedding with ``stopped = True``). ``transform_kwargs`` go to
    :meth:`TSNEEmbedding.transform` in the extend phase.
    """
    precomputed = tsne.metric == "precomputed"
    if precomputed:
        X = check_precomputed(X)
        if sp.issparse(X):
            raise TSNEInputError(
                "Subsample-and-extend with metric='precomputed' needs a dense square "
                "distance matrix (the placed points need their distances to the sample)."
            )
    else:
        X = check_data(X)
    n = X.shape[0]
    indices = sample_indices(n, sample_size, tsne.random_state, stratify)
    rest = np.setdiff1d(np.arange(n), indices, assume_unique=True)
    cbs = _as_list(tsne.callbacks if callbacks is None else callbacks)
    stop = _StopWatch(cbs)
    log = _PhaseLog(tsne.verbose)

    with log.phase("sample", len(indices)):
        _announce("sample", indices, cbs, phase_callback)
        emb_s = fit_sample(tsne, X, indices, callbacks=stop.callbacks)
    if len(rest) == 0:  # the sample is everything
        emb_s.sample_indices = indices
        emb_s.timings.update(log.timings)
        return emb_s

    with log.phase("extend", len(rest)):
        _announce("extend", rest, cbs, phase_callback)
        X_rest = _rows(X, rest, indices if precomputed else None)
        Y_rest = extend(
            emb_s,
            X_rest,
            optimize=extend_optimize and not stop.stopped,
            callbacks=stop.callbacks,
            callback_every=tsne.callback_every,
            **transform_kwargs,
        )
    init = combine_layout(n, indices, emb_s.coordinates, Y_rest)

    with log.phase("full", n):
        _announce("full", np.arange(n), cbs, phase_callback)
        if stop.stopped:
            emb = _clone(tsne, init=init).prepare(X)
            emb.stopped = True
        else:
            emb = fit_full(
                tsne,
                X,
                init,
                callbacks=stop.callbacks,
                early_exaggeration_iter=full_early_exaggeration_iter,
            )
            emb.stopped = stop.stopped
    emb.sample_indices = indices
    emb.timings.update(log.timings)
    return emb


# ---------------------------------------------------------------------- helpers
def _as_list(callbacks) -> list:
    if callbacks is None:
        return []
    return [callbacks] if callable(callbacks) else list(callbacks)


def _announce(phase: str, indices, callbacks, phase_callback):
    for cb in callbacks:
        if hasattr(cb, "phase"):
            try:
                cb.phase = phase
            except AttributeError:
                pass
    if phase_callback is not None:
        phase_callback(phase, indices)


class _StopWatch:
    """Wraps callbacks to remember whether one of them asked to stop; once stopped,
    every later call says stop at once so the remaining phases end immediately."""

    def __init__(self, callbacks: Sequence):
        self._cbs = list(callbacks)
        self.stopped = False

    def _call(self, iteration, kl, Y):
        if self.stopped:
            return True
        stop = False
        for cb in self._cbs:
            stop = bool(cb(iteration, kl, Y)) or stop
        self.stopped = stop
        return stop

    @property
    def callbacks(self):
        return [self._call] if self._cbs else []


class _PhaseLog:
    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.timings: dict[str, float] = {}

    def phase(self, name: str, n: int):
        log = self

        class _Phase:
            def __enter__(self):
                self.t0 = time.perf_counter()
                if log.verbose:
                    print(
                        f"[napari-tsne] subsample-and-extend: {name} ({n} points) ...",
                        file=sys.stderr,
                        flush=True,
                    )

            def __exit__(self, *exc):
                dt = time.perf_counter() - self.t0
                log.timings[f"subsample: {name}"] = dt
                if log.verbose and exc[0] is None:
                    print(
                        f"[napari-tsne] subsample-and-extend: {name}: {dt:.2f} s",
                        file=sys.stderr,
                        flush=True,
                    )

        return _Phase()
