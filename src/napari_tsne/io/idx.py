"""IDX files (the MNIST format) and the Fashion-MNIST data set.

This is the single place that reads Fashion-MNIST: the napari sample, the examples
and the benchmarks all call it, so the class names, the file names, the search
path and the checks on damaged downloads cannot drift apart.

* :func:`read_idx`: one IDX file, gzipped or not (detected from the content, not
  the name), with its header checked against the data that follows.
* :func:`load_fashion_mnist` / :func:`load_fashion_mnist_part`: the original files
  of Xiao et al. (2017) from *directory*, else ``$FASHION_MNIST_DIR``, else
  ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).
* :data:`FASHION_MNIST_CLASSES`: the names of the labels 0-9.

Damaged or wrong files raise :class:`DataReadError`; a data set that is not
installed raises :class:`FashionMNISTNotFoundError` (also a ``FileNotFoundError``).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .atomic import DataReadError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FashionMNIST",
    "FashionMNISTNotFoundError",
    "fashion_mnist_available",
    "fashion_mnist_dir",
    "load_fashion_mnist",
    "load_fashion_mnist_part",
    "read_idx",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_PART_PREFIX = {"train": "train", "test": "t10k"}

# IDX type codes -> big-endian numpy dtypes (the format stores numbers big-endian)
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# deflate cannot expand data more than ~1032:1, so a header that promises more than
# this times the compressed size is damaged; checked before allocating the array
_MAX_DEFLATE_RATIO = 1100
_CHUNK = 1 << 20


class FashionMNISTNotFoundError(DataReadError, FileNotFoundError):
    """Fashion-MNIST is not installed where we looked.

    Both a :class:`DataReadError` (like every read problem in :mod:`napari_tsne.io`)
    and a ``FileNotFoundError`` (what callers that treat the data set as optional
    catch).
    """


class FashionMNIST(NamedTuple):
    """The whole data set: images uint8 ``(n, 28, 28)``, labels uint8 ``(n,)`` in 0-9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


# --------------------------------------------------------------------------- IDX reader


def read_idx(path: str | os.PathLike[str], max_items: int | None = None) -> np.ndarray:
    """Read an IDX file into a writable array in native byte order.

    Layout: two zero bytes, a type code, the number of dimensions, one big-endian
    uint32 per dimension, then the values in C order. Gzip compression is detected
    from the first bytes, so an already-unpacked file keeps working under either name.
    With *max_items*, only the first *max_items* entries along the first axis are
    read (much faster for a small sample of a large gzipped file).

    Raises :class:`DataReadError` if the file is missing, is not IDX, is a damaged
    gzip stream, or holds fewer (or, when read whole, more) bytes than its header
    declares.
    """
    path = Path(path)
    if max_items is not None and max_items < 0:
        raise ValueError(f"max_items must be >= 0, got {max_items}.")
    if not path.exists():
        raise DataReadError(f"No such file: {path}. Check the folder and the file name.")
    if path.is_dir():
        raise DataReadError(f"{path} is a folder, not an IDX file.")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            compressed = f.read(2) == _GZIP_MAGIC
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            return _read_idx_stream(f, path, size, compressed, max_items)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataReadError(
            f"{path} is a damaged or incomplete gzip file ({err}). "
            "The download was probably interrupted; download it again."
        ) from err
    except OSError as err:
        raise DataReadError(f"Could not read {path}: {err.strerror or err}.") from err


def _truncated(path: Path, declared, dtype, nbytes: int, found: int) -> DataReadError:
    return DataReadError(
        f"{path} is truncated: its header declares shape {declared} "
        f"({nbytes:,} bytes of {dtype.name} data) but only {found:,} bytes follow. "
        "The download was probably incomplete; download it again."
    )


def _read_idx_stream(f, path: Path, size: int, compressed: bool, max_items: int | None):
    magic = f.read(4)
    if len(magic) < 4:
        raise DataReadError(
            f"{path} is too short to be an IDX file ({len(magic)} bytes; the header alone "
            "has at least 8). It was probably not downloaded completely."
        )
    if magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES or magic[3] == 0:
        raise DataReadError(
            f"{path} is not an IDX file: it starts with bytes {magic.hex(' ')}, "
            "but an IDX file starts with 00 00, a type code (08 uint8, 09 int8, 0b int16, "
            "0c int32, 0d float32, 0e float64) and the number of dimensions (at least 1)."
        )
    dtype, ndim = _IDX_DTYPES[magic[2]], magic[3]
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataReadError(
            f"{path} is truncated inside its header: {ndim} dimensions are declared but "
            f"only {len(raw_dims)} of their {4 * ndim} bytes are present. "
            "Download the file again."
        )
    declared = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    shape = declared
    if max_items is not None and max_items < declared[0]:
        shape = (max_items, *declared[1:])
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    # check the size before allocating, so a damaged header cannot ask for terabytes
    available = size - 4 - 4 * ndim
    if not compressed and nbytes > available:
        raise _truncated(path, declared, dtype, nbytes, available)
    if compressed and nbytes > available * _MAX_DEFLATE_RATIO + _CHUNK:
        raise DataReadError(
            f"{path} is truncated or damaged: its header declares shape {declared} "
            f"({nbytes:,} bytes of {dtype.name} data), far more than a {size:,}-byte "
            "gzip file can hold. Download it again."
        )
    out = np.empty(shape, dtype=dtype)
    buf = memoryview(out.reshape(-1).view(np.uint8))
    filled = 0
    while filled < nbytes:
        n = f.readinto(buf[filled : min(filled + _CHUNK, nbytes)])
        if not n:
            break
        filled += n
    if filled < nbytes:
        raise _truncated(path, declared, dtype, nbytes, filled)
    if shape == declared and f.read(1):
        raise DataReadError(
            f"{path} has more data than its header declares (shape {declared}); "
            "it is damaged or not an IDX file."
        )
    return out.astype(dtype.newbyteorder("="), copy=False)


