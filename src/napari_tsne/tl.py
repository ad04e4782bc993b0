"""scanpy-style tools: ``tl.tsne(adata)`` and ``tl.ingest(adata, adata_ref)``.

``tsne`` follows ``scanpy.tl.tsne``'s conventions (which representation is used, where
the map and its parameters are stored, ``key_added``, ``copy``) so that a notebook can
swap ``sc.tl.tsne(adata)`` for ``napari_tsne.tl.tsne(adata)``. ``ingest`` places new
cells into a saved map without moving it and transfers labels by a kNN vote among the
reference cells, as ``scanpy.tl.ingest`` does. The parameters stored with a map (the
representation's name and its number of components) are what ``ingest``, the CLI's
``transform`` and the widget read back, so a map reopened from ``.h5ad`` still works.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .engine import TSNE, TSNEEmbedding, TSNEInputError, TSNEWarning
from .engine.autostop import phase_report
from .io import DataReadError, get_representation, sanitize_params, uns_key_for

__all__ = [
    "N_PCS",
    "MapReference",
    "Representation",
    "choose_representation",
    "ingest",
    "map_params",
    "query_representation",
    "reference_from_map",
    "uses_x",
    "tsne",
]

log = logging.getLogger("napari_tsne")

#: scanpy's ``settings.N_PCS``: data with at most this many variables is used as X,
#: wider data through its PCA (and a missing PCA gets this many components)
N_PCS = 50
#: estimator parameters that are not stored with a map
_NOT_STORED = ("callbacks", "verbose", "callback_every")


def uses_x(adata: anndata.AnnData) -> bool:
    """scanpy's default (``use_rep=None``): X itself for at most :data:`N_PCS`
    variables, else the PCA."""
    return adata.n_vars <= N_PCS


# ------------------------------------------------------------------ representation
@dataclass
class PCAResult:
    """A PCA of ``X`` in scanpy's layout, stored only once the map has been made."""

    scores: np.ndarray  # (n_obs, k) float32: obsm["X_pca"]
    components: np.ndarray  # (n_vars, k) float32: varm["PCs"] (0 outside the mask)
    variance: np.ndarray
    variance_ratio: np.ndarray
    mask_var: str | None  # "highly_variable" when only those genes were used

    def store(self, adata: anndata.AnnData) -> None:
        adata.obsm["X_pca"] = self.scores
        adata.varm["PCs"] = self.components
        adata.uns["pca"] = {
            "params": {
                "zero_center": True,
                "use_highly_variable": self.mask_var is not None,
                **({"mask_var": self.mask_var} if self.mask_var else {}),
            },
            "variance": self.variance,
            "variance_ratio": self.variance_ratio,
        }


def _pca(adata: anndata.AnnData, n_comps: int, random_state) -> PCAResult:
    """Zero-centred PCA of X with this package's solver (highly variable genes only
    when ``var["highly_variable"]`` exists, as ``sc.pp.pca`` does)."""
    from .engine.initialization import principal_components

    X, _ = get_representation(adata, "X")
    mask_var = None
    mask = np.ones(adata.n_vars, dtype=bool)
    if "highly_variable" in adata.var.columns:
        mask = np.asarray(adata.var["highly_variable"], dtype=bool)
        mask_var = "highly_variable"
        X = X[:, mask]
    n_comps = int(min(n_comps, X.shape[0] - 1, X.shape[1] - 1))
    if n_comps < 1:
        raise TSNEInputError(
            f"X ({X.shape[0]:,} x {X.shape[1]:,}) is too small for a PCA; pass use_rep='X'."
        )
    found = principal_components(X, n_comps, np.random.default_rng(_seed(random_state)))
    if found is None:
        raise TSNEInputError("X has no variance to find principal components in.")
    axes = found[1]
    mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    scores = np.asarray(X @ axes) - mean @ axes
    variance = scores.var(axis=0, ddof=1)
    if sp.issparse(X):
        sq = np.asarray(X.multiply(X).sum(axis=0), dtype=np.float64).ravel()
        total = float(((sq - X.shape[0] * mean**2) / (X.shape[0] - 1)).sum())
    else:
        total = float(np.asarray(X, dtype=np.float64).var(axis=0, ddof=1).sum())
    components = np.zeros((adata.n_vars, axes.shape[1]), dtype=np.float32)
    components[mask] = axes
    return PCAResult(
        scores.astype(np.float32),
        components,
        variance,
        variance / total if total > 0 else np.zeros_like(variance),
        mask_var,
    )


