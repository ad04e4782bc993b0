"""The t-SNE engine: pure numpy/numba, no napari, no Qt."""

import os

# numba's OpenMP threads otherwise spin after every parallel loop: on a busy or small
# machine that steals the cores from the napari GUI thread and from the other worker
# thread (n_jobs=2 measured 5-10x slower than n_jobs=1 on a loaded 2-core machine).
# Only a default: a user's own setting wins, and it must be set before OpenMP starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._validation import TSNEInputError, TSNERuntimeWarning, TSNEWarning
from .affinities import affinities_from_knn
from .embedding import TSNEEmbedding
from .estimator import TSNE
from .gradients import kl_gradient
from .job import LiveValues, TSNEJob, fit_subsample_and_extend
from .neighbors import KNNGraph, compute_neighbors

__all__ = [
    "TSNE",
    "KNNGraph",
    "TSNEEmbedding",
    "TSNEInputError",
    "TSNERuntimeWarning",
    "TSNEWarning",
    "TSNEJob",
    "LiveValues",
    "fit_subsample_and_extend",
    "affinities_from_knn",
    "compute_neighbors",
    "kl_gradient",
]
