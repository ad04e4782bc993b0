"""``napari_tsne.view(adata)``: open an in-memory AnnData in napari with the t-SNE
widget docked on it, from a notebook or a script.

The map is written back into the caller's object (``adata.obsm["X_tsne"]`` and
``uns["tsne"]``) when a run ends, as the widget does for any AnnData source. Every
argument is checked before a window opens or ``adata`` changes.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from .._options import WIDGET_OPTIONS

__all__ = ["view"]

#: form controls ``view`` can set besides the t-SNE options of ``WIDGET_OPTIONS``
_EXTRA_OPTIONS = {
    "n_jobs": {"kind": "int", "min": 0, "max": max(1, os.cpu_count() or 1)},
    "update_interval": {"kind": "int", "min": 1, "max": 1000},
    "sample_size": {"kind": "int", "min": 10, "max": 100_000_000},
}


def _option_spec(name: str) -> dict:
    if name in _EXTRA_OPTIONS:
        return _EXTRA_OPTIONS[name]
    spec = dict(WIDGET_OPTIONS[name].widget)
    if name == "metric":
        from ..engine._validation import METRICS

        spec["choices"] = list(METRICS)
    elif "choices" in WIDGET_OPTIONS[name].widget_kwargs():
        spec["choices"] = list(WIDGET_OPTIONS[name].widget_kwargs()["choices"])
    return spec


def _check_options(options: dict[str, Any]) -> None:
    known = [*WIDGET_OPTIONS, *_EXTRA_OPTIONS]
    for name, value in options.items():
        if name not in known:
            raise TypeError(
                f"view() got an unknown option {name!r}; the widget's options are "
                f"{', '.join(known)}."
            )
        spec = _option_spec(name)
        if name == "learning_rate" and value == "auto":
            continue
        if spec["kind"] == "choice":
            if value not in spec["choices"]:
                raise ValueError(
                    f"{name}={value!r} is not offered; choose one of {', '.join(spec['choices'])}."
                )
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, not {value!r}.")
        if spec["kind"] == "int" and int(value) != value:
            raise ValueError(f"{name} must be a whole number; got {value!r}.")
        lo, hi = spec.get("min"), spec.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{name}={value!r} is out of range: use {lo} to {hi}.")


def _default_representation(adata, use_rep: str | None) -> str:
    """The widget's representation by ``tl.tsne``'s ``use_rep`` rule. A PCA the rule
    needs but ``adata`` lacks is computed and stored now, so the widget offers it."""
    from ..tl import choose_representation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # replaced by the warning below
        rep = choose_representation(adata, use_rep)
    if rep.pca is not None:
        rep.pca.store(adata)
        warnings.warn(
            f"adata has {adata.n_vars:,} variables and no obsm['X_pca']: computed a PCA "
            f"with {rep.pca.scores.shape[1]} components and stored it in obsm['X_pca'] "
            "(and varm['PCs'], uns['pca']) to map. Pass use_rep='X' to use X itself.",
            UserWarning,
            stacklevel=3,
        )
    return rep.name


def view(
    adata,
    *,
    viewer=None,
    use_rep: str | None = None,
    color: str | None = None,
    name: str = "adata",
    run: bool = False,
    **options: Any,
):
    """Open *adata* in napari with the t-SNE widget docked on it.

    Parameters
    ----------
    adata : AnnData
        Kept in memory and used as it is: the map lands in ``adata.obsm["X_tsne"]``
        (the widget's "obsm key") and the parameters in ``adata.uns["tsne"]`` when a
        run ends.
    viewer : napari.Viewer, optional
        Default: the current viewer, or a new one.
    use_rep : str, optional
        The representation to map, as in :func:`napari_tsne.tl.tsne` (``"X"``,
        ``"X_pca"``, ``"obsm/X_pca"``, ``"layers/counts"``). Default: X for up to 50
        variables, else ``obsm["X_pca"]`` (computed and stored when missing).
    color : str, optional
        What to colour the map by: an ``obs`` column or a gene (``var_names``, or
        ``raw.var_names``), as scanpy's ``color``. Default: a column such as
        ``cell_type``, ``leiden`` or ``label`` when there is one.
    name : str
        The name of the data's layer (the map's layer is ``"t-SNE <name>"``).
    run : bool
        Press Run at once (the call returns while the map forms).
    **options
        Settings of the form: ``perplexity``, ``n_iter``, ``early_exaggeration``,
        ``early_exaggeration_iter``, ``exaggeration``, ``learning_rate``, ``metric``,
        ``init``, ``seed``, ``n_jobs``, ``update_interval``, ``sample_size`` (turns on
        subsample-and-extend).

    Returns
    -------
    (viewer, widget)
        The napari viewer and the :class:`~napari_tsne.plugin.widget.TSNEWidget`
        (``widget.run()``, ``widget.wait()``, ``widget.adata``).

    In Jupyter run ``%gui qt`` first, so the window stays responsive while the notebook
    is used.
    """
    if not all(hasattr(adata, a) for a in ("obs", "obsm", "n_obs", "n_vars")):
        raise TypeError(f"view() needs an AnnData object, not {type(adata).__name__}.")
    _check_options(options)
    if color is not None:
        from ..variables import unknown_variable, variable_names

        known = variable_names(adata.obs, adata)
        if color not in known:
            raise unknown_variable(color, known)
    representation = _default_representation(adata, use_rep)

    import napari

    if viewer is None:
        viewer = napari.current_viewer() or napari.Viewer()
    # as the Plugins menu opens it (napari hands the widget its plugin proxy)
    _, widget = viewer.window.add_plugin_dock_widget("napari-tsne", "t-SNE map")
    if color is not None:
        widget.colour_with(color)
    widget.show_anndata(adata, name=name, representation=representation)
    for key, value in options.items():
        if key == "learning_rate":
            widget.auto_learning_rate.value = value == "auto"
            if value == "auto":
                continue
        if key == "sample_size":
            widget.subsample.value = True
        getattr(widget, key).value = value
    if run:
        widget.run()
    return viewer, widget
