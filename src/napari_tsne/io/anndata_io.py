"""Reading AnnData (``.h5ad``) files and saving t-SNE embeddings into them.

Saving follows scanpy's convention: the coordinates go to ``obsm["X_tsne"]``
and the run parameters to ``uns["tsne"]["params"]`` (for another key ``k``,
scanpy's ``key_added`` rule is used: ``obsm[k]`` and ``uns[k]["params"]``).

Saving into an existing file changes only those two entries; everything else
in the file (X, layers, obs, var, obsm, varm, obsp, uns, raw, ...) is kept as
it is stored, without being loaded and re-encoded.  The update is made on a
copy of the file that replaces the original only once it is complete, so the
original is either unchanged or fully updated.
"""

from __future__ import annotations

import enum
import os
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .atomic import DataReadError, DataWriteError, atomic_path

try:  # anndata >= 0.11
    from anndata.io import read_elem as _anndata_read_elem
    from anndata.io import write_elem as _anndata_write_elem
except ImportError:  # pragma: no cover - anndata 0.10
    from anndata.experimental import read_elem as _anndata_read_elem
    from anndata.experimental import write_elem as _anndata_write_elem

__all__ = [
    "UnknownRepresentationError",
    "read_h5ad",
    "get_representation",
    "list_representations",
    "representation_shapes",
    "write_embedding",
    "sanitize_params",
    "uns_key_for",
]

_SECTIONS = ("obsm", "layers")
_ARRAY_SUFFIXES = {".npy", ".csv", ".tsv", ".tab"}
_MAX_DETAIL = 300


class UnknownRepresentationError(DataReadError, KeyError):
    """The requested representation (X / obsm / layers key) does not exist.

    Also a :class:`KeyError`, so ``except KeyError`` works.
    """

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return Exception.__str__(self)


# ----------------------------------------------------------------------------- helpers


def _write_elem(group: h5py.Group, key: str, value: Any) -> None:
    """Write one AnnData element into an open HDF5 group (patchable in tests)."""
    _anndata_write_elem(group, key, value)


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return f"{type(err).__name__}: {text}"


def _attr_str(attrs: h5py.AttributeManager, name: str) -> str | None:
    value = attrs.get(name)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return " × ".join(f"{s:,}" for s in shape)


def _check_h5ad_file(path: Path) -> None:
    """Raise :class:`DataReadError` unless *path* is a readable AnnData HDF5 file."""
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            similar = sorted(p.name for p in path.parent.glob("*.h5ad"))[:5]
            if similar:
                hint = f" .h5ad files in that folder: {', '.join(similar)}."
        raise DataReadError(f"No such file: {path}. Check the folder and the file name.{hint}")
    if path.is_dir():
        if path.suffix == ".zarr" or (path / ".zattrs").exists() or (path / "zarr.json").exists():
            raise DataReadError(
                f"{path} is a folder (it looks like a Zarr store), not an .h5ad file. "
                "Open it with anndata.read_zarr, or choose an .h5ad file."
            )
        raise DataReadError(f"{path} is a folder, not a file. Choose an .h5ad file inside it.")
    if not path.is_file():
        raise DataReadError(f"{path} is not a regular file. Choose an .h5ad file.")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as err:
        raise DataReadError(f"Could not open {path}: {err.strerror or err}.") from err
    if size == 0:
        raise DataReadError(
            f"{path} is empty (0 bytes). It was probably not saved completely; "
            "save or download it again."
        )
    if not h5py.is_hdf5(path):
        raise DataReadError(
            f"{path} is not an HDF5 file, so it is not a valid .h5ad (AnnData) file, "
            "even though it may be named like one. Check that you chose the right file "
            "(CSV, loom and Zarr data need a different reader)."
        )

    def corrupted(err: BaseException) -> DataReadError:
        return DataReadError(
            f"{path} could not be opened: it appears to be truncated or corrupted "
            "(for example an interrupted download or copy). Save or download it again. "
            f"({_short(err)})"
        )

    try:
        f = h5py.File(path, "r")
    except Exception as err:
        raise corrupted(err) from err
    with f:
        try:  # damaged metadata fails here, with h5py's OSError/KeyError/...
            encoding = _attr_str(f.attrs, "encoding-type")
            has_sections = "obs" in f and "var" in f
            keys = sorted(f.keys())
        except Exception as err:
            raise corrupted(err) from err
        if encoding == "anndata":
            return
        if encoding is None and has_sections:
            return  # files written by anndata < 0.8 carry no encoding attributes
        found = ", ".join(repr(k) for k in keys[:10]) if keys else "nothing"
        if len(keys) > 10:
            found += ", ..."
        what = f"an HDF5 file with encoding {encoding!r}" if encoding else "an HDF5 file"
        raise DataReadError(
            f"{path} is {what}, but not an AnnData (.h5ad) file: it has no 'obs'/'var' "
            f"sections (top-level entries: {found}). Choose an .h5ad file written by "
            "anndata or scanpy."
        )


