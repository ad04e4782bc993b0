"""napari-tsne: fast t-SNE maps for napari and Jupyter.

Importing this package loads only the engine (numpy, scipy, numba): no napari, no Qt.
``napari_tsne.tl`` (scanpy-style ``tsne`` / ``ingest``, which need anndata) is loaded
on first use, as are ``napari_tsne.view`` (opens napari) and ``napari_tsne.jupyter``
(jupyter-scatter).
"""

from .engine import TSNE, TSNEEmbedding, TSNEInputError, TSNEWarning

__version__ = "0.1.0"
__all__ = ["TSNE", "TSNEEmbedding", "TSNEInputError", "TSNEWarning", "__version__", "view"]


def __getattr__(name: str):
    import importlib

    if name in ("tl", "jupyter"):  # loaded on first use: they import anndata, jscatter
        return importlib.import_module(f".{name}", __name__)
    if name == "view":  # napari and Qt are imported only when view() is called
        return importlib.import_module(".plugin.view", __name__).view
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
