# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # The napari widget from a notebook
#
# Open napari from Jupyter, dock the t-SNE widget on an AnnData that lives in the
# notebook, run it (and steer it in the window: exaggeration, Stop, Continue), then
# get the map back as `adata.obsm["X_tsne"]` for scanpy or matplotlib.
#
# In Jupyter, run `%gui qt` first so that the napari window stays responsive while the
# notebook is used. As a script this example needs a display; without one (or with
# `NAPARI_TSNE_FAST=1` and no display) it skips the window and makes the same map with
# the engine directly. See the [GUI guide](../docs/gui.md) for the widget itself.

# %%
import anndata
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from _common import FAST, IN_NOTEBOOK, savefig
from sklearn.datasets import load_digits

from napari_tsne import TSNE
from napari_tsne._demo import display_available
from napari_tsne.plotting import scatter

X, y = load_digits(return_X_y=True)
n = 200 if FAST else len(X)
adata = anndata.AnnData(
    X=X[:n].astype(np.float32),
    obs=pd.DataFrame(
        {"label": pd.Categorical(y[:n].astype(str))}, index=[f"digit_{i}" for i in range(n)]
    ),
)
print(adata)

# %% [markdown]
# ## Open napari and dock the widget
#
# A Points layer whose `metadata["adata"]` holds an AnnData is a source for the
# widget (that is what napari's reader makes of an `.h5ad` file, too); the widget
# offers its representations (`X`, `obsm/...`, `layers/...`) and colours the map by
# the `obs` columns.

# %%
use_gui = display_available()
if use_gui:
    import napari

    from napari_tsne._widget import TSNEWidget

    viewer = napari.Viewer(title="napari-tsne from a notebook", show=IN_NOTEBOOK or not FAST)
    layer = viewer.add_points(
        np.zeros((n, 2)),
        name="digits",
        metadata={"adata": adata},
        features=adata.obs.reset_index(drop=True),
        visible=False,
    )
    widget = TSNEWidget(viewer)
    viewer.window.add_dock_widget(widget, name="t-SNE map", area="right")
    widget.source.value = layer
    widget.representation.value = "X"
    if FAST:
        widget.early_exaggeration_iter.value = 50
        widget.n_iter.value = 50
else:
    print("No display: the napari part is skipped; the map is made with the engine.")

# %% [markdown]
# ## Run
#
# `widget.run()` is the Run button. The map forms live in the viewer; in a notebook
# the cell returns at once and you can change the exaggeration in the window while the
# run goes on. `widget.wait()` blocks until the run has finished (here, so that the
# next cell finds the result).

# %%
if use_gui:
    widget.run()
    widget.wait(timeout=600)
    result = widget.adata  # the same AnnData object, with the map filled in
    assert result is adata
else:
    tsne = TSNE(random_state=42, **(dict(early_exaggeration_iter=50, n_iter=50) if FAST else {}))
    adata.obsm["X_tsne"] = tsne.fit_transform(adata.X)
    adata.uns["tsne"] = {"params": {"perplexity": tsne.perplexity}}

# %% [markdown]
# ## Use the map
#
# The map is in `obsm["X_tsne"]` and the parameters in `uns["tsne"]["params"]`, where
# scanpy expects them (`sc.pl.tsne(adata, color="label")` works as it is).

# %%
print(adata)
print({k: adata.uns["tsne"]["params"][k] for k in list(adata.uns["tsne"]["params"])[:6]})
fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
scatter(adata.obsm["X_tsne"], adata.obs["label"], ax=ax, title='adata.obsm["X_tsne"]')
savefig(fig, "napari_notebook_result.png")

# %%
if use_gui and not IN_NOTEBOOK:
    viewer.close()