def _seed(random_state) -> int | None:
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return random_state
    return int(np.random.default_rng(random_state).integers(2**31))


@dataclass
class Representation:
    """The data a map is made from, as :func:`choose_representation` chose it."""

    matrix: Any  # dense array or CSR matrix
    name: str  # canonical: "X", "obsm/X_pca", "layers/...", "raw/X"
    n_pcs: int | None  # columns taken of an obsm entry (stored with the map)
    note: str  # what was used, for a log line or the CLI
    pca: PCAResult | None = None  # a PCA computed because X_pca was missing

    @property
    def use_rep(self) -> str:
        """The name in scanpy's spelling (``"X"``, ``"X_pca"``)."""
        return self.name.split("/", 1)[1] if self.name.startswith("obsm/") else self.name


def choose_representation(
    adata: anndata.AnnData,
    use_rep: str | None = None,
    n_pcs: int | None = None,
    *,
    random_state=0,
) -> Representation:
    """The representation scanpy's ``_choose_representation`` would use, without
    changing ``adata``.

    ``use_rep=None``: X when ``adata.n_vars <= N_PCS`` (50), else ``obsm["X_pca"]``
    (its first ``n_pcs`` columns), and when X_pca is missing a PCA with ``n_pcs`` (or
    50) components is computed (with a warning, as scanpy warns) and returned in
    ``.pca`` for the caller to store. ``use_rep="X"``, an ``obsm`` key, or this
    package's names (``"obsm/X_pca"``, ``"layers/counts"``, ``"raw/X"``) are used as
    given; ``n_pcs`` limits the columns of an ``obsm`` entry. ``n_pcs=0`` means X.
    """
    if use_rep is not None and not isinstance(use_rep, str):
        raise TypeError(f"use_rep must be a name such as 'X_pca' or 'X', not {use_rep!r}.")
    if n_pcs is not None and (not isinstance(n_pcs, (int, np.integer)) or n_pcs < 0):
        raise TSNEInputError(f"n_pcs must be a whole number >= 0 or None; got {n_pcs!r}.")
    if use_rep is None and n_pcs == 0:
        use_rep = "X"
    if use_rep is None:
        if uses_x(adata):
            X, name = get_representation(adata, "X")
            return Representation(X, name, None, f"X ({adata.n_vars} variables) directly")
        if "X_pca" not in adata.obsm:
            k = n_pcs if n_pcs is not None else N_PCS
            warnings.warn(
                f"adata has {adata.n_vars:,} variables and no obsm['X_pca']: computing a "
                f"PCA with {k} components (stored in obsm['X_pca'], varm['PCs'] and "
                "uns['pca'] with the map). Pass use_rep='X' to use X itself.",
                TSNEWarning,
                stacklevel=3,
            )
            pca = _pca(adata, k, random_state)
            k = pca.scores.shape[1]
            return Representation(
                pca.scores, "obsm/X_pca", k, f"obsm/X_pca ({k} components, computed)", pca
            )
        use_rep = "X_pca"
    key = use_rep if use_rep in ("X", "raw/X", "raw") or "/" in use_rep else None
    if key is None:
        key = f"obsm/{use_rep}" if use_rep in adata.obsm else use_rep
    X, name = get_representation(adata, key)
    if not name.startswith("obsm/"):
        return Representation(X, name, None, f"{name} ({X.shape[1]:,} features)")
    width = X.shape[1]
    if n_pcs is not None and n_pcs > width:
        raise TSNEInputError(
            f"n_pcs={n_pcs} is more than the {width} columns of {name}; lower n_pcs or "
            f"recompute {name} with more components (sc.pp.pca(adata, n_comps={n_pcs}))."
        )
    k = width if n_pcs is None else int(n_pcs)
    if k < width:
        X = X[:, :k]
    return Representation(X, name, k, f"{name} ({k} components)")


