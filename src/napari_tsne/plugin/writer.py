"""napari writer: a Points layer (a t-SNE map) to an AnnData ``.h5ad`` file.

* A layer that carries an AnnData (``metadata["adata"]``: made by the reader or by
  the t-SNE widget from an AnnData source) is saved as that AnnData with the
  coordinates in ``obsm["X_tsne"]`` (key in ``metadata["obsm_key"]``) and the run
  parameters in ``uns["tsne"]["params"]``. Saving onto the ``.h5ad`` the data came
  from updates only those two entries and keeps everything else in the file.
* A map to which samples from other AnnData objects were added
  (``metadata["added"]``) is saved as all of them combined, as ``anndata.concat``
  joins them (:func:`napari_tsne.io.combine.combine_anndata`), with the map for every
  cell; the input files are never written this way.
* A map of a features table (objects' measurements: ``metadata["measurement_columns"]``)
  becomes a new AnnData with ``X`` = the measurements (``var_names`` = their columns),
  ``obs`` = the other columns (label ids, groups, annotations).
* Any other Points layer becomes a new AnnData whose ``obs`` is the layer's
  ``features`` table.
* A path ending in ``.csv`` / ``.tsv`` gets a table instead: the layer's features
  (identifiers, measurements, groups) and the coordinates (``tsne_1``, ``tsne_2``),
  one row per point -- what image analysts open next.

Writes are atomic (see :func:`napari_tsne.io.write_embedding`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .sources import obs_from_features


def full_coordinates(coords: np.ndarray, n_obs: int, rows) -> np.ndarray:
    """Coordinates for all *n_obs* cells: rows not in the map (dropped) are NaN."""
    coords = np.asarray(coords)
    if rows is None:
        return coords
    out = np.full((n_obs, coords.shape[1]), np.nan, dtype=np.float64)
    out[np.asarray(rows)] = coords
    return out


def _same_file(a, b) -> bool:
    try:
        return Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)
    except OSError:
        return False


def map_parts(coords: np.ndarray, metadata: dict) -> list[dict]:
    """The AnnData parts of a map layer, each ``{"adata", "path", "label", "coords",
    "layer_rows"}``: the reference, then every added batch. ``coords`` holds one row per
    cell of the part (NaN for cells not in the map), ``layer_rows`` the cell of each of
    the part's layer points. Empty when a part did not come from an AnnData."""
    adata = metadata.get("adata")
    added = metadata.get("added") or []
    if adata is None or any(a.get("adata") is None for a in added):
        return []
    coords = np.asarray(coords)
    parts, start = [], 0
    ref = {
        "adata": adata,
        "path": metadata.get("source_path"),
        "label": metadata.get("source_name") or "reference",
        "rows": metadata.get("rows"),
    }
    for part in [ref, *added]:
        rows = part.get("rows")
        n_obs = part["adata"].n_obs
        n = len(rows) if rows is not None else n_obs
        if start + n > len(coords):
            raise ValueError(
                "The map layer has fewer points than its data; press Run to remake the map."
            )
        block = coords[start : start + n]
        layer_rows = np.arange(n_obs) if rows is None else np.asarray(rows)
        parts.append(
            {
                "adata": part["adata"],
                "path": part.get("path"),
                "label": str(part.get("label") or part.get("batch") or "new"),
                "coords": full_coordinates(block, n_obs, rows),
                "layer_rows": layer_rows,
            }
        )
        start += n
    if start != len(coords):
        raise ValueError("The map layer has more points than its data; press Run to remake it.")
    return parts


def _overlay_features(obs, features, parts) -> None:
    """Add the layer's own columns (``batch`` and any column not in obs, e.g. an
    annotation made on the map) to *obs*, for the cells that are points of the map."""
    if features is None:
        return
    positions, offset = [], 0
    for part in parts:
        positions.append(offset + part["layer_rows"])
        offset += part["adata"].n_obs
    positions = np.concatenate(positions)
    if len(positions) != len(features):
        return
    for c in map(str, features.columns):
        if c in obs.columns and c != "batch":
            continue
        s = features[c]
        text = s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)
        if text or c in obs.columns:
            values = (
                obs[c].astype(object).to_numpy().copy()
                if c in obs.columns
                else np.full(len(obs), None, dtype=object)
            )
            values[positions] = s.astype(object).to_numpy()
            obs[c] = pd.Categorical([v if v is None or pd.isna(v) else str(v) for v in values])
        else:
            values = np.full(len(obs), np.nan)
            values[positions] = s.to_numpy(dtype=float)
            obs[c] = values


