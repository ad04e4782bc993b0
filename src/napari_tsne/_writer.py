"""napari writer: a Points layer (a t-SNE map) to an AnnData ``.h5ad`` file.

* A layer that carries an AnnData (``metadata["adata"]``: made by the reader or by
  the t-SNE widget from an AnnData source) is saved as that AnnData with the
  coordinates in ``obsm["X_tsne"]`` (key in ``metadata["obsm_key"]``) and the run
  parameters in ``uns["tsne"]["params"]``. Saving onto the ``.h5ad`` the data came
  from updates only those two entries and keeps everything else in the file.
* Any other Points layer becomes a new AnnData whose ``obs`` is the layer's
  ``features`` table.

Writes are atomic (see :func:`napari_tsne.io.write_embedding`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._sources import obs_from_features


def full_coordinates(coords: np.ndarray, n_obs: int, rows) -> np.ndarray:
    """Coordinates for all *n_obs* cells: rows not in the map (dropped) are NaN."""
    coords = np.asarray(coords)
    if rows is None:
        return coords
    out = np.full((n_obs, coords.shape[1]), np.nan, dtype=np.float64)
    out[np.asarray(rows)] = coords
    return out


def export_map(
    path: str | Path,
    coords: np.ndarray,
    *,
    metadata: dict | None = None,
    features=None,
    key: str | None = None,
    params: dict | None = None,
) -> Path:
    """Save a map; see the module docstring. Returns the path written.

    Raises :class:`napari_tsne.io.DataWriteError` (an ``OSError``) or ``ValueError``
    with a readable message; on failure no file is changed.
    """
    from .io import write_embedding

    metadata = metadata or {}
    # t-SNE maps use obsm_key; a layer opened by the reader writes back the obsm entry
    # it shows; other Points layers get a neutral name
    key = key or metadata.get("obsm_key") or metadata.get("shown_obsm") or "X_points"
    if params is None:
        params = metadata.get("tsne_params")
    coords = np.asarray(coords)
    adata = metadata.get("adata")
    rows = metadata.get("rows")
    if adata is not None and metadata.get("n_added", 0) == 0:
        n_map = len(rows) if rows is not None else adata.n_obs
        if n_map == coords.shape[0]:
            full = full_coordinates(coords, adata.n_obs, rows)
            return write_embedding(path, full, key=key, params=params, adata=adata)
    obs = obs_from_features(features, coords.shape[0])
    return write_embedding(path, coords, key=key, params=params, obs=obs)


def write_points(path: str, data: Any, attributes: dict) -> list[str]:
    """npe2 single-layer writer for Points layers (``.h5ad``)."""
    if not str(path).lower().endswith(".h5ad"):
        path = f"{path}.h5ad"
    coords = np.asarray(data)
    written = export_map(
        path,
        coords,
        metadata=attributes.get("metadata") or {},
        features=attributes.get("features"),
    )
    return [str(written)]
