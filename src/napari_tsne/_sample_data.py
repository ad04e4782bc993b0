"""Sample data: image stacks whose first axis indexes samples, with class labels.

The labels travel in the Image layer's ``metadata["features"]`` (a table with one
row per image) and ``metadata["labels"]``; the t-SNE widget turns them into the
features of the map so it can be coloured by class.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
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


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits: images (1797, 8, 8) and labels (1797,)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is a dev dependency
        raise ImportError("The digits sample needs scikit-learn: pip install scikit-learn") from err
    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


def _image_layer(images: np.ndarray, labels, names, layer_name: str, contrast):
    features = pd.DataFrame({"label": pd.Categorical(labels)})
    if names is not None:
        features["class"] = pd.Categorical([names[i] for i in labels], categories=list(names))
    meta = {"features": features, "labels": np.asarray(labels)}
    kwargs = {
        "name": layer_name,
        "metadata": meta,
        "colormap": "gray",
        "contrast_limits": contrast,
    }
    return (images, kwargs, "image")


def digits():
    """napari sample: 1797 handwritten digits (8×8 pixels), labels in the metadata."""
    images, labels = load_digits_arrays()
    return [_image_layer(images, labels, None, "digits", (0.0, 16.0))]


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def load_fashion_mnist(n: int = 3000, folder: str | Path | None = None):
    """The first *n* Fashion-MNIST training images (n, 28, 28) uint8 and labels."""
    folder = Path(folder) if folder is not None else FASHION_MNIST_DIR
    img = folder / "train-images-idx3-ubyte.gz"
    lab = folder / "train-labels-idx1-ubyte.gz"
    if not img.is_file() or not lab.is_file():
        raise FileNotFoundError(
            f"Fashion-MNIST files not found in {folder}. Install the Debian package that "
            "provides /usr/share/datasets/fashion-mnist, or set FASHION_MNIST_DIR to a folder "
            "with train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz."
        )
    images = _read_idx(img)[:n]
    labels = _read_idx(lab)[:n].astype(np.int64)
    return np.ascontiguousarray(images), labels


def fashion_mnist_available() -> bool:
    return (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()


def fashion_mnist(n: int = 3000):
    """napari sample: the first 3000 Fashion-MNIST images with class names."""
    images, labels = load_fashion_mnist(n)
    return [_image_layer(images, labels, FASHION_MNIST_CLASSES, "fashion-mnist", (0.0, 255.0))]