# ---------------------------------------------------------------------------- tsne
def map_params(tsne: TSNE, emb: TSNEEmbedding, representation: str, **extra) -> dict[str, Any]:
    """The parameters stored with a map in ``uns[...]["params"]`` (by ``tl.tsne`` and
    the CLI): the estimator's, the representation it was made from, and the run."""
    p = {k: v for k, v in tsne.get_params().items() if k not in _NOT_STORED}
    if not isinstance(p.get("init"), str):
        p["init"] = "array"
    p["representation"] = representation
    p["n_iter_total"] = int(emb.n_iter)
    p["kl_divergence"] = float(emb.kl_divergence)
    p.update(phase_report(emb))
    sample = getattr(emb, "sample_indices", None)
    if sample is not None:
        p["subsample"] = int(len(sample))
    p.update(extra)
    return p


def _check_key(key: str, what: str) -> None:
    if not isinstance(key, str) or not key.strip() or "/" in key:
        raise TSNEInputError(f"{what} must be a non-empty name without '/', such as 'X_tsne'")


def tsne(
    adata: anndata.AnnData,
    n_pcs: int | None = None,
    *,
    use_rep: str | None = None,
    perplexity: float = 30,
    metric: str = "euclidean",
    early_exaggeration: float = 12,
    learning_rate: float | str = "auto",
    random_state=0,
    n_jobs: int | None = None,
    key_added: str | None = None,
    copy: bool = False,
    **options,
) -> anndata.AnnData | None:
    """t-SNE of ``adata`` with scanpy's conventions (``sc.tl.tsne``), on this engine.

    The representation is chosen as scanpy chooses it (see
    :func:`choose_representation`): X for up to 50 variables, else ``obsm["X_pca"]``
    (computed and stored when missing); ``n_pcs`` limits its components. The map goes
    to ``obsm["X_tsne"]`` and the parameters to ``uns["tsne"]["params"]`` (scanpy's
    keys ``perplexity, early_exaggeration, learning_rate, n_jobs, metric, use_rep``,
    this package's parameters, and ``representation`` / ``n_pcs``, which
    :func:`ingest` reads); with ``key_added`` both go under ``key_added``.

    ``learning_rate="auto"`` is ``n_obs / exaggeration`` (scanpy's default of 1000 is
    too small for large data). Every other keyword of :class:`~napari_tsne.TSNE` can
    be given in ``options``: ``n_components``, ``exaggeration``, ``subsample``,
    ``negative_gradient_method``, ``neighbors``, ``dof``, ``n_iter``,
    ``early_exaggeration_iter``, ``init``, ``callbacks`` (e.g. a live plot), ...

    ``copy=True`` returns a new AnnData and leaves ``adata`` unchanged; otherwise
    ``adata`` is filled in and None returned. Bad input raises before anything is
    changed.
    """
    key_obsm, key_uns = ("X_tsne", "tsne") if key_added is None else (key_added, key_added)
    _check_key(key_obsm, "key_added")
    named = {"perplexity", "metric", "early_exaggeration", "learning_rate"}
    named |= {"random_state", "n_jobs"}
    valid = set(TSNE._param_names()) - named
    unknown = sorted(set(options) - valid)
    if unknown:
        raise TypeError(
            f"tsne() got unknown option(s) {', '.join(map(repr, unknown))}; the engine's "
            f"options are {', '.join(sorted(valid))}."
        )
    rep = choose_representation(adata, use_rep, n_pcs, random_state=random_state)
    log.info("computing t-SNE on %s", rep.note)
    est = TSNE(
        perplexity=perplexity,
        metric=metric,
        early_exaggeration=early_exaggeration,
        learning_rate=learning_rate,
        random_state=random_state,
        n_jobs=n_jobs,
        **options,
    )
    est.fit(rep.matrix)
    emb = est.tsne_embedding_
    scanpy_keys = {
        "perplexity": perplexity,
        "early_exaggeration": early_exaggeration,
        "learning_rate": learning_rate,
        "n_jobs": -1 if n_jobs is None else n_jobs,
        "metric": metric,
        "use_rep": rep.use_rep,
    }
    params = map_params(est, emb, rep.name, **scanpy_keys)
    if rep.n_pcs is not None:
        params["n_pcs"] = rep.n_pcs
    target = adata.copy() if copy else adata
    if rep.pca is not None:
        rep.pca.store(target)
    target.obsm[key_obsm] = np.asarray(est.embedding_)
    target.uns[key_uns] = {"params": sanitize_params(params)}
    log.info("added obsm[%r] (t-SNE coordinates) and uns[%r] (parameters)", key_obsm, key_uns)
    return target if copy else None