# ---------------------------------------------------------------------- Fashion-MNIST


def _part_files(directory: Path, part: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of *part* in *directory* (``.gz`` or unpacked)."""
    if part not in _PART_PREFIX:
        raise ValueError(f"part must be 'train' or 'test', got {part!r}.")
    found = []
    for kind, n in (("images", 3), ("labels", 1)):
        name = f"{_PART_PREFIX[part]}-{kind}-idx{n}-ubyte"
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            return None
    return found[0], found[1]


def _candidates(directory: str | os.PathLike[str] | None) -> list[Path]:
    if directory is not None:
        return [Path(directory)]
    env = os.environ.get("FASHION_MNIST_DIR")
    return ([Path(env)] if env else []) + [DEFAULT_FASHION_MNIST_DIR]


def fashion_mnist_dir(
    directory: str | os.PathLike[str] | None = None, parts=("train", "test")
) -> Path | None:
    """The folder that holds the files of *parts*: *directory* if given, else the first
    of ``$FASHION_MNIST_DIR`` and ``/usr/share/datasets/fashion-mnist`` that has them;
    None if none has. The environment is read on each call, so tests can set it."""
    for d in _candidates(directory):
        if all(_part_files(d, p) is not None for p in parts):
            return d
    return None


def fashion_mnist_available(
    directory: str | os.PathLike[str] | None = None, parts=("train", "test")
) -> bool:
    """Whether :func:`load_fashion_mnist_part` would find the files of *parts*."""
    return fashion_mnist_dir(directory, parts) is not None


def _not_found(directory, parts) -> FashionMNISTNotFoundError:
    looked = ", ".join(str(d) for d in _candidates(directory))
    names = ", ".join(
        f"{_PART_PREFIX[p]}-{k}-idx{n}-ubyte.gz"
        for p in parts
        for k, n in (("images", 3), ("labels", 1))
    )
    return FashionMNISTNotFoundError(
        f"Fashion-MNIST files not found (looked in {looked}). Install the Debian package "
        "dataset-fashion-mnist (it provides /usr/share/datasets/fashion-mnist), or set "
        f"FASHION_MNIST_DIR to a folder with {names}."
    )


def load_fashion_mnist_part(
    part: str = "train",
    directory: str | os.PathLike[str] | None = None,
    max_items: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of the ``"train"`` (60,000) or ``"test"`` (10,000) part:
    uint8 ``(n, 28, 28)`` and uint8 ``(n,)``; only the first *max_items* if given.

    Raises :class:`FashionMNISTNotFoundError` if the files are not installed and
    :class:`DataReadError` if they are damaged or do not fit together.
    """
    d = fashion_mnist_dir(directory, (part,))
    if d is None:
        raise _not_found(directory, (part,))
    image_file, label_file = _part_files(d, part)
    images = read_idx(image_file, max_items)
    labels = read_idx(label_file, max_items)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataReadError(
            f"{image_file} should hold uint8 images (n, 28, 28), "
            f"found {images.dtype} {images.shape}."
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataReadError(
            f"{label_file} should hold uint8 labels (n,), found {labels.dtype} {labels.shape}."
        )
    if images.shape[0] != labels.shape[0]:
        raise DataReadError(
            f"{image_file} has {images.shape[0]:,} images but {label_file} has "
            f"{labels.shape[0]:,} labels; the two files do not belong together."
        )
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise DataReadError(
            f"{label_file} has label {labels.max()}, but Fashion-MNIST labels are 0-9."
        )
    return images, labels


def load_fashion_mnist(directory: str | os.PathLike[str] | None = None) -> FashionMNIST:
    """All of Fashion-MNIST as a :class:`FashionMNIST` (train 60,000 and test 10,000
    images of 28 x 28 pixels); see :func:`load_fashion_mnist_part` for errors."""
    d = fashion_mnist_dir(directory)
    if d is None:
        raise _not_found(directory, ("train", "test"))
    return FashionMNIST(*load_fashion_mnist_part("train", d), *load_fashion_mnist_part("test", d))