def _h5_n_obs(f: h5py.File) -> int:
    """Number of observations stored in an open .h5ad file, without loading obs."""
    obs = f["obs"]
    if isinstance(obs, h5py.Dataset):  # anndata < 0.8: compound dataset
        return int(obs.shape[0])
    index_key = _attr_str(obs.attrs, "_index") or "_index"
    if index_key in obs and isinstance(obs[index_key], h5py.Dataset):
        return int(obs[index_key].shape[0])
    return int(len(_anndata_read_elem(obs)))


# ----------------------------------------------------------------------------- reading


def read_h5ad(path: str | os.PathLike[str]) -> anndata.AnnData:
    """Read an ``.h5ad`` file into memory.

    Raises :class:`DataReadError` with a readable message (never a raw h5py
    traceback) when the file is missing, a folder, empty, not HDF5, truncated or
    corrupted, an HDF5 file that is not AnnData, or too large for memory.
    """
    path = Path(path).expanduser()
    _check_h5ad_file(path)
    try:
        return anndata.io.read_h5ad(path)
    except MemoryError as err:
        raise DataReadError(
            f"{path} is too large to load into memory on this computer. Subsample it "
            "first or use a machine with more memory."
        ) from err
    except Exception as err:
        raise DataReadError(
            f"{path} could not be read as AnnData: it may be truncated, corrupted, or "
            f"written by an incompatible program. Save or download it again. ({_short(err)})"
        ) from err


def _describe_matrix(value: Any) -> tuple[tuple[int, int], bool] | None:
    """(shape, is_sparse) for a usable numeric 2-D matrix, else None."""
    if value is None:
        return None
    if isinstance(value, pd.DataFrame):
        if value.shape[1] == 0 or not all(
            pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
            for dt in value.dtypes
        ):
            return None
        return (int(value.shape[0]), int(value.shape[1])), False
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None or len(shape) != 2 or dtype is None:
        return None
    if np.dtype(dtype).kind not in "biuf":
        return None
    sparse = sp.issparse(value) or type(value).__name__.endswith(("CSRDataset", "CSCDataset"))
    return (int(shape[0]), int(shape[1])), sparse


