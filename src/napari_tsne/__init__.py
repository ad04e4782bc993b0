"""napari-tsne: fast t-SNE maps for napari and Jupyter.

Importing this package loads only the engine (numpy, scipy, numba): no napari, no Qt.
"""

from .engine import TSNE, TSNEEmbedding, TSNEInputError

__version__ = "0.1.0"
__all__ = ["TSNE", "TSNEEmbedding", "TSNEInputError", "__version__"]
