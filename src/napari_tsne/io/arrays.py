"""Reading and writing plain numeric arrays: ``.npy``, ``.npz``, ``.csv``/``.tsv``, ``.h5ad``.

Text tables (``.csv``, ``.tsv``, optionally compressed, e.g. ``.csv.gz``):

* A header row is allowed and detected automatically (the first row is a
  header if it contains text that is not a number, or if its first cell is
  empty, as in tables written by pandas with an index); pass ``header=True`` /
  ``header=False`` to decide explicitly (needed when the column names are
  numbers, e.g. ``0,1``).
* With a header whose first cell is empty, the first column is treated as row
  names (not data).
* Missing values (empty, ``NA``, ``nan``, ``N/A``, ``null``, ``none``) become NaN.
* Columns that contain text (e.g. cell types): :func:`read_array` raises a
  :class:`DataReadError` naming them; :func:`read_table` returns them
  separately as a labels DataFrame.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .atomic import DataReadError, DataWriteError, atomic_path

if TYPE_CHECKING:  # pandas and anndata are imported where a table or .h5ad is read
    import pandas as pd

__all__ = ["read_array", "read_table", "write_array", "write_table"]

_TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_COMPRESSION = {".gz", ".bz2", ".xz", ".zip", ".zst"}
_MISSING = {"", "na", "nan", "n/a", "null", "none", "-nan"}
_SUPPORTED_READ = ".npy, .npz, .csv, .tsv, .h5ad"
_SUPPORTED_WRITE = ".npy, .csv, .tsv, .h5ad"


def _kind(path: Path) -> str:
    """File kind from the name: '.npy', '.csv', ... (compression suffix ignored for text)."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSION and suffixes[-2] in _TEXT_SUFFIXES:
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise DataReadError(f"No such file: {path}. Check the folder and the file name.")
    if path.is_dir():
        raise DataReadError(f"{path} is a folder, not a file. Choose a data file inside it.")
    if path.stat().st_size == 0:
        raise DataReadError(
            f"{path} is empty (0 bytes). It was probably not saved completely; save it again."
        )


# ----------------------------------------------------------------------------- reading


def read_array(
    path: str | os.PathLike[str], key: str | None = None, *, header: bool | None = None
) -> Any:
    """Read a numeric matrix (n_obs × n_features) from *path*.

    * ``.npy``: loaded with ``allow_pickle=False``; a 1-D array becomes one column.
    * ``.npz``: the array named *key*, or the only array in the file.
    * ``.csv`` / ``.tsv``: numeric table, see the module docs (header detection,
      row names).  Text columns raise :class:`DataReadError` naming them; use
      :func:`read_table` to get them as labels instead.  Returns float64.
    * ``.h5ad``: the representation *key* (default ``"X"``) via
      :func:`~napari_tsne.io.get_representation`; sparse data stays sparse (CSR).

    Every problem raises :class:`DataReadError` with a readable message.
    """
    path = Path(path).expanduser()
    kind = _kind(path)
    if kind == ".h5ad":
        from .anndata_io import get_representation, read_h5ad

        adata = read_h5ad(path)
        return get_representation(adata, key or "X")[0]
    if kind == ".npy":
        _check_readable(path)
        return _read_npy(path)
    if kind == ".npz":
        _check_readable(path)
        return _read_npz(path, key)
    if kind in _TEXT_SUFFIXES:
        data, labels, _ = _read_text_table(path, header)
        if labels.shape[1]:
            cols = ", ".join(repr(str(c)) for c in labels.columns)
            example = labels.iloc[:, 0].astype(str)
            example = next((v for v in example if v.strip().lower() not in _MISSING), "")
            raise DataReadError(
                f"Column(s) {cols} in {path.name} contain text, not numbers "
                f"(e.g. {example!r}). Remove them from the file, or load the table with "
                "read_table(), which returns such columns separately as labels."
            )
        _require_numeric(data, path)
        return data
    raise DataReadError(
        f"Cannot read {path.name}: unsupported file type {kind or '(no extension)'!r}. "
        f"Supported: {_SUPPORTED_READ}."
    )