def _candidates(adata: anndata.AnnData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if adata.X is not None:
        out["X"] = adata.X
    for section in _SECTIONS:
        mapping = getattr(adata, section)
        for k in mapping.keys():
            out[f"{section}/{k}"] = mapping[k]
    if adata.raw is not None:
        out["raw/X"] = adata.raw.X
    return out


def representation_shapes(adata: anndata.AnnData) -> dict[str, tuple[int, int]]:
    """Valid representation names mapped to their (n_obs, n_features) shapes.

    Names are ``"X"``, ``"obsm/<key>"``, ``"layers/<key>"`` and ``"raw/X"``;
    only numeric 2-D entries are listed.
    """
    shapes: dict[str, tuple[int, int]] = {}
    for name, value in _candidates(adata).items():
        info = _describe_matrix(value)
        if info is not None:
            shapes[name] = info[0]
    return shapes


def list_representations(adata: anndata.AnnData) -> list[str]:
    """Names accepted by :func:`get_representation`, e.g. ``["X", "obsm/X_pca"]``."""
    return list(representation_shapes(adata))


def _available_text(adata: anndata.AnnData) -> str:
    parts = []
    for name, value in _candidates(adata).items():
        info = _describe_matrix(value)
        if info is not None:
            shape, sparse = info
            parts.append(f"{name} ({_fmt_shape(shape)}{', sparse' if sparse else ''})")
    return "; ".join(parts) if parts else "none (the dataset has no numeric matrices)"


def _resolve_name(adata: anndata.AnnData, key: str) -> str | None:
    """Canonical name for *key*, or None if it does not exist."""
    key = key.strip()
    if key in ("X", ""):
        return "X" if adata.X is not None else None
    if key in ("raw", "raw/X", "raw.X"):
        return "raw/X" if adata.raw is not None else None
    for section in _SECTIONS:
        for sep in ("/", "."):
            prefix = section + sep
            if key.startswith(prefix):
                inner = key[len(prefix) :]
                if inner in getattr(adata, section).keys():
                    return f"{section}/{inner}"
                if sep == "/":
                    return None
    # bare key: searched in X -> obsm -> layers
    for section in _SECTIONS:
        if key in getattr(adata, section).keys():
            return f"{section}/{key}"
    return None


def _to_memory(value: Any) -> Any:
    if isinstance(value, h5py.Dataset):
        return value[()]
    if hasattr(value, "to_memory") and not sp.issparse(value):
        return value.to_memory()
    return value


def get_representation(adata: anndata.AnnData, key: str | None = "X") -> tuple[Any, str]:
    """Return ``(matrix, name)`` for a representation of *adata*.

    *key* is ``"X"`` (the default), ``"obsm/<key>"``, ``"layers/<key>"``,
    ``"raw/X"``, or a bare key looked up in X, then ``obsm``, then ``layers``.
    *name* is the canonical form (``"X"``, ``"obsm/X_pca"``, ...).

    Dense data is returned as a NumPy array (no copy where possible); sparse
    data stays sparse, in CSR format.  An unknown key raises
    :class:`UnknownRepresentationError` listing the available names.
    """
    if key is None:
        key = "X"
    if not isinstance(key, str):
        raise TypeError(f"key must be a string such as 'X' or 'obsm/X_pca', not {key!r}")
    name = _resolve_name(adata, key)
    if name is None:
        if key.strip() in ("X", ""):
            problem = "This dataset has no main data matrix X."
        else:
            problem = f"{key!r} is not a data representation in this dataset."
        raise UnknownRepresentationError(
            f"{problem} Available: {_available_text(adata)}. Use one of these names."
        )
    if name == "X":
        value = adata.X
    elif name == "raw/X":
        value = adata.raw.X
    else:
        section, inner = name.split("/", 1)
        value = getattr(adata, section)[inner]
    value = _to_memory(value)

    if isinstance(value, pd.DataFrame):
        bad = [
            str(c)
            for c, dt in value.dtypes.items()
            if not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)
        ]
        if bad:
            raise DataReadError(
                f"{name} is a table with non-numeric columns ({', '.join(bad)}), so it "
                f"cannot be used as data. Choose another representation: "
                f"{_available_text(adata)}."
            )
        value = value.to_numpy()
    elif sp.issparse(value):
        if value.format != "csr":
            value = value.tocsr()
    elif not isinstance(value, np.ndarray) or isinstance(value, np.matrix):
        value = np.asarray(value)

    if value.ndim != 2 or np.dtype(value.dtype).kind not in "biuf":
        raise DataReadError(
            f"{name} is not a numeric 2-D matrix (shape {value.shape}, type {value.dtype}). "
            f"Choose another representation: {_available_text(adata)}."
        )
    return value, name


# ----------------------------------------------------------------------------- params


def uns_key_for(key: str) -> str:
    """The ``uns`` entry that holds the parameters for ``obsm[key]`` (scanpy's rule)."""
    return "tsne" if key == "X_tsne" else key


