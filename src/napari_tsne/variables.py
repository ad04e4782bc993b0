"""What can colour a map, and its values: a column of the annotations (AnnData ``obs``,
a layer's ``features``) or a variable of an AnnData (a gene of ``var_names``, or of
``raw.var_names``), as scanpy's ``color=`` accepts both.

A gene's values are read one column at a time (``AnnData.obs_vector``): a sparse matrix
is not made dense and a backed file is not loaded whole. Unknown names raise
:class:`UnknownVariableError` in scanpy's words, with the closest names suggested.
Qt-free and napari-free: the napari widget, ``view()`` and the notebook map share it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

#: where a gene's values are read: X, an entry of ``layers`` ("layers/<key>"), or raw
RAW = "raw/X"


class UnknownVariableError(KeyError, ValueError):
    """A name that is neither a column of the annotations nor a variable (gene): a
    ``KeyError`` as scanpy raises, and a ``ValueError`` like the other bad arguments."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def variable_names(obs: pd.DataFrame | None, adata=None) -> list[str]:
    """Every name that can colour a map: the annotation columns, then the genes of
    ``var_names``, then those only in ``raw.var_names``, each once."""
    names = [] if obs is None else [str(c) for c in obs.columns]
    seen = set(names)
    if adata is not None:
        for gene in _genes(adata):
            if gene not in seen:
                seen.add(gene)
                names.append(gene)
    return names


def _genes(adata) -> Iterable[str]:
    yield from map(str, adata.var_names)
    raw = getattr(adata, "raw", None)
    if raw is not None:
        yield from map(str, raw.var_names)


def unknown_variable(name: str, candidates: Sequence[str]) -> UnknownVariableError:
    """scanpy's message for a key it cannot find, with the closest names."""
    by_lower: dict[str, str] = {}
    for c in map(str, candidates):
        by_lower.setdefault(c.lower(), c)
    low = str(name).lower()  # case is not what a user gets wrong on purpose
    close = [by_lower[c] for c in difflib.get_close_matches(low, list(by_lower), n=4, cutoff=0.6)]
    if not close:  # a prefix: "cd3" for "CD3E"
        close = [c for lc, c in by_lower.items() if lc.startswith(low)][:4]
    text = f"Could not find key {name!r} in .var_names or .obs.columns."
    if close:
        text += f" Did you mean {', '.join(repr(c) for c in close)}?"
    return UnknownVariableError(text)


def value_sources(adata) -> list[str]:
    """Where a gene's values can be read: ``X``, ``layers/<key>``, and ``raw/X``."""
    sources = ["X", *(f"layers/{k}" for k in adata.layers.keys())]
    if getattr(adata, "raw", None) is not None:
        sources.append(RAW)
    return sources


def gene_values(adata, name: str, *, source: str = "X", rows=None) -> np.ndarray:
    """The values of gene *name* for the cells *rows* (all cells: None), as floats.

    *source* is ``"X"``, ``"layers/<key>"`` or ``"raw/X"`` (see :func:`value_sources`);
    a gene found only in ``raw.var_names`` is read from raw. Raises
    :class:`UnknownVariableError` when the gene is in neither."""
    raw = getattr(adata, "raw", None)
    in_var = name in adata.var_names
    in_raw = raw is not None and name in raw.var_names
    if not in_var and not in_raw:
        raise unknown_variable(name, variable_names(adata.obs, adata))
    if (source == RAW and in_raw) or not in_var:
        values = raw.obs_vector(name)
    elif source.startswith("layers/"):
        key = source.split("/", 1)[1]
        if key not in adata.layers.keys():
            raise ValueError(
                f"{source!r} is not a layer of this AnnData; choose one of "
                f"{', '.join(value_sources(adata))}."
            )
        values = adata.obs_vector(name, layer=key)
    else:
        values = adata.obs_vector(name)
    values = np.asarray(values, dtype=np.float64).ravel()
    return values if rows is None else values[np.asarray(rows, dtype=np.int64)]


def values_of(name: str, obs: pd.DataFrame | None, adata=None, *, source: str = "X", rows=None):
    """The values of *name* for the cells *rows*: an ``obs`` column (a Series, its type
    kept) or a gene (float array). Raises :class:`UnknownVariableError`."""
    if obs is not None and name in obs.columns:
        column = obs[name].reset_index(drop=True)
        return column if rows is None else column.iloc[np.asarray(rows, dtype=np.int64)]
    if adata is None:
        raise unknown_variable(name, variable_names(obs))
    return gene_values(adata, name, source=source, rows=rows)
