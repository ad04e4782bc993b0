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
# Open napari from Jupyter on an AnnData that lives in the notebook with one call,
# `napari_tsne.view(adata)`, run the widget (and steer it in the window: exaggeration,
# Stop, Continue), then find the map in the same object, `adata.obsm["X_tsne"]`, for
# scanpy or matplotlib.
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
from napari_tsne.plotting import scatter
from napari_tsne.plugin.demo import display_available

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
# ## Open napari on this AnnData
#
# `napari_tsne.view(adata)` opens napari (or uses the viewer already open), docks the
# t-SNE widget on this very object, offers its representations (`X`, `obsm/...`,
# `layers/...`; the default follows `tl.tsne`'s `use_rep` rule: X for up to 50
# variables, else `obsm["X_pca"]`, computed when missing; the 64 pixels of a digit are
# mapped as they are here, `use_rep="X"`) and colours the map by an `obs` column.
# Keyword arguments set the form; `run=True` presses Run. In a notebook the cell returns at
# once: steer the run in the window (exaggeration, Stop, Continue).

# %%
use_gui = display_available()
fast = dict(early_exaggeration_iter=50, n_iter=50) if FAST else {}
if use_gui:
    import napari_tsne

    viewer, widget = napari_tsne.view(adata, use_rep="X", color="label", run=True, **fast)
else:
    print("No display: the napari part is skipped; the map is made with the engine.")

# %% [markdown]
# ## Wait for the map
#
# When the run ends, the widget writes the map into the same AnnData (`obsm["X_tsne"]`,
# parameters in `uns["tsne"]`). `widget.wait()` blocks until then (here, so that the
# next cell finds the result; in a notebook you can simply run the next cell later).

# %%
if use_gui:
    widget.wait(timeout=600)
    assert widget.adata is adata and "X_tsne" in adata.obsm
else:
    tsne = TSNE(random_state=42, **fast)
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
