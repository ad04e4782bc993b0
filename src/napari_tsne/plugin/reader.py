"""napari reader for AnnData ``.h5ad`` files.

Opening ``cells.h5ad`` gives one Points layer that carries the whole AnnData in
``metadata["adata"]`` (the t-SNE widget uses it as a source, with any of its
representations) and the cell annotations ``obs`` as the layer's ``features``.
The points are the first two dimensions of an existing map (``obsm["X_tsne"]``,
``X_umap`` or ``X_pca``, in that order); without one, the cells are laid out on a
grid as a placeholder until a t-SNE map is computed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..plotting import grid_layout
from .sources import points_features

#: obsm keys shown as the points of an opened file, best first
MAP_KEYS = ("X_tsne", "X_umap", "X_pca")


def napari_get_reader(path):
    """npe2 reader hook: a reader function for ``.h5ad`` paths, else None."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths or not all(str(p).lower().endswith(".h5ad") for p in paths):
        return None
    return read_h5ad_layers


def point_size(coords: np.ndarray) -> float:
    """A point size (data units) that suits a map of *coords*: a diameter of
    ``0.45 * extent / sqrt(n)`` (n points spread over the map's area, clusters dense,
    so that neighbours touch without piling into one disc; still a few pixels in the
    narrow canvas beside the dock), between 1/500 of the extent (about a pixel when
    the map fills the canvas) and 1/40 (few points)."""
    coords = np.asarray(coords, dtype=float)
    finite = coords[np.isfinite(coords).all(axis=1)] if len(coords) else coords
    if len(finite) < 2:
        return 1.0
    extent = float(np.ptp(finite, axis=0).max()) or 1.0
    return float(np.clip(0.45 * extent / np.sqrt(len(finite)), extent / 500, extent / 40))


def map_coordinates(adata) -> tuple[np.ndarray, str | None]:
    """(n_obs, 2) coordinates to show for *adata* and the obsm key they came from."""
    for key in MAP_KEYS:
        if key in adata.obsm.keys():
            arr = np.asarray(adata.obsm[key])
            if arr.ndim == 2 and arr.shape[1] >= 2 and np.issubdtype(arr.dtype, np.number):
                coords = np.array(arr[:, :2], dtype=np.float64)
                bad = ~np.isfinite(coords).all(axis=1)
                if bad.all():
                    continue
                if bad.any():  # cells without a position (e.g. dropped rows) go to the centre
                    coords[bad] = coords[~bad].mean(axis=0)
                return coords, key
    return grid_layout(adata.n_obs), None


def adata_layer_data(adata, name: str, path: str | None = None):
    """The layer-data tuple for an AnnData (used by the reader and the widget)."""
    coords, key = map_coordinates(adata)
    meta = {"adata": adata, "source_path": path, "shown_obsm": key}
    kwargs = {
        "name": name,
        "metadata": meta,
        "features": points_features(adata.obs),
        "size": point_size(coords),
        "border_width": 0,
    }
    return (coords, kwargs, "points")


def read_h5ad_layers(path):
    """Read one or several ``.h5ad`` files into Points layers (see module docstring)."""
    from ..io import read_h5ad

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    out = []
    for p in paths:
        adata = read_h5ad(p)  # raises DataReadError with a readable message
        out.append(adata_layer_data(adata, Path(p).stem, str(Path(p).resolve())))
    return out
