"""The t-SNE engine: pure numpy/numba, no napari, no Qt."""

from ._validation import TSNEInputError
from .affinities import affinities_from_knn
from .embedding import TSNEEmbedding
from .estimator import TSNE
from .gradients import kl_gradient
from .neighbors import KNNGraph, compute_neighbors

__all__ = [
    "TSNE",
    "KNNGraph",
    "TSNEEmbedding",
    "TSNEInputError",
    "affinities_from_knn",
    "compute_neighbors",
    "kl_gradient",
]
