"""Groups of map points and the categories to select by: the bookkeeping of the
Select and annotate panel, Qt-free and tested on its own.

The groups are the categorical ``annotation`` column of the map layer's ``features``
(``unassigned``: in no group), so that they colour the map, are exported to ``obs``
and travel with the points when samples are added or a new map of the same data is
made.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the features column holding the groups
ANNOTATION = "annotation"
#: the group of points that are in no group (napari cannot colour by missing values)
UNASSIGNED = "unassigned"
#: columns with at most this many values are offered in "select where"
MAX_CATEGORIES = 200


class SelectionError(ValueError):
    """A selection or group operation cannot be done; the message says why and what to do."""


def annotation_column(features: pd.DataFrame, n: int) -> pd.Series:
    """The groups of the *n* points: the ``annotation`` column as a categorical with
    ``unassigned`` for points in no group (a new one if there is none yet)."""
    if ANNOTATION not in features.columns:
        return pd.Series(pd.Categorical([UNASSIGNED] * n, categories=[UNASSIGNED]))
    s = features[ANNOTATION].reset_index(drop=True)
    if not isinstance(s.dtype, pd.CategoricalDtype):
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            raise SelectionError(
                f"The map's features already have a numeric {ANNOTATION!r} column; rename "
                "it in the source (e.g. to 'annotation_value') to keep it and use groups."
            )
        s = s.astype(object).where(s.notna(), None)
        s = pd.Series(pd.Categorical([None if v is None else str(v) for v in s]))
    if UNASSIGNED not in s.cat.categories:
        s = s.cat.add_categories([UNASSIGNED])
    return s.fillna(UNASSIGNED)


def group_names(column: pd.Series) -> list[str]:
    """The named groups (categories other than ``unassigned``), in their order."""
    return [str(c) for c in column.cat.categories if c != UNASSIGNED]


def group_counts(column: pd.Series) -> dict[str, int]:
    """Points per category, ``unassigned`` included."""
    counts = column.value_counts(sort=False)
    return {str(k): int(v) for k, v in counts.items()}


def checked_group_name(name: str) -> str:
    name = str(name).strip()
    if not name:
        raise SelectionError("Type a group name first.")
    if name == UNASSIGNED:
        raise SelectionError(
            f"{UNASSIGNED!r} means 'in no group': choose another name (or Remove the group)."
        )
    return name


def assign_group(column: pd.Series, rows, name: str) -> pd.Series:
    """*column* with the points *rows* in group *name* (moved there from any other)."""
    name = checked_group_name(name)
    rows = np.asarray(sorted(rows), dtype=np.int64)
    if rows.size == 0:
        raise SelectionError(
            "No points are selected: select points on the map (or draw a selection) first."
        )
    if rows.min() < 0 or rows.max() >= len(column):
        raise SelectionError("The selection is not on the current map; select the points again.")
    out = column.copy()
    if name not in out.cat.categories:
        out = out.cat.add_categories([name])
    out.iloc[rows] = name
    return out


def rename_group(column: pd.Series, old: str, new: str) -> pd.Series:
    """*column* with group *old* called *new* (merged into *new* if that exists)."""
    new = checked_group_name(new)
    if old not in group_names(column):
        raise SelectionError(f"There is no group {old!r}.")
    if new == old:
        return column.copy()
    if new in column.cat.categories:
        out = column.copy()
        out[out == old] = new
        return out.cat.remove_categories([old])
    return column.cat.rename_categories({old: new})


def remove_group(column: pd.Series, name: str) -> pd.Series:
    """*column* without group *name*: its points become unassigned."""
    if name not in group_names(column):
        raise SelectionError(f"There is no group {name!r}.")
    out = column.copy()
    out[out == name] = UNASSIGNED
    return out.cat.remove_categories([name])


def carry_groups(old_rows, old_groups: pd.Series, new_rows, n: int) -> pd.Series:
    """Groups for a new map of the same source: the map point of source row *r* gets
    the group that source row had (``old_rows[i]`` had ``old_groups[i]``); rows not on
    the old map, and the ``n - len(new_rows)`` points after them, are unassigned."""
    lookup = pd.Series(np.asarray(old_groups, dtype=object), index=np.asarray(old_rows))
    lookup = lookup[~lookup.index.duplicated()]
    values = lookup.reindex(np.asarray(new_rows)).to_numpy(dtype=object)
    values = np.concatenate([values, np.full(n - len(values), None, dtype=object)])
    categories = [UNASSIGNED] + [c for c in old_groups.cat.categories if c != UNASSIGNED]
    out = pd.Series(pd.Categorical(values, categories=categories))
    return out.fillna(UNASSIGNED)


def category_columns(features: pd.DataFrame) -> list[str]:
    """Columns with few distinct values (categories, strings, booleans, small integers)."""
    out = []
    for c in features.columns:
        s = features[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            out.append(str(c))
        elif pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype):
            if s.nunique() <= MAX_CATEGORIES:
                out.append(str(c))
    return out


def category_values(features: pd.DataFrame, column: str) -> list[str]:
    """The values of *column* (as text), in category order or sorted."""
    if column not in features.columns:
        return []
    s = features[column]
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [str(c) for c in s.cat.categories if c in present]
    return sorted({str(v) for v in s.dropna().unique()})


def rows_where(features: pd.DataFrame, column: str, value: str) -> np.ndarray:
    """Rows whose *column* has *value* (compared as text)."""
    if column not in features.columns:
        raise SelectionError(f"The map has no {column!r} column.")
    s = features[column].reset_index(drop=True)
    return np.flatnonzero(s.notna().to_numpy() & (s.astype(str).to_numpy() == str(value)))


def groups_for_source(column: pd.Series, rows: np.ndarray, n_items: int, old=None):
    """The groups of the *n_items* source items: item ``rows[i]`` is in group
    ``column[i]``; items not on the map keep their value in *old* (a source's existing
    ``annotation``) or are unassigned. Returns (names as a categorical, cluster ids:
    0 for unassigned, 1, 2, ... for the groups in their order)."""
    values = np.full(n_items, UNASSIGNED, dtype=object)
    if old is not None and len(old) == n_items:
        kept = pd.Series(old).astype(object).to_numpy()
        values = np.where(pd.isna(kept), UNASSIGNED, kept.astype(str)).astype(object)
    values[np.asarray(rows, dtype=np.int64)] = column.iloc[: len(rows)].astype(str).to_numpy()
    categories = [UNASSIGNED] + [str(c) for c in column.cat.categories if c != UNASSIGNED]
    categories += sorted(set(values) - set(categories))
    names = pd.Categorical(values, categories=categories)
    return names, names.codes.astype(np.int64)  # unassigned is code 0
