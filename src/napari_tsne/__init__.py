"""napari-tsne: fast t-SNE maps for napari and Jupyter.

Importing this package loads only the engine (numpy, scipy, numba): no napari, no Qt.
``napari_tsne.tl`` (scanpy-style ``tsne`` / ``ingest``, which need anndata) is loaded
on first use.
"""

from .engine import TSNE, TSNEEmbedding, TSNEInputError

__version__ = "0.1.0"
__all__ = ["TSNE", "TSNEEmbedding", "TSNEInputError", "__version__"]


def __getattr__(name: str):
    if name == "tl":  # loaded on first use: it imports anndata and pandas
        import importlib

        return importlib.import_module(".tl", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