def sanitize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Make a parameter dict storable in ``.h5ad`` ``uns``.

    ``None`` values are dropped; NumPy scalars become Python scalars; tuples,
    lists and sets become arrays (numeric if possible, otherwise strings);
    nested mappings are sanitised recursively (``/`` in keys becomes ``_``);
    paths, enums, callables and any other objects are stored as text.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict, not {type(params).__name__}")
    return _sanitize_mapping(params)


def _sanitize_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        clean = _sanitize_value(v)
        if clean is not None:
            out[str(k).replace("/", "_") or "_"] = clean
    return out


def _sanitize_sequence(values: Any) -> np.ndarray:
    items = [_sanitize_value(v) for v in values]
    items = ["None" if v is None else v for v in items]
    if not items:
        return np.zeros(0, dtype=np.float64)
    if all(isinstance(v, (bool, np.bool_)) for v in items):
        return np.asarray(items, dtype=bool)
    if all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in items
    ):
        return np.asarray(items)
    if all(isinstance(v, np.ndarray) for v in items):
        try:
            arr = np.asarray(items)
        except ValueError:
            arr = None
        if arr is not None and arr.dtype.kind in "biufU":
            return arr
    return np.asarray([v if isinstance(v, str) else str(v) for v in items], dtype=str)


def _sanitize_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, enum.Enum):
        return str(v.name)
    if isinstance(v, PurePath):
        return str(v)
    if isinstance(v, Mapping):
        return _sanitize_mapping(v)
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "biufc":
            return v
        if v.dtype.kind in "US":
            return v.astype(str)
        return _sanitize_sequence(v.ravel().tolist()).reshape(v.shape) if v.ndim else str(v)
    if sp.issparse(v):
        return v.tocsr()
    if isinstance(v, (list, tuple, set, frozenset, range)):
        seq = sorted(v, key=repr) if isinstance(v, (set, frozenset)) else list(v)
        return _sanitize_sequence(seq)
    if isinstance(v, complex):
        return np.complex128(v)
    if callable(v):
        return getattr(v, "__qualname__", None) or getattr(v, "__name__", None) or repr(v)
    return str(v)


# ----------------------------------------------------------------------------- writing


def _as_coordinates(coordinates: Any) -> np.ndarray:
    if sp.issparse(coordinates):
        raise TypeError("coordinates must be a dense array (n_obs × d), not a sparse matrix")
    coords = np.asarray(coordinates)
    if coords.ndim == 1:
        coords = coords.reshape(-1, 1)
    if coords.ndim != 2:
        raise ValueError(f"coordinates must be a 2-D array (n_obs × d); got shape {coords.shape}")
    if coords.dtype.kind not in "biuf":
        raise ValueError(f"coordinates must be numeric; got type {coords.dtype}")
    if coords.dtype.kind == "b":
        coords = coords.astype(np.float32)
    return np.ascontiguousarray(coords)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip() or "/" in key:
        raise ValueError(f"key must be a non-empty name without '/', such as 'X_tsne'; got {key!r}")


def _mismatch_message(path: Path, n_file: int, n_rows: int) -> str:
    return (
        f"Cannot save the embedding into {path}: the file has {n_file:,} cells "
        f"(observations) but the embedding has {n_rows:,} rows. Save it into the file the "
        "embedding was computed from, or save to a new file."
    )


