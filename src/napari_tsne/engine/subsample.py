"""The steps of subsample-and-extend for large data sets (openTSNE's "Embedding large
data sets" recipe; Kobak & Berens 2019, "The art of using t-SNE for single-cell
transcriptomics"): :func:`sample_indices` draws the sample, :func:`extend` places the
other points into the sample's map, and :func:`combine_layout` joins both into the
initial layout of the map of all points. The schedule that composes them (the map of
the sample, then these steps, then the map of all points) is the job's:
:class:`~napari_tsne.engine.job.TSNEJob` and
:func:`~napari_tsne.engine.job.fit_subsample_and_extend`. Nothing here builds an
``n x n`` or ``n_rest x n_sample`` array.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import MIN_SAMPLES, TSNEInputError
from .embedding import TSNEEmbedding
from .initialization import INIT_STD, rescale


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