def read_table(
    path: str | os.PathLike[str], *, header: bool | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a ``.csv``/``.tsv`` table as ``(numeric float64 matrix, labels)``.

    *labels* is a DataFrame with the text columns (one row per data row; its
    index holds the row names if the table has them).  It has no columns when
    the table is fully numeric.
    """
    path = Path(path).expanduser()
    if _kind(path) not in _TEXT_SUFFIXES:
        raise DataReadError(
            f"read_table reads .csv and .tsv files; {path.name} is not one. "
            "Use read_array for other formats."
        )
    data, labels, _ = _read_text_table(path, header)
    _require_numeric(data, path)
    return data, labels


def _require_numeric(data: np.ndarray, path: Path) -> None:
    if data.shape[1] == 0:
        raise DataReadError(f"{path.name} has no numeric columns; nothing to use as data.")


def _read_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err) or "pickle" in str(err).lower():
            raise DataReadError(
                f"{path.name} contains Python objects, not numbers, and is not loaded for "
                "safety. Save a numeric array instead (e.g. arr.astype(float))."
            ) from err
        raise DataReadError(
            f"{path} is not a valid .npy file or is truncated; save it again. ({err})"
        ) from err
    except (OSError, EOFError) as err:
        raise DataReadError(
            f"{path} is not a valid .npy file or is truncated; save it again. ({err})"
        ) from err
    return _as_matrix(arr, path.name)


def _read_npz(path: Path, key: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            if key is None:
                if len(names) != 1:
                    raise DataReadError(
                        f"{path.name} holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                        "say which one to use (key=...)."
                    )
                key = names[0]
            if key not in names:
                raise DataReadError(
                    f"{path.name} has no array {key!r}. Available: {', '.join(names) or 'none'}."
                )
            arr = npz[key]
    except DataReadError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise DataReadError(
                f"{path.name} contains Python objects, not numbers, and is not loaded for safety."
            ) from err
        raise DataReadError(f"{path} is not a valid .npz file or is truncated. ({err})") from err
    except Exception as err:
        raise DataReadError(f"{path} is not a valid .npz file or is truncated. ({err})") from err
    return _as_matrix(arr, f"{path.name}[{key!r}]")


def _as_matrix(arr: np.ndarray, label: str) -> np.ndarray:
    if arr.dtype.names is not None:
        raise DataReadError(
            f"{label} is a table with named fields ({', '.join(arr.dtype.names)}); save a plain "
            "numeric array instead."
        )
    if arr.dtype.kind not in "biuf":
        raise DataReadError(f"{label} holds {arr.dtype} values, not numbers.")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DataReadError(
            f"{label} has shape {arr.shape}; expected a 2-D matrix (cells × features)."
        )
    return arr


def _parse_numeric(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(float values, parse_ok mask) for a column of stripped strings."""
    import pandas as pd

    missing = col.str.lower().isin(_MISSING)
    values = pd.to_numeric(col.where(~missing), errors="coerce").astype(np.float64)
    ok = values.notna() | missing
    if bool(ok.all()):
        # pandas' fast parser may be off by one ulp; numpy parses correctly rounded
        try:
            exact = col.where(~missing, "nan").to_numpy(dtype=str).astype(np.float64)
        except ValueError:
            pass
        else:
            values = pd.Series(exact, index=col.index)
    return values, ok


def _read_text_table(path: Path, header: bool | None) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
    """(numeric matrix, text-column labels, numeric column names)."""
    import pandas as pd

    _check_readable(path)
    sep = _TEXT_SUFFIXES[_kind(path)]
    try:
        raw = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError as err:
        raise DataReadError(f"{path} contains no data.") from err
    except pd.errors.ParserError as err:
        raise DataReadError(
            f"{path.name} could not be read as a table: rows have different numbers of "
            f"columns ({' '.join(str(err).split())}). Check the separator "
            f"({'tab' if sep == chr(9) else 'comma'}) and the row mentioned."
        ) from err
    except UnicodeDecodeError as err:
        raise DataReadError(
            f"{path.name} is not a text table (it is not readable as text)."
        ) from err
    except Exception as err:
        raise DataReadError(f"{path.name} could not be read as a table. ({err})") from err

    raw = raw.apply(lambda c: c.str.strip())
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DataReadError(f"{path} contains no data.")

    first = raw.iloc[0]
    if header is None:
        _, first_ok = _parse_numeric(first)
        has_text = bool((~first_ok).any())
        index_header = (
            raw.shape[0] > 1
            and raw.shape[1] > 1
            and first.iloc[0] == ""
            and bool((raw.iloc[1:, 0] != "").all())
        )
        header = has_text or index_header
    if header:
        names = [v if v != "" else f"column {i + 1}" for i, v in enumerate(first)]
        index_col = raw.shape[1] > 1 and first.iloc[0] == ""
        body = raw.iloc[1:]
    else:
        names = [f"column {i + 1}" for i in range(raw.shape[1])]
        index_col = False
        body = raw
    if body.shape[0] == 0:
        raise DataReadError(f"{path.name} has a header row but no data rows.")
    body = body.reset_index(drop=True)

    index = None
    if index_col:
        index = pd.Index(body.iloc[:, 0].to_numpy(), name=None)
        body = body.iloc[:, 1:]
        names = names[1:]

    numeric_cols: list[np.ndarray] = []
    numeric_names: list[str] = []
    labels: dict[str, pd.Series] = {}
    for j, name in enumerate(names):
        values, ok = _parse_numeric(body.iloc[:, j])
        if bool(ok.all()):
            numeric_cols.append(values.to_numpy())
            numeric_names.append(name)
        else:
            labels[name] = body.iloc[:, j].reset_index(drop=True)
    label_df = pd.DataFrame(labels)
    if index is not None:
        label_df.index = index
    elif not labels:
        label_df = pd.DataFrame(index=pd.RangeIndex(body.shape[0]))
    if numeric_cols:
        data = np.column_stack(numeric_cols).astype(np.float64, copy=False)
    else:
        data = np.empty((body.shape[0], 0), dtype=np.float64)
    return data, label_df, numeric_names


# ----------------------------------------------------------------------------- writing


def _float_format(dtype: np.dtype) -> str:
    if dtype.kind in "biu":
        return "%d"
    if dtype.itemsize <= 2:
        return "%.5g"
    if dtype.itemsize <= 4:
        return "%.9g"
    return "%.17g"


def write_array(
    path: str | os.PathLike[str],
    coordinates: Any,
    *,
    overwrite: bool = True,
    columns: list[str] | None = None,
    header: bool = True,
) -> Path:
    """Save a numeric matrix (n × d) atomically; returns the path written.

    * ``.npy``: exact binary copy (dtype kept).
    * ``.csv`` / ``.tsv``: a header row (*columns*, default ``dim_1, dim_2, ...``;
      ``header=False`` for none), then one row per cell, full precision.
    * ``.h5ad``: delegates to :func:`~napari_tsne.io.write_embedding`
      (``obsm["X_tsne"]``).

    With ``overwrite=False`` an existing file is an error.  Failures raise
    :class:`DataWriteError`; an existing file is then left unchanged.
    """
    path = Path(path).expanduser()
    if sp.issparse(coordinates):
        raise TypeError("write_array needs a dense array, not a sparse matrix")
    arr = np.asarray(coordinates)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise ValueError(
            f"write_array needs a numeric 2-D array; got shape {arr.shape}, type {arr.dtype}"
        )
    suffix = path.suffix.lower()
    if suffix == ".h5ad":
        from .anndata_io import write_embedding

        return write_embedding(path, arr, overwrite=overwrite)
    if suffix == ".npy":
        with atomic_path(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
        return path
    if suffix in _TEXT_SUFFIXES:
        sep = _TEXT_SUFFIXES[suffix]
        if columns is None:
            columns = [f"dim_{i + 1}" for i in range(arr.shape[1])]
        elif len(columns) != arr.shape[1]:
            raise ValueError(f"{len(columns)} column names given for {arr.shape[1]} columns")
        buf = io.StringIO()
        if header:
            csv.writer(buf, delimiter=sep, lineterminator="\n").writerow([str(c) for c in columns])
        with atomic_path(path, overwrite=overwrite) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                fh.write(buf.getvalue())
                if arr.dtype.kind == "b":
                    arr = arr.astype(np.int8)
                np.savetxt(fh, arr, fmt=_float_format(arr.dtype), delimiter=sep)
        return path
    raise DataWriteError(
        f"Cannot save {path.name}: unsupported file type {suffix or '(no extension)'!r}. "
        f"Supported: {_SUPPORTED_WRITE}."
    )


def write_table(
    path: str | os.PathLike[str], table: pd.DataFrame, *, overwrite: bool = True
) -> Path:
    """Save a table of mixed columns (numbers, text, categories) as ``.csv`` / ``.tsv``
    atomically, with a header row and without the index; returns the path written.
    Numbers keep full precision; missing values are empty cells. With
    ``overwrite=False`` an existing file is an error (:class:`DataWriteError`)."""
    path = Path(path).expanduser()
    sep = _TEXT_SUFFIXES.get(path.suffix.lower())
    if sep is None:
        raise DataWriteError(f"Cannot save the table as {path.name}: use a .csv or .tsv file name.")
    text = table.to_csv(sep=sep, index=False, float_format="%.17g", lineterminator="\n")
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
    return path
