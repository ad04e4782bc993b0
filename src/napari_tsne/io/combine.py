"""Combine a map's reference AnnData and the AnnData objects of samples added to it
into one AnnData, the way ``anndata.concat`` joins them, and say what could not be
combined instead of dropping it silently.

* cells: all of them, in order (reference first); ``obs_names`` are kept and made
  unique only where they clash;
* ``obs``: every column of every part (missing values where a part lacks one), and
  a ``batch`` column (a part's own ``batch`` values if it has them, else its label);
* ``X``, ``var`` and ``layers``: the features (genes) the parts share (inner join),
  ``var`` columns and ``varm`` entries that are the same in all parts;
* ``obsm``: the entries present in all parts with the same number of columns;
* the map: ``obsm[key]`` for every cell and its parameters in ``uns``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import anndata
import numpy as np
import pandas as pd

from .anndata_io import sanitize_params, uns_key_for

__all__ = ["combine_anndata"]

BATCH = "batch"


def _names(items, limit: int = 6) -> str:
    items = [str(i) for i in items]
    text = ", ".join(repr(i) for i in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _obs_table(parts: Sequence[anndata.AnnData], labels: Sequence[str]) -> pd.DataFrame:
    """All obs columns of all parts (outer join) plus ``batch``; text stays categorical."""
    tables = []
    for ad, label in zip(parts, labels, strict=True):
        obs = ad.obs.copy()
        if BATCH not in obs.columns:
            obs[BATCH] = str(label)
        tables.append(obs.reset_index(drop=True))
    obs = pd.concat(tables, ignore_index=True, join="outer", sort=False)
    for c in obs.columns:
        was_cat = any(
            c in t.columns and isinstance(t[c].dtype, pd.CategoricalDtype) for t in tables
        )
        if obs[c].dtype == object or (was_cat and obs[c].dtype != "category"):
            obs[c] = pd.Categorical(obs[c].map(lambda v: v if pd.isna(v) else str(v)))
    return obs


def combine_anndata(
    parts: Sequence[anndata.AnnData],
    coordinates: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    key: str = "X_tsne",
    params: Mapping[str, Any] | None = None,
) -> tuple[anndata.AnnData, list[str]]:
    """One AnnData of all *parts* (see the module docstring) with ``obsm[key]`` from
    *coordinates* (one ``(n_obs, d)`` array per part, NaN for cells not in the map).

    Returns ``(combined, notes)``: *notes* are sentences naming what was renamed or
    could not be combined (empty when everything was kept).
    """
    if len(parts) < 2 or not (len(parts) == len(coordinates) == len(labels)):
        raise ValueError("combine_anndata needs two or more parts, one coordinate array each.")
    for ad, Y, label in zip(parts, coordinates, labels, strict=True):
        if np.asarray(Y).shape[0] != ad.n_obs:
            raise ValueError(
                f"{label!r} has {ad.n_obs:,} cells but {np.asarray(Y).shape[0]:,} map rows."
            )
    notes: list[str] = []
    names = pd.Index(np.concatenate([np.asarray(ad.obs_names, dtype=str) for ad in parts]))

    # X / var / layers / obsm / varm as anndata.concat joins them
    with warnings.catch_warnings():  # clashing names and .raw are reported below
        warnings.filterwarnings("ignore", message=".*not unique", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*`.raw`", category=UserWarning)
        combined = anndata.concat(
            list(parts), join="inner", merge="same", uns_merge="same", index_unique=None
        )
    combined.obs = _obs_table(parts, labels).set_axis(names)
    if not combined.obs_names.is_unique:
        n_clash = int(names.duplicated().sum())
        combined.obs_names_make_unique()
        notes.append(
            f"{n_clash:,} cell names occur more than once (e.g. "
            f"{_names(names[names.duplicated()].unique(), 3)}); the later ones were made "
            "unique by appending '-1', '-2', …."
        )

    var_sets = [set(map(str, ad.var_names)) for ad in parts]
    shared = set.intersection(*var_sets)
    only = sorted(set.union(*var_sets) - shared)
    if not shared:
        notes.append(
            "X, var and layers could not be combined: the parts have no features (genes) "
            f"in common (e.g. {_names(only, 4)})."
        )
    elif only:
        notes.append(
            f"X, var and layers keep the {len(shared):,} features the parts share; "
            f"{len(only):,} found in only some parts were left out ({_names(only)})."
        )

    obsm_keys = [set(ad.obsm.keys()) - {key} for ad in parts]  # obsm[key] is replaced
    left = sorted(set.union(*obsm_keys) - set.intersection(*obsm_keys))
    for k in list(combined.obsm.keys()):
        widths = {np.shape(ad.obsm[k])[1] if np.ndim(ad.obsm[k]) > 1 else 1 for ad in parts}
        if len(widths) > 1:
            del combined.obsm[k]
            left.append(f"{k} (different widths: {sorted(widths)})")
    if left:
        notes.append(f"obsm entries not in every part (or of different widths): {_names(left)}.")

    for section in ("layers", "varm", "varp", "obsp", "uns"):
        present = set.union(*(set(getattr(ad, section).keys()) for ad in parts))
        lost = sorted(present - set(getattr(combined, section).keys()) - {uns_key_for(key)})
        if lost:
            why = {
                "obsp": "cell-cell graphs of one part do not cover the other cells",
                "uns": "not the same in every part",
                "layers": "not in every part",
            }.get(section, "not the same in every part")
            notes.append(f"{section} {_names(lost)} could not be combined ({why}).")
    if combined.raw is None and any(ad.raw is not None for ad in parts):
        notes.append("raw could not be combined (not every part has .raw).")

    combined.obsm[key] = np.concatenate([np.asarray(Y, dtype=np.float64) for Y in coordinates])
    combined.uns[uns_key_for(key)] = {"params": sanitize_params(dict(params or {}))}
    return combined, notes
