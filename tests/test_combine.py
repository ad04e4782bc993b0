"""``io.combine.combine_anndata`` against ``anndata.concat`` itself, and the notes it
gives for what cannot be combined (no display needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

anndata = pytest.importorskip("anndata")

from napari_tsne.io.combine import combine_anndata  # noqa: E402


def cells(n, genes, cols, first=0, pcs=5, seed=0):
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {c: pd.Categorical(rng.choice(["a", "b"], n)) for c in cols},
        index=[f"c{i + first}" for i in range(n)],
    )
    ad = anndata.AnnData(
        X=sp.csr_matrix(rng.random((n, len(genes))).astype(np.float32)),
        obs=obs,
        var=pd.DataFrame(index=genes),
    )
    ad.obsm["X_pca"] = rng.random((n, pcs))
    ad.layers["counts"] = ad.X.copy()
    return ad


def test_same_genes_matches_anndata_concat(tmp_path):
    a = cells(6, ["g1", "g2", "g3"], ["ct"])
    b = cells(4, ["g3", "g1", "g2"], ["ct", "phase"], first=6, seed=1)  # other gene order
    Y = [np.arange(12.0).reshape(6, 2), np.full((4, 2), np.nan)]
    out, notes = combine_anndata([a, b], Y, ["ref", "new"], params={"perplexity": 5})
    ref = anndata.concat([a, b], join="inner")
    assert notes == []
    assert list(out.obs_names) == [f"c{i}" for i in range(10)]
    assert list(out.var_names) == list(ref.var_names)
    np.testing.assert_array_equal(out.X.toarray(), ref.X.toarray())
    np.testing.assert_array_equal(out.layers["counts"].toarray(), ref.layers["counts"].toarray())
    np.testing.assert_array_equal(out.obsm["X_pca"], ref.obsm["X_pca"])
    np.testing.assert_array_equal(out.obsm["X_tsne"], np.concatenate(Y))
    assert list(out.obs["batch"]) == ["ref"] * 6 + ["new"] * 4
    assert out.obs["phase"].isna().sum() == 6  # a column of one part: kept, missing elsewhere
    assert out.uns["tsne"]["params"]["perplexity"] == 5
    out.write_h5ad(tmp_path / "out.h5ad")  # storable as it is
    back = anndata.read_h5ad(tmp_path / "out.h5ad")
    assert list(back.obs["ct"]) == list(out.obs["ct"])


def test_what_cannot_be_combined_is_named():
    a = cells(5, ["g1", "g2"], ["ct"], pcs=5)
    b = cells(3, ["g3"], ["ct"], first=3, pcs=4)  # c3, c4 clash; no shared gene
    a.obsm["X_umap"] = np.zeros((5, 2))
    a.obsp["distances"] = sp.identity(5, format="csr")
    a.raw = a
    out, notes = combine_anndata([a, b], [np.zeros((5, 2)), np.ones((3, 2))], ["a", "b"])
    text = " ".join(notes)
    assert out.obs_names.is_unique and list(out.obs_names[5:]) == ["c3-1", "c4-1", "c5"]
    assert "2 cell names occur more than once" in text
    assert out.n_vars == 0 and "no features (genes) in common" in text
    assert "X_pca (different widths: [4, 5])" in text and "'X_umap'" in text
    assert "X_pca" not in out.obsm and "X_umap" not in out.obsm
    assert "obsp 'distances'" in text and "raw could not be combined (not every part" in text


def test_bad_arguments():
    a = cells(3, ["g1"], ["ct"])
    with pytest.raises(ValueError, match="two or more parts"):
        combine_anndata([a], [np.zeros((3, 2))], ["a"])
    with pytest.raises(ValueError, match="3 cells but 2 map rows"):
        combine_anndata([a, a], [np.zeros((2, 2)), np.zeros((3, 2))], ["a", "b"])