def _new_obs_columns(adata, features, rows) -> pd.DataFrame | None:
    """The map layer's columns that ``adata.obs`` lacks or that were changed on the map
    (an annotation made there), one row per cell of *adata*; None if there are none.
    Cells not in the map keep their value in obs (missing for a new column)."""
    if features is None:
        return None
    layer_rows = np.arange(adata.n_obs) if rows is None else np.asarray(rows)
    obs = pd.DataFrame(index=adata.obs_names.copy())
    _overlay_features(obs, features, [{"adata": adata, "layer_rows": layer_rows}])
    out = {}
    for c in obs.columns:
        if c not in adata.obs.columns:
            out[c] = obs[c]
            continue
        old = adata.obs[c]
        mapped = obs[c].iloc[layer_rows].astype(object).to_numpy()
        before = old.iloc[layer_rows].astype(object).to_numpy()
        same = (mapped == before) | (pd.isna(mapped) & pd.isna(before))
        if same.all():
            continue
        values = old.astype(object).to_numpy().copy()
        values[layer_rows] = mapped
        if isinstance(obs[c].dtype, pd.CategoricalDtype) or old.dtype == object:
            out[c] = pd.Categorical(values)
        else:
            out[c] = pd.to_numeric(pd.Series(values, index=obs.index), errors="coerce")
    return pd.DataFrame(out, index=obs.index) if out else None


def coordinate_names(key: str, n_dims: int) -> list[str]:
    """Table columns of a map's coordinates: ``tsne_1``, ``tsne_2`` for ``X_tsne``."""
    stem = key[2:] if key.startswith("X_") else key
    return [f"{stem}_{i + 1}" for i in range(n_dims)]


def map_table(coords: np.ndarray, features, key: str) -> pd.DataFrame:
    """One row per map point: the layer's features, then the coordinates."""
    coords = np.asarray(coords)
    table = (
        pd.DataFrame(index=pd.RangeIndex(len(coords)))
        if features is None or len(features) != len(coords)
        else features.reset_index(drop=True).copy()
    )
    for name, values in zip(coordinate_names(key, coords.shape[1]), coords.T, strict=True):
        if name in table.columns:
            raise ValueError(
                f"The map's features already have a column {name!r}; choose another obsm "
                "key for the export."
            )
        table[name] = values
    return table


def map_anndata(coords: np.ndarray, features, metadata: dict, key: str, params):
    """A new AnnData of a map that was not made from an AnnData: the measurements as
    ``X`` when the map was made from a features table (see the module docstring),
    the other columns of the layer's features as ``obs``, the map in ``obsm[key]``."""
    import anndata

    from ..io import sanitize_params, uns_key_for

    coords = np.asarray(coords)
    n = coords.shape[0]
    cols = [str(c) for c in metadata.get("measurement_columns") or ()]
    have = features is not None and len(features) == n
    cols = [c for c in cols if have and c in features.columns]
    if cols:
        X = features[cols].to_numpy(dtype=np.float64)
        obs = obs_from_features(features.drop(columns=cols), n)
        ad = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=pd.Index(cols)))
    else:
        ad = anndata.AnnData(obs=obs_from_features(features, n))
    ad.obsm[key] = coords.copy()
    if params is not None:
        ad.uns[uns_key_for(key)] = {"params": sanitize_params(params)}
    return ad