# ----------------------------------------------------------------------- the map
class MapReference(NamedTuple):
    """A saved map rebuilt for placing new samples (see :func:`reference_from_map`)."""

    embedding: TSNEEmbedding
    representation: str  # canonical name of the data it was made from
    rows: np.ndarray  # reference rows of adata used (finite coordinates and data)
    n_pcs: int | None  # columns of an obsm representation the map was made from


def _param(params: dict, name: str, default, cast):
    value = params.get(name, default)
    if value is None:
        return default
    try:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return cast(value)
    except (TypeError, ValueError):
        return default


def map_parameters(adata: anndata.AnnData, key: str = "X_tsne") -> dict[str, Any]:
    """The parameters stored with ``obsm[key]`` (empty if there are none)."""
    entry = adata.uns.get(uns_key_for(key), {})
    params = entry.get("params", {}) if isinstance(entry, dict) else {}
    return dict(params) if isinstance(params, dict) else {}


def reference_from_map(
    adata: anndata.AnnData,
    key: str = "X_tsne",
    *,
    neighbors: str = "auto",
    n_jobs: int | None = None,
    random_state=None,
) -> MapReference:
    """Rebuild a :class:`~napari_tsne.engine.TSNEEmbedding` that can ``transform`` new
    samples from a saved map: the representation named in the map's parameters
    (``uns[...]["params"]["representation"]``, default X, its first ``n_pcs`` columns
    if stored), the coordinates in ``obsm[key]`` (copied: the map is never changed),
    and the repulsion settings stored with it. P is not needed (the map is not
    optimised any more) and is left empty. Reference rows are those with finite
    coordinates and features (a widget run may have left some out).
    """
    from .engine._validation import check_data, check_metric
    from .engine.gradients import RepulsionParams
    from .engine.neighbors import reference_index

    if key not in adata.obsm:
        avail = ", ".join(map(str, adata.obsm.keys())) or "none"
        raise DataReadError(
            f"The reference has no map obsm[{key!r}] (obsm keys: {avail}). Give the map's "
            "key (key= in Python, --key on the command line), or make the map first "
            "(napari_tsne.tl.tsne)."
        )
    Y = np.array(adata.obsm[key], dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] not in (1, 2, 3):
        raise DataReadError(f"obsm[{key!r}] has shape {Y.shape}; expected (n, 1|2|3).")
    params = map_parameters(adata, key)
    representation = _param(params, "representation", "X", str)
    n_pcs = _param(params, "n_pcs", None, int)
    try:
        X_ref, representation = get_representation(adata, representation)
    except KeyError as err:
        raise DataReadError(
            f"The data the map was made from ({representation!r}, named in "
            f"uns[{uns_key_for(key)!r}]['params']['representation']) is not in the "
            f"reference, and placing new samples needs it. {err}"
        ) from err
    if n_pcs is not None and representation.startswith("obsm/"):
        if n_pcs > X_ref.shape[1]:
            raise DataReadError(
                f"The map was made from {n_pcs} columns of {representation}, which now "
                f"has only {X_ref.shape[1]}; it was changed after the map was made."
            )
        X_ref = X_ref[:, :n_pcs]
    else:
        n_pcs = None
    metric = _param(params, "metric", "euclidean", str)
    if metric == "precomputed":
        raise TSNEInputError(
            "This map was made from precomputed distances; place new samples from Python "
            "with TSNEEmbedding.transform(knn=...) instead."
        )
    metric = check_metric(metric)
    rows = np.flatnonzero(np.isfinite(Y).all(axis=1))
    if not sp.issparse(X_ref):
        finite = np.isfinite(np.asarray(X_ref, dtype=np.float64)).all(axis=1)
        rows = rows[finite[rows]]
    if len(rows) < 4:
        raise DataReadError("The map has fewer than 4 usable reference samples.")
    if len(rows) < Y.shape[0]:
        X_ref = X_ref[rows]
        Y = Y[rows]
    X_ref = check_data(X_ref, name=f"the map's {representation}")
    n = X_ref.shape[0]
    # a query-only index: the reference's own neighbours are not needed to transform
    knn = reference_index(X_ref, metric, method=neighbors, random_state=random_state, n_jobs=n_jobs)
    if knn.index is None:
        raise TSNEInputError("Could not build a neighbour index of the reference.")
    defaults = RepulsionParams()
    emb = TSNEEmbedding(
        Y,
        sp.csr_matrix((n, n), dtype=np.float32),
        knn=knn,
        dof=_param(params, "dof", 1.0, float),
        negative_gradient_method=_param(params, "negative_gradient_method", "auto", str),
        repulsion_params=RepulsionParams(
            theta=_param(params, "theta", defaults.theta, float),
            n_interpolation_points=_param(
                params, "n_interpolation_points", defaults.n_interpolation_points, int
            ),
            min_num_intervals=_param(params, "min_num_intervals", defaults.min_num_intervals, int),
            ints_in_interval=_param(params, "ints_in_interval", defaults.ints_in_interval, float),
        ),
        n_jobs=n_jobs,
        params=params,
        n_features_in=X_ref.shape[1],
    )
    return MapReference(emb, representation, rows, n_pcs)