def _update_h5ad_in_place(
    path: Path,
    coords: np.ndarray,
    key: str,
    uns_key: str,
    params: dict[str, Any] | None,
    overwrite: bool,
    label: Path,
) -> None:
    """Set ``obsm[key]`` (and ``uns[uns_key]["params"]``) in the .h5ad at *path*."""
    with h5py.File(path, "r+") as f:
        n_file = _h5_n_obs(f)
        if n_file != coords.shape[0]:
            raise DataWriteError(_mismatch_message(label, n_file, coords.shape[0]))

        obsm = f.get("obsm")
        if isinstance(obsm, h5py.Group) and _attr_str(obsm.attrs, "encoding-type") in (
            "dict",
            None,
        ):
            if key in obsm:
                if not overwrite:
                    raise DataWriteError(
                        f"{label} already contains obsm[{key!r}]. Choose another key, or "
                        "allow overwriting (overwrite=True)."
                    )
                del obsm[key]
            _write_elem(obsm, key, coords)
        else:
            if obsm is not None:
                del f["obsm"]
            _write_elem(f, "obsm", {key: coords})

        if params is not None:
            uns = f.get("uns")
            if isinstance(uns, h5py.Group) and _attr_str(uns.attrs, "encoding-type") in (
                "dict",
                None,
            ):
                entry = uns.get(uns_key)
                if isinstance(entry, h5py.Group) and _attr_str(entry.attrs, "encoding-type") in (
                    "dict",
                    None,
                ):
                    if "params" in entry:
                        del entry["params"]
                    _write_elem(entry, "params", params)
                else:
                    if entry is not None:
                        del uns[uns_key]
                    _write_elem(uns, uns_key, {"params": params})
            else:
                if uns is not None:
                    del f["uns"]
                _write_elem(f, "uns", {uns_key: {"params": params}})

        written = f["obsm"][key]
        if tuple(written.shape) != coords.shape:  # pragma: no cover - sanity check
            raise DataWriteError(f"Could not save the embedding into {label}: write check failed.")


def _write_obs_columns(path: Path, columns: pd.DataFrame | None, label: Path) -> None:
    """Add (or replace) *columns* in the ``obs`` data frame of the .h5ad at *path*,
    keeping its other columns and their order."""
    if columns is None or columns.shape[1] == 0:
        return
    with h5py.File(path, "r+") as f:
        obs = f.get("obs")
        if not isinstance(obs, h5py.Group) or _attr_str(obs.attrs, "encoding-type") != "dataframe":
            raise DataWriteError(
                f"Could not add {', '.join(map(str, columns.columns))} to obs of {label}: its "
                "obs is stored in an old format. Re-save it with a current anndata first."
            )
        if len(columns) != _h5_n_obs(f):
            raise DataWriteError(_mismatch_message(label, _h5_n_obs(f), len(columns)))
        order = [str(c) for c in np.asarray(obs.attrs.get("column-order", []), dtype=str)]
        for name in map(str, columns.columns):
            if name == _attr_str(obs.attrs, "_index"):
                raise DataWriteError(f"{name!r} is the name of obs's index in {label}.")
            if name in obs:
                del obs[name]
            values = columns[name]
            if isinstance(values.dtype, pd.CategoricalDtype):
                _write_elem(obs, name, values.array)
            else:
                _write_elem(obs, name, values.to_numpy())
            if name not in order:
                order.append(name)
        obs.attrs["column-order"] = np.array(order, dtype=object) if order else np.array([])


def _inspect_target(path: Path) -> tuple[int, bool, set[str]]:
    """(n_obs, is_legacy_format, obsm keys) of an existing .h5ad target."""
    try:
        _check_h5ad_file(path)
    except DataReadError as err:
        raise DataWriteError(
            f"Cannot save the embedding into {path}: {err} To keep that file as it is, "
            "save to a new file name."
        ) from err
    try:
        with h5py.File(path, "r") as f:
            n_obs = _h5_n_obs(f)
            legacy = _attr_str(f.attrs, "encoding-type") != "anndata"
            obsm = f.get("obsm")
            keys = set(obsm.keys()) if isinstance(obsm, h5py.Group) else set()
    except DataWriteError:
        raise
    except Exception as err:
        raise DataWriteError(
            f"Cannot save the embedding into {path}: the file could not be read; it may be "
            f"corrupted. Save to a new file name instead. ({_short(err)})"
        ) from err
    return n_obs, legacy, keys


def _new_anndata(coords: np.ndarray, obs: pd.DataFrame | None) -> anndata.AnnData:
    if obs is None:
        obs = pd.DataFrame(index=pd.Index([str(i) for i in range(coords.shape[0])]))
    else:
        if not isinstance(obs, pd.DataFrame):
            raise TypeError(f"obs must be a pandas DataFrame, not {type(obs).__name__}")
        if len(obs) != coords.shape[0]:
            raise ValueError(
                f"obs has {len(obs):,} rows but the embedding has {coords.shape[0]:,}; "
                "they must describe the same cells."
            )
        obs = obs.copy()
        obs.index = obs.index.astype(str)
    return anndata.AnnData(obs=obs)