def combined_map(coords, metadata: dict, features, key: str, params) -> tuple[Any, list[str]]:
    """``(AnnData, notes)``: the reference and added samples combined (see the module
    docstring), or ``(None, [])`` when the map has no added AnnData samples."""
    from ..io.combine import combine_anndata

    parts = map_parts(coords, metadata) if metadata.get("added") else []
    if not parts:
        return None, []
    adata, notes = combine_anndata(
        [p["adata"] for p in parts],
        [p["coords"] for p in parts],
        [p["label"] for p in parts],
        key=key,
        params=params,
    )
    _overlay_features(adata.obs, features, parts)
    return adata, notes


def export_map(
    path: str | Path,
    coords: np.ndarray,
    *,
    metadata: dict | None = None,
    features=None,
    key: str | None = None,
    params: dict | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Save a map; see the module docstring. Returns the path written; what could not
    be combined is appended to *notes*.

    Raises :class:`napari_tsne.io.DataWriteError` (an ``OSError``) or ``ValueError``
    with a readable message; on failure no file is changed.
    """
    from ..io import DataWriteError, atomic_path, write_embedding

    metadata = metadata or {}
    # t-SNE maps use obsm_key; a layer opened by the reader writes back the obsm entry
    # it shows; other Points layers get a neutral name
    key = key or metadata.get("obsm_key") or metadata.get("shown_obsm") or "X_points"
    if params is None:
        params = metadata.get("tsne_params")
    coords = np.asarray(coords)
    adata = metadata.get("adata")
    rows = metadata.get("rows")
    if Path(path).suffix.lower() in (".csv", ".tsv"):
        from ..io import write_table

        return write_table(path, map_table(coords, features, key))
    combined, combine_notes = combined_map(coords, metadata, features, key, params)
    if combined is not None:
        inputs = [metadata.get("source_path")] + [a.get("path") for a in metadata["added"]]
        for p in inputs:
            if p and _same_file(path, p):
                raise DataWriteError(
                    f"{path} is one of the files the map was made from; saving the "
                    "combined data there would replace it. Choose a new file name (or "
                    "write the map into each source file instead)."
                )
        with atomic_path(path) as tmp:
            combined.write_h5ad(tmp)
        if notes is not None:
            notes.extend(combine_notes)
        return Path(path)
    if adata is not None and metadata.get("n_added", 0) == 0:
        n_map = len(rows) if rows is not None else adata.n_obs
        if n_map == coords.shape[0]:
            full = full_coordinates(coords, adata.n_obs, rows)
            return write_embedding(
                path,
                full,
                key=key,
                params=params,
                adata=adata,
                obs_columns=_new_obs_columns(adata, features, rows),
            )
    new = map_anndata(coords, features, metadata, key, params)
    # an existing file keeps what it holds; the map and the columns of the layer
    # (groups made on the map, ...) are written into it
    return write_embedding(path, coords, key=key, params=params, adata=new, obs_columns=new.obs)


def write_points(path: str, data: Any, attributes: dict) -> list[str]:
    """npe2 single-layer writer for Points layers (``.h5ad``, or a ``.csv`` table)."""
    if not str(path).lower().endswith((".h5ad", ".csv", ".tsv")):
        path = f"{path}.h5ad"
    coords = np.asarray(data)
    written = export_map(
        path,
        coords,
        metadata=attributes.get("metadata") or {},
        features=attributes.get("features"),
    )
    return [str(written)]


def write_into_sources(
    coords: np.ndarray, metadata: dict, key: str, params: dict | None
) -> tuple[list[Path], list[str]]:
    """Write the map into each source ``.h5ad`` (reference and added samples), in place
    and atomically (only ``obsm[key]`` and the params change). Returns the paths
    written and the labels of the parts that have no file (nothing written for them)."""
    from ..io import write_embedding

    parts = map_parts(coords, metadata)
    if not parts:
        raise ValueError(
            "Only maps made from AnnData files (and samples added from AnnData files) can "
            "be written into their source files; save to a new file instead."
        )
    written, skipped = [], []
    for part in parts:
        path = part["path"]
        if not path or not Path(path).is_file():
            skipped.append(part["label"])
            continue
        written.append(write_embedding(path, part["coords"], key=key, params=params))
    return written, skipped