# -------------------------------------------------------------------------- ingest
def _check_same_genes(adata: anndata.AnnData, adata_ref: anndata.AnnData, what: str) -> None:
    if adata.n_vars != adata_ref.n_vars:
        raise TSNEInputError(
            f"adata has {adata.n_vars:,} variables but the reference has {adata_ref.n_vars:,}, "
            f"and the map was made from {what}: ingest needs the same genes in the same "
            "order. Subset both to the shared genes first (adata[:, adata_ref.var_names])."
        )
    new, ref = adata.var_names.str.upper(), adata_ref.var_names.str.upper()
    if not new.equals(ref):
        i = int(np.flatnonzero(np.asarray(new != ref))[0])
        raise TSNEInputError(
            f"The variables of adata differ from the reference's (position {i}: "
            f"{adata.var_names[i]!r} vs {adata_ref.var_names[i]!r}); ingest needs the same "
            "genes in the same order: use adata[:, adata_ref.var_names]."
        )


def _pca_projection(adata: anndata.AnnData, adata_ref: anndata.AnnData, n_pcs: int):
    """Project ``adata``'s X onto the reference's ``varm["PCs"]`` the way the
    reference's ``obsm["X_pca"]`` was made (centred on the reference's mean, or not);
    None if the reference has no PCs. A reference whose X_pca is not such a
    projection (X changed after the PCA) is an error, not a silently wrong map."""
    if "PCs" not in adata_ref.varm or "X_pca" not in adata_ref.obsm:
        return None
    _check_same_genes(adata, adata_ref, "obsm/X_pca")
    W = np.asarray(adata_ref.varm["PCs"], dtype=np.float64)[:, :n_pcs]
    genes = np.isfinite(W).all(axis=1)  # old files hold NaN for genes left out
    W = W[genes]
    X_ref, _ = get_representation(adata_ref, "X")
    X_ref = X_ref[:, genes]
    mean = np.asarray(X_ref.mean(axis=0), dtype=np.float64).ravel()
    sample = np.arange(min(200, X_ref.shape[0]))
    stored = np.asarray(adata_ref.obsm["X_pca"], dtype=np.float64)[sample, :n_pcs]
    raw = np.asarray(X_ref[sample] @ W, dtype=np.float64)
    tol = 1e-3 * max(float(np.abs(stored).max()), 1e-12)
    for centre in (mean @ W, np.zeros(W.shape[1])):
        if np.abs(raw - centre - stored).max() <= tol:
            X_new, _ = get_representation(adata, "X")
            return np.asarray(X_new[:, genes] @ W, dtype=np.float64) - centre
    raise TSNEInputError(
        "The reference's obsm['X_pca'] is not the projection of its X onto varm['PCs'] "
        "(X was changed after the PCA), so new cells cannot be put in the same space. "
        "Recompute the PCA and the map (sc.pp.pca, napari_tsne.tl.tsne), or pass "
        "use_rep= naming a representation of adata computed in the reference's space."
    )


