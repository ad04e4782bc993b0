"""File input/output for napari-tsne (no napari or Qt imports).

* :func:`read_h5ad`, :func:`get_representation`, :func:`list_representations`,
  :func:`representation_shapes`: load AnnData files and pick the matrix to embed.
* :func:`write_embedding`: save coordinates into ``obsm`` (+ params in ``uns``)
  of an ``.h5ad`` file, keeping everything else in the file intact.
* :func:`read_array`, :func:`read_table`, :func:`write_array`: ``.npy`` /
  ``.csv`` / ``.tsv`` matrices.
* :func:`atomic_path`: the atomic-replace helper every writer uses.

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

__all__ = [
    "DataReadError",
    "DataWriteError",
    "UnknownRepresentationError",
    "atomic_path",
    "get_representation",
    "list_representations",
    "read_array",
    "read_h5ad",
    "read_table",
    "representation_shapes",
    "sanitize_params",
    "uns_key_for",
    "write_array",
    "write_embedding",
]
