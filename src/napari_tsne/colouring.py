"""Colours of a map's points from one variable, computed here (not by napari's colour
cycles) so that the map, its legend, its colour bar and the source's objects all
agree: categories get a palette, numbers a colour map over a chosen range, and
missing values a neutral grey. Qt-free and napari-free.

A variable is *categorical* when it is a categorical, text or boolean column, or holds
whole numbers (cluster ids, classes) with at most :data:`MAX_CATEGORIES` distinct
values; otherwise (fractions, or many values) it is *continuous*. Ranges follow
scanpy's ``vmin`` / ``vmax``: a number, or ``"pN"`` for the N-th percentile of the
values (``"p99"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: numeric variables with at most this many distinct values are shown as categories
MAX_CATEGORIES = 16
#: colour of missing values (NaN, None)
MISSING = (0.6, 0.6, 0.6, 1.0)
#: the colour maps offered for numbers (matplotlib names)
COLOUR_MAPS = ("viridis", "magma", "plasma", "inferno", "cividis", "Reds", "Blues", "coolwarm")


@dataclass
class Colouring:
    """The colour of every point, and what a legend or colour bar needs to say."""

    rgba: np.ndarray  # (n, 4) floats in [0, 1]
    kind: str  # "categorical" or "continuous"
    categories: list = field(default_factory=list)  # categorical: in legend order
    colours: np.ndarray | None = None  # categorical: (n_categories, 4)
    vmin: float = float("nan")  # continuous: the range the colour map spans
    vmax: float = float("nan")
    cmap: str = ""
    n_missing: int = 0


def categorical_palette(n: int) -> np.ndarray:
    """``n`` distinguishable RGBA colours (tab10, tab20, then evenly spaced hues)."""
    import matplotlib

    n = max(int(n), 1)
    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return np.array([cmap(i) for i in range(n)])
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        order = list(range(0, 20, 2)) + list(range(1, 20, 2))  # strong colours first
        return np.array([cmap(i) for i in order[:n]])
    hsv = matplotlib.colormaps["hsv"]
    return np.array([hsv(i / n) for i in range(n)])


def is_categorical(values: pd.Series) -> bool:
    """Whether *values* are shown as categories (see the module docstring)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if not pd.api.types.is_numeric_dtype(dtype):  # text, objects
        return True
    if values.nunique(dropna=True) > MAX_CATEGORIES:
        return False
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return bool(np.all(finite == np.round(finite)))  # whole numbers: ids, classes


def categories_of(values: pd.Series) -> list:
    """The categories present in *values*, in category order, else sorted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    found = list(pd.unique(values.dropna()))
    try:
        return sorted(found)
    except TypeError:  # mixed types: order of appearance
        return found


def resolve_limit(limit, values: np.ndarray, default: float) -> float:
    """A range end: a number, ``"pN"`` (the N-th percentile of the finite *values*), or
    None (*default*). Raises ValueError naming the accepted forms."""
    if limit is None:
        return float(default)
    if isinstance(limit, str):
        text = limit.strip().lower()
        try:
            q = float(text[1:]) if text.startswith("p") else float("nan")
        except ValueError:
            q = float("nan")
        if not 0.0 <= q <= 100.0:
            raise ValueError(
                f"{limit!r} is not a colour range end: use a number or a percentile "
                "such as 'p1' or 'p99' (scanpy's vmin / vmax)."
            )
        finite = values[np.isfinite(values)]
        return float(np.percentile(finite, q)) if finite.size else float(default)
    try:
        return float(limit)
    except (TypeError, ValueError):
        raise ValueError(
            f"{limit!r} is not a colour range end: use a number or a percentile such as 'p99'."
        ) from None


def colour_values(
    values,
    *,
    cmap: str = "viridis",
    vmin=None,
    vmax=None,
    categorical: bool | None = None,
    neutral=(),
) -> Colouring:
    """The colours of *values* (one per point; see the module docstring).

    *cmap*, *vmin* and *vmax* apply to continuous values; *categorical* forces the
    kind (None: decided from the values); categories in *neutral* (such as the groups'
    "unassigned") are drawn grey and take no colour of the palette."""
    import matplotlib

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    series = series.reset_index(drop=True)
    n = len(series)
    if categorical is None:
        categorical = is_categorical(series)
    rgba = np.tile(np.asarray(MISSING, dtype=float), (n, 1))
    if categorical:
        cats = categories_of(series)
        coloured = [c for c in cats if c not in neutral]
        palette = np.tile(np.asarray(MISSING, dtype=float), (len(cats), 1))
        if coloured:
            where = [i for i, c in enumerate(cats) if c not in neutral]
            palette[where] = categorical_palette(len(coloured))
        codes = pd.Categorical(series, categories=cats).codes
        known = codes >= 0
        rgba[known] = palette[codes[known]]
        return Colouring(
            rgba, "categorical", cats, palette[: len(cats)], n_missing=int((~known).sum())
        )
    if cmap not in matplotlib.colormaps:
        raise ValueError(f"Unknown colour map {cmap!r}; choose one of {', '.join(COLOUR_MAPS)}.")
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(numbers)
    lo_default = float(numbers[finite].min()) if finite.any() else 0.0
    hi_default = float(numbers[finite].max()) if finite.any() else 1.0
    lo = resolve_limit(vmin, numbers, lo_default)
    hi = resolve_limit(vmax, numbers, hi_default)
    span = hi - lo if hi > lo else 1.0
    scaled = np.clip((numbers[finite] - lo) / span, 0.0, 1.0)
    rgba[finite] = matplotlib.colormaps[cmap](scaled)
    return Colouring(
        rgba, "continuous", vmin=lo, vmax=hi, cmap=cmap, n_missing=int((~finite).sum())
    )