def query_representation(
    adata: anndata.AnnData,
    adata_ref: anndata.AnnData,
    ref: MapReference,
    use_rep: str | None = None,
) -> tuple[Any, str, np.ndarray | None]:
    """``(matrix, name, projection)``: the new cells of ``adata`` described as the map
    ``ref`` (from :func:`reference_from_map` of ``adata_ref``) was made: ``use_rep`` if
    given, else the map's representation; for a map made from ``obsm["X_pca"]``,
    ``adata``'s X projected onto the reference's ``varm["PCs"]`` (also returned as
    ``projection``; None otherwise). The first ``n_pcs`` columns are taken as for the
    map. Used by :func:`ingest` and ``napari-tsne transform``."""
    n_features = ref.embedding.n_features_in
    if use_rep is not None:
        key = f"obsm/{use_rep}" if use_rep in adata.obsm and "/" not in use_rep else use_rep
        X, name = get_representation(adata, key)
        if ref.n_pcs is not None and name.startswith("obsm/") and X.shape[1] > n_features:
            X = X[:, :n_features]
        return X, name, None
    if ref.representation == "obsm/X_pca":
        try:
            projected = _pca_projection(adata, adata_ref, n_features)
        except TSNEInputError as err:
            if "X_pca" not in adata.obsm:
                raise
            # the reference's PCs do not reproduce its X_pca, but the new cells carry an
            # X_pca of their own (e.g. both parts of one file): that one is used
            warnings.warn(
                f"{err} Using the new cells' own obsm['X_pca'] instead, which must have "
                "been computed in the same space as the reference's.",
                TSNEWarning,
                stacklevel=3,
            )
            projected = None
        if projected is not None:
            return projected, "X projected onto the reference's varm['PCs']", projected
    if ref.representation.startswith("obsm/"):
        inner = ref.representation.split("/", 1)[1]
        if inner not in adata.obsm:
            raise TSNEInputError(
                f"The map was made from {ref.representation}, which adata does not have"
                + (
                    " (and the reference has no varm['PCs'] to project adata's X onto)"
                    if inner == "X_pca"
                    else ""
                )
                + f". Compute {inner} for the new cells in the reference's space and pass "
                "use_rep=..."
            )
        X, name = get_representation(adata, ref.representation)
        if ref.n_pcs is not None and X.shape[1] > n_features:
            X = X[:, :n_features]
        return X, name, None
    _check_same_genes(adata, adata_ref, ref.representation)
    X, name = get_representation(adata, ref.representation)
    return X, name, None


def _knn_vote(labels: pd.Series, neighbours: np.ndarray) -> pd.Categorical:
    """The most common label among each row's reference neighbours (ties: the first
    category, as pandas' ``mode`` orders them; missing labels do not vote)."""
    cat = labels.astype("category")
    codes = np.asarray(cat.cat.codes)[neighbours]
    n_cat = len(cat.cat.categories)
    counts = np.zeros((codes.shape[0], n_cat + 1), dtype=np.int64)
    np.add.at(counts, (np.arange(codes.shape[0])[:, None], codes), 1)  # -1: last column
    counts = counts[:, :n_cat]
    winner = counts.argmax(axis=1)
    winner[counts.max(axis=1) == 0] = -1
    return pd.Categorical.from_codes(winner, categories=cat.cat.categories)