def write_embedding(
    path: str | os.PathLike[str],
    coordinates: Any,
    key: str = "X_tsne",
    params: Mapping[str, Any] | None = None,
    adata: anndata.AnnData | None = None,
    *,
    obs: pd.DataFrame | None = None,
    overwrite: bool = True,
    uns_key: str | None = None,
    obs_columns: pd.DataFrame | None = None,
) -> Path:
    """Save t-SNE *coordinates* (n_obs × d) as ``obsm[key]`` in the .h5ad at *path*.

    *obs_columns* (one row per cell, e.g. an annotation made on the map) are added to
    the file's ``obs`` (a column of the same name is replaced); nothing else of ``obs``
    changes.

    *params* (if given) is sanitised with :func:`sanitize_params` and stored as
    ``uns[uns_key]["params"]``; *uns_key* defaults to ``"tsne"`` for
    ``key="X_tsne"`` and to *key* otherwise (scanpy's convention).  With
    ``params=None`` ``uns`` is not touched.

    * *path* exists: the file is updated; only ``obsm[key]`` and the params entry
      change, everything else stays as stored.  Its number of cells must equal
      ``len(coordinates)``.  *adata* and *obs* are not written in this case
      (*adata*, if given, must have the same number of cells).  With
      ``overwrite=False`` an existing ``obsm[key]`` is an error.
    * *path* does not exist: *adata* (not modified) plus the embedding is
      written; without *adata*, a new AnnData holding only the embedding, with
      *obs* (a DataFrame, one row per cell) as cell annotations if given.

    *path* is an ``.h5ad`` file; plain arrays (``.npy``, ``.csv``, ``.tsv``) are
    written by :func:`napari_tsne.io.write_array` (which calls this function for
    ``.h5ad``, so that one call saves any format; this module never imports it).

    The write is atomic: on any failure the original file is byte-identical
    and no temporary file is left behind.  Failures raise
    :class:`DataWriteError` with a readable message.  Returns the path written.
    """
    path = Path(path).expanduser()
    coords = _as_coordinates(coordinates)
    if path.suffix.lower() in _ARRAY_SUFFIXES:
        raise DataWriteError(
            f"write_embedding saves .h5ad files; {path.name} is not one. Save plain "
            "arrays (.npy, .csv, .tsv) with write_array."
        )
    _check_key(key)
    if uns_key is None:
        uns_key = uns_key_for(key)
    _check_key(uns_key)
    clean = sanitize_params(params) if params is not None else None
    if adata is not None and adata.n_obs != coords.shape[0]:
        raise ValueError(
            f"adata has {adata.n_obs:,} cells but the embedding has {coords.shape[0]:,} rows."
        )

    if path.is_file():
        n_file, legacy, keys = _inspect_target(path)
        if n_file != coords.shape[0]:
            raise DataWriteError(_mismatch_message(path, n_file, coords.shape[0]))
        if key in keys and not overwrite:
            raise DataWriteError(
                f"{path} already contains obsm[{key!r}]. Choose another key, or allow "
                "overwriting (overwrite=True)."
            )
        with atomic_path(path) as tmp:
            if legacy:
                # old on-disk format: rewrite the whole file with the current anndata
                full = read_h5ad(path)
                full.write_h5ad(tmp)
                del full
            else:
                shutil.copyfile(path, tmp)
            _update_h5ad_in_place(tmp, coords, key, uns_key, clean, overwrite, path)
            _write_obs_columns(tmp, obs_columns, path)
        return path

    with atomic_path(path) as tmp:
        if adata is not None:
            if adata.is_view:
                adata = adata.copy()
            adata.write_h5ad(tmp, convert_strings_to_categoricals=False)
        else:
            _new_anndata(coords, obs).write_h5ad(tmp)
        _update_h5ad_in_place(tmp, coords, key, uns_key, clean, True, path)
        _write_obs_columns(tmp, obs_columns, path)
    return path
