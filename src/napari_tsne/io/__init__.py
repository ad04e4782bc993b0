"""File input/output for napari-tsne (no napari or Qt imports).

* :func:`read_h5ad`, :func:`get_representation`, :func:`list_representations`,
  :func:`representation_shapes`: load AnnData files and pick the matrix to embed.
* :func:`write_embedding`: save coordinates into ``obsm`` (+ params in ``uns``)
  of an ``.h5ad`` file, keeping everything else in the file intact.
* :func:`combine_anndata`: a map's AnnData and that of samples added to it, joined
  as ``anndata.concat`` does, with notes on what could not be combined.
* :func:`read_array`, :func:`read_table`, :func:`write_array`: ``.npy`` /
  ``.csv`` / ``.tsv`` matrices; :func:`write_table`: a table of mixed columns.
* :func:`atomic_path`: the atomic-replace helper every writer uses.
* :func:`read_idx`, :func:`load_fashion_mnist`, :data:`FASHION_MNIST_CLASSES`: IDX
  files and the Fashion-MNIST data set (the one loader the sample, the examples and
  the benchmarks share).

Problems raise :class:`DataReadError` (a ``ValueError``) or
:class:`DataWriteError` (an ``OSError``) with messages meant for end users.
"""

import importlib
from typing import Any

from .atomic import DataReadError, DataWriteError, atomic_path

#: public name -> submodule; the submodules are imported on first use, so that a
#: command that reads a ``.npy`` file does not pay for importing anndata, h5py, pandas
_LAZY = {
    **dict.fromkeys(
        (
            "UnknownRepresentationError",
            "get_representation",
            "list_representations",
            "read_h5ad",
            "representation_shapes",
            "sanitize_params",
            "uns_key_for",
            "write_embedding",
        ),
        "anndata_io",
    ),
    **dict.fromkeys(("read_array", "read_table", "write_array", "write_table"), "arrays"),
    "combine_anndata": "combine",
    **dict.fromkeys(
        (
            "FASHION_MNIST_CLASSES",
            "FashionMNIST",
            "FashionMNISTNotFoundError",
            "fashion_mnist_available",
            "fashion_mnist_dir",
            "load_fashion_mnist",
            "load_fashion_mnist_part",
            "read_idx",
        ),
        "idx",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "FASHION_MNIST_CLASSES",
    "DataReadError",
    "DataWriteError",
    "FashionMNIST",
    "FashionMNISTNotFoundError",
    "UnknownRepresentationError",
    "atomic_path",
    "combine_anndata",
    "fashion_mnist_available",
    "fashion_mnist_dir",
    "get_representation",
    "list_representations",
    "load_fashion_mnist",
    "load_fashion_mnist_part",
    "read_array",
    "read_h5ad",
    "read_idx",
    "read_table",
    "representation_shapes",
    "sanitize_params",
    "uns_key_for",
    "write_array",
    "write_table",
    "write_embedding",
]