def ingest(
    adata: anndata.AnnData,
    adata_ref: anndata.AnnData,
    obs: str | Iterable[str] | None = None,
    *,
    key: str = "X_tsne",
    use_rep: str | None = None,
    k: int = 15,
    inplace: bool = True,
    neighbors: str = "auto",
    n_jobs: int | None = None,
    random_state=0,
    **placement,
) -> anndata.AnnData | None:
    """Place the cells of ``adata`` into the map ``adata_ref.obsm[key]`` and transfer
    the labels ``adata_ref.obs[obs]`` to them, as ``sc.tl.ingest`` does.

    The map is not moved (``adata_ref`` is not changed at all). The new cells are
    described as the map's data was: the representation named in the map's parameters
    (X, or ``obsm["X_pca"]``, for which ``adata``'s X is projected onto the
    reference's ``varm["PCs"]``, as scanpy does, centred on the reference's mean), or
    ``adata``'s own ``use_rep`` when given. Each label column gets the majority vote of
    the ``k`` nearest reference cells in that space (scanpy's kNN labelling). Results:
    ``adata.obsm[key]``, ``adata.obs[col]`` for each column (categorical),
    ``adata.obsm["X_pca"]`` (the projection, unless adata has one already) and
    ``adata.uns[...]["params"]``. ``placement`` options go to
    :meth:`~napari_tsne.TSNEEmbedding.transform` (``perplexity``, ``n_iter``,
    ``exaggeration``, ``init``, ...; its ``k`` is called ``placement_k`` here, default
    ``3 * perplexity``). ``inplace=False`` returns a new AnnData.

    Errors (missing map, representation or columns, different genes or feature count)
    say what is missing and change neither object.
    """
    _check_key(key, "key")
    columns = [obs] if isinstance(obs, str) else list(obs or [])
    missing = [c for c in columns if c not in adata_ref.obs.columns]
    if missing:
        avail = ", ".join(map(str, adata_ref.obs.columns)) or "none"
        raise KeyError(
            f"adata_ref.obs has no column {', '.join(map(repr, missing))} to transfer "
            f"(its columns: {avail})."
        )
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise TSNEInputError(f"k (neighbours that vote on a label) must be >= 1; got {k!r}.")
    bad = sorted(set(placement) - _PLACEMENT_OPTIONS)
    if bad:
        raise TypeError(
            f"ingest() got unknown option(s) {', '.join(map(repr, bad))}; placement "
            f"options are {', '.join(sorted(_PLACEMENT_OPTIONS))}."
        )
    from .engine.transform import check_new_samples, neighbors_of_new

    ref = reference_from_map(
        adata_ref, key, neighbors=neighbors, n_jobs=n_jobs, random_state=random_state
    )
    emb = ref.embedding
    X_new, name, projected = query_representation(adata, adata_ref, ref, use_rep)
    if X_new.shape[1] != emb.n_features_in:
        raise TSNEInputError(
            f"adata's {name} has {X_new.shape[1]:,} features but the map was made from "
            f"{ref.representation} with {emb.n_features_in:,}: ingest needs the new cells "
            "described by the same features as the reference."
        )
    X_new = check_new_samples(X_new, emb.n_features_in, name=f"adata's {name}")
    k_place = placement.pop("placement_k", None)
    perplexity = float(placement.get("perplexity", 5.0))
    k_place = int(k_place) if k_place is not None else max(1, int(3 * perplexity))
    k_search = min(max(int(k), k_place), emb.shape[0])
    idx, dist = neighbors_of_new(emb.knn, X_new, k_search, n_jobs=n_jobs)
    Y = emb.transform(X_new, knn=(idx[:, :k_place], dist[:, :k_place]), n_jobs=n_jobs, **placement)
    voters = ref.rows[idx[:, : min(int(k), idx.shape[1])]]
    labels = {c: _knn_vote(adata_ref.obs[c], voters) for c in columns}

    target = adata if inplace else adata.copy()
    target.obsm[key] = Y
    stored_pca = projected is not None and "X_pca" not in target.obsm
    if stored_pca:
        target.obsm["X_pca"] = projected.astype(np.float32)
    for c, values in labels.items():
        target.obs[c] = values
    shown = {n: v for n, v in placement.items() if n not in ("callbacks", "callback_every")}
    target.uns[uns_key_for(key)] = {
        "params": sanitize_params(
            {
                "representation": "obsm/X_pca" if stored_pca else name,
                "placed_into": key,
                "reference_representation": ref.representation,
                "n_pcs": ref.n_pcs,
                "k": int(k),
                "labels": columns or None,
                "placement": {"k": k_place, **shown},
            }
        )
    }
    return None if inplace else target


#: keywords of :meth:`TSNEEmbedding.transform` that ``ingest`` passes on
_PLACEMENT_OPTIONS = {
    "perplexity",
    "placement_k",
    "init",
    "n_iter",
    "early_exaggeration",
    "early_exaggeration_iter",
    "exaggeration",
    "learning_rate",
    "momentum",
    "max_grad_norm",
    "max_step_norm",
    "negative_gradient_method",
    "callbacks",
    "callback_every",
}
