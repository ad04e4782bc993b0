"""File input/output for napari-tsne (no napari or Qt imports).

* :func:`read_h5ad`, :func:`get_representation`, :func:`list_representations`,
  :func:`representation_shapes`: load AnnData files and pick the matrix to embed.
* :func:`write_embedding`: save coordinates into ``obsm`` (+ params in ``uns``)
  of an ``.h5ad`` file, keeping everything else in the file intact.
* :func:`combine_anndata`: a map's AnnData and that of samples added to it, joined
  as ``anndata.concat`` does, with notes on what could not be combined.
* :func:`read_array`, :func:`read_table`, :func:`write_array`: ``.npy`` /
  ``.csv`` / ``.tsv`` matrices.
* :func:`atomic_path`: the atomic-replace helper every writer uses.
* :func:`read_idx`, :func:`load_fashion_mnist`, :data:`FASHION_MNIST_CLASSES`: IDX
  files and the Fashion-MNIST data set (the one loader the sample, the examples and
  the benchmarks share).

Problems raise :class:`DataReadError` (a ``ValueError``) or
:class:`DataWriteError` (an ``OSError``) with messages meant for end users.
"""

from .anndata_io import (
    UnknownRepresentationError,
    get_representation,
    list_representations,
    read_h5ad,
    representation_shapes,
    sanitize_params,
    uns_key_for,
    write_embedding,
)
from .arrays import read_array, read_table, write_array
from .atomic import DataReadError, DataWriteError, atomic_path
from .combine import combine_anndata
from .idx import (
    FASHION_MNIST_CLASSES,
    FashionMNIST,
    FashionMNISTNotFoundError,
    fashion_mnist_available,
    fashion_mnist_dir,
    load_fashion_mnist,
    load_fashion_mnist_part,
    read_idx,
)

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
    "write_embedding",
]
