"""Tests for napari_tsne.io: reading, representations, atomic embedding writes, arrays."""

from __future__ import annotations

import errno
import gzip
import os
import shutil
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import napari_tsne.io as nio
from napari_tsne.io import (
    FASHION_MNIST_CLASSES,
    DataReadError,
    DataWriteError,
    FashionMNISTNotFoundError,
    UnknownRepresentationError,
    anndata_io,
    atomic,
    atomic_path,
    fashion_mnist_available,
    get_representation,
    list_representations,
    load_fashion_mnist,
    load_fashion_mnist_part,
    read_array,
    read_h5ad,
    read_idx,
    read_table,
    representation_shapes,
    sanitize_params,
    write_array,
    write_embedding,
)
from napari_tsne.io import idx as idx_module

N_OBS, N_VARS = 40, 12


# ----------------------------------------------------------------------------- fixtures


def make_rich_adata(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = sp.random(N_OBS, N_VARS, density=0.3, format="csr", dtype=np.float32, random_state=seed)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(rng.choice(["T cell", "B cell", "NK"], N_OBS)),
            "batch": pd.Categorical(rng.choice(["b1", "b2"], N_OBS), ordered=True),
            "n_genes": rng.integers(100, 1000, N_OBS),
            "qc_pass": rng.random(N_OBS) > 0.2,
            "score": rng.normal(size=N_OBS),
        },
        index=[f"cell_{i}" for i in range(N_OBS)],
    )
    var = pd.DataFrame(
        {
            "gene_symbol": [f"G{i}" for i in range(N_VARS)],
            "highly_variable": rng.random(N_VARS) > 0.5,
            "mean": rng.random(N_VARS),
        },
        index=[f"ENSG{i:05d}" for i in range(N_VARS)],
    )
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.raw = adata.copy()
    adata.layers["counts"] = rng.poisson(3, (N_OBS, N_VARS)).astype(np.int32)
    adata.layers["sparse_csc"] = sp.random(
        N_OBS, N_VARS, density=0.2, format="csc", random_state=seed + 1
    )
    adata.obsm["X_pca"] = rng.normal(size=(N_OBS, 5))
    adata.obsm["X_umap"] = rng.normal(size=(N_OBS, 2)).astype(np.float32)
    adata.varm["PCs"] = rng.normal(size=(N_VARS, 5))
    adata.obsp["distances"] = sp.random(
        N_OBS, N_OBS, density=0.1, format="csr", random_state=seed + 2
    )
    adata.uns["cell_type_colors"] = np.array(["#ff0000", "#00ff00", "#0000ff"])
    adata.uns["neighbors"] = {
        "params": {"n_neighbors": 15, "method": "umap"},
        "distances_key": "distances",
    }
    adata.uns["tsne"] = {"note": "older run", "params": {"perplexity": 5}}
    adata.uns["pca"] = {"variance_ratio": rng.random(5)}
    return adata


@pytest.fixture
def rich_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.h5ad"
    make_rich_adata().write_h5ad(path)
    return path


def _h5_tree(path: Path, skip: set[str]) -> dict[str, object]:
    """Every dataset (values) and attribute set in an HDF5 file, except under *skip*."""
    out: dict[str, object] = {}

    def visit(name: str, obj) -> None:
        if any(name == s or name.startswith(s + "/") for s in skip):
            return
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            out[name] = (obj[()], attrs)
        else:
            out[name] = (None, attrs)

    with h5py.File(path, "r") as f:
        out["/"] = (None, dict(f.attrs))
        f.visititems(visit)
    return out


def _assert_values_equal(a, b) -> None:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
        assert a == b


def _assert_same_tree(t1: dict, t2: dict) -> None:
    assert t1.keys() == t2.keys()
    for name in t1:
        (v1, a1), (v2, a2) = t1[name], t2[name]
        assert a1.keys() == a2.keys(), name
        for k in a1:
            _assert_values_equal(a1[k], a2[k])
        if v1 is not None:
            _assert_values_equal(v1, v2)


def _assert_matrix_equal(a, b) -> None:
    assert sp.issparse(a) == sp.issparse(b)
    if sp.issparse(a):
        assert a.format == b.format
        assert a.shape == b.shape
        assert (a != b).nnz == 0
    else:
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def _assert_uns_equal(u1, u2) -> None:
    assert set(u1) == set(u2)
    for k in u1:
        if isinstance(u1[k], dict):
            _assert_uns_equal(u1[k], u2[k])
        else:
            _assert_values_equal(u1[k], u2[k])


def _assert_all_but_embedding_equal(orig: ad.AnnData, new: ad.AnnData, key: str) -> None:
    _assert_matrix_equal(orig.X, new.X)
    pd.testing.assert_frame_equal(orig.obs, new.obs)
    pd.testing.assert_frame_equal(orig.var, new.var)
    assert set(orig.layers) == set(new.layers)
    for k in orig.layers:
        _assert_matrix_equal(orig.layers[k], new.layers[k])
    assert set(new.obsm) == set(orig.obsm) | {key}
    for k in orig.obsm:
        if k != key:
            _assert_matrix_equal(orig.obsm[k], new.obsm[k])
    for k in orig.varm:
        _assert_matrix_equal(orig.varm[k], new.varm[k])
    assert set(orig.obsp) == set(new.obsp)
    for k in orig.obsp:
        _assert_matrix_equal(orig.obsp[k], new.obsp[k])
    _assert_matrix_equal(orig.raw.X, new.raw.X)
    pd.testing.assert_frame_equal(orig.raw.var, new.raw.var)
    u1 = {k: v for k, v in orig.uns.items() if k != "tsne"}
    u2 = {k: v for k, v in new.uns.items() if k != "tsne"}
    _assert_uns_equal(u1, u2)


def _dir_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- read_h5ad


def test_read_h5ad_roundtrip(rich_file: Path) -> None:
    adata = read_h5ad(rich_file)
    assert adata.shape == (N_OBS, N_VARS)
    assert sp.issparse(adata.X)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataReadError, match="No such file"):
        read_h5ad(tmp_path / "missing.h5ad")


def test_read_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.h5ad"
    folder.mkdir()
    with pytest.raises(DataReadError, match="is a folder"):
        read_h5ad(folder)


def test_read_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5ad"
    path.write_text("cell,x,y\na,1,2\n")
    with pytest.raises(DataReadError, match="not an HDF5 file"):
        read_h5ad(path)


def test_read_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.h5ad"
    path.touch()
    with pytest.raises(DataReadError, match="empty"):
        read_h5ad(path)


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_read_truncated(rich_file: Path, tmp_path: Path, fraction: float) -> None:
    data = rich_file.read_bytes()
    cut = tmp_path / "cut.h5ad"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataReadError, match="truncated|corrupted") as info:
        read_h5ad(cut)
    assert str(cut) in str(info.value)
    assert type(info.value) is DataReadError


def test_read_hdf5_not_anndata(tmp_path: Path) -> None:
    path = tmp_path / "other.h5ad"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((3, 3))
        f.create_group("metadata")
    with pytest.raises(DataReadError, match="not an AnnData") as info:
        read_h5ad(path)
    assert "'images'" in str(info.value)


# ----------------------------------------------------------------------------- representations


def test_get_representation_variants() -> None:
    adata = make_rich_adata()
    X, name = get_representation(adata)
    assert name == "X" and sp.issparse(X) and X.format == "csr"
    pca, name = get_representation(adata, "obsm/X_pca")
    assert name == "obsm/X_pca"
    np.testing.assert_array_equal(pca, adata.obsm["X_pca"])
    assert get_representation(adata, "X_pca")[1] == "obsm/X_pca"
    counts, name = get_representation(adata, "counts")
    assert name == "layers/counts" and counts.dtype == np.int32
    csc, name = get_representation(adata, "layers/sparse_csc")
    assert name == "layers/sparse_csc" and csc.format == "csr"
    raw, name = get_representation(adata, "raw/X")
    assert name == "raw/X" and raw.shape == (N_OBS, N_VARS)


def test_get_representation_csc_x_becomes_csr() -> None:
    adata = ad.AnnData(X=sp.random(10, 4, density=0.5, format="csc"))
    X, _ = get_representation(adata, "X")
    assert X.format == "csr"


def test_unknown_representation_lists_available() -> None:
    adata = make_rich_adata()
    with pytest.raises(UnknownRepresentationError) as info:
        get_representation(adata, "X_tsne")
    msg = str(info.value)
    for name in ["X (40 × 12, sparse)", "obsm/X_pca", "obsm/X_umap", "layers/counts", "raw/X"]:
        assert name in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, DataReadError)
    with pytest.raises(UnknownRepresentationError):
        get_representation(adata, "layers/X_pca")  # exists in obsm, not in layers


def test_missing_x_is_explained() -> None:
    adata = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(5)]))
    adata.obsm["X_pca"] = np.zeros((5, 2))
    with pytest.raises(DataReadError, match="no main data matrix X.*obsm/X_pca"):
        get_representation(adata)


def test_list_representations() -> None:
    adata = make_rich_adata()
    names = list_representations(adata)
    assert names == [
        "X",
        "obsm/X_pca",
        "obsm/X_umap",
        "layers/counts",
        "layers/sparse_csc",
        "raw/X",
    ]
    assert representation_shapes(adata)["obsm/X_pca"] == (N_OBS, 5)


# ----------------------------------------------------------------------------- write_embedding


def test_write_new_file_roundtrip(tmp_path: Path) -> None:
    coords = np.random.default_rng(1).normal(size=(25, 2)).astype(np.float32)
    params = {
        "perplexity": 30.0,
        "n_iter": np.int64(750),
        "init": None,
        "metric": "euclidean",
        "exaggeration": (12.0, 1.0),
        "use_rep": "X_pca",
        "flags": [True, False],
    }
    path = write_embedding(tmp_path / "new.h5ad", coords, params=params)
    adata = read_h5ad(path)
    assert adata.n_obs == 25
    np.testing.assert_array_equal(adata.obsm["X_tsne"], coords)
    stored = adata.uns["tsne"]["params"]
    assert stored["perplexity"] == 30.0 and stored["n_iter"] == 750
    assert stored["metric"] == "euclidean" and "init" not in stored
    np.testing.assert_array_equal(stored["exaggeration"], [12.0, 1.0])
    np.testing.assert_array_equal(stored["flags"], [True, False])
    assert _dir_listing(tmp_path) == ["new.h5ad"]


def test_write_new_file_with_obs(tmp_path: Path) -> None:
    obs = pd.DataFrame({"cluster": pd.Categorical(["a", "b", "a"])}, index=[0, 1, 2])
    write_embedding(tmp_path / "o.h5ad", np.ones((3, 2)), obs=obs)
    adata = read_h5ad(tmp_path / "o.h5ad")
    assert list(adata.obs_names) == ["0", "1", "2"]
    assert list(adata.obs["cluster"]) == ["a", "b", "a"]
    with pytest.raises(ValueError, match="obs has 3 rows"):
        write_embedding(tmp_path / "p.h5ad", np.ones((4, 2)), obs=obs)


def test_write_new_file_from_adata_does_not_modify_it(tmp_path: Path) -> None:
    adata = make_rich_adata()
    adata.obs["label"] = [f"l{i % 3}" for i in range(N_OBS)]  # plain strings
    coords = np.random.default_rng(2).normal(size=(N_OBS, 2))
    write_embedding(tmp_path / "full.h5ad", coords, adata=adata, params={"perplexity": 20})
    assert "X_tsne" not in adata.obsm
    assert adata.obs["label"].dtype == object
    back = read_h5ad(tmp_path / "full.h5ad")
    _assert_all_but_embedding_equal(adata, back, "X_tsne")
    np.testing.assert_array_equal(back.obsm["X_tsne"], coords)
    assert back.uns["tsne"]["params"]["perplexity"] == 20


def test_write_into_existing_keeps_everything(rich_file: Path) -> None:
    orig = read_h5ad(rich_file)
    tree_before = _h5_tree(rich_file, skip={"obsm/X_tsne", "uns/tsne"})
    coords = np.random.default_rng(3).normal(size=(N_OBS, 2))
    write_embedding(rich_file, coords, params={"perplexity": 30, "metric": "cosine"})

    _assert_same_tree(tree_before, _h5_tree(rich_file, skip={"obsm/X_tsne", "uns/tsne"}))
    new = read_h5ad(rich_file)
    _assert_all_but_embedding_equal(orig, new, "X_tsne")
    np.testing.assert_array_equal(new.obsm["X_tsne"], coords)
    assert new.uns["tsne"]["params"] == {"perplexity": 30, "metric": "cosine"}
    assert new.uns["tsne"]["note"] == "older run"  # siblings of params are kept
    assert _dir_listing(rich_file.parent) == ["data.h5ad"]


def test_write_into_existing_other_key_and_overwrite(rich_file: Path) -> None:
    c1 = np.zeros((N_OBS, 2))
    write_embedding(rich_file, c1, key="X_tsne_run2", params={"perplexity": 50})
    new = read_h5ad(rich_file)
    np.testing.assert_array_equal(new.obsm["X_tsne_run2"], c1)
    assert new.uns["X_tsne_run2"]["params"]["perplexity"] == 50
    assert new.uns["tsne"]["params"]["perplexity"] == 5  # untouched

    before = rich_file.read_bytes()
    with pytest.raises(DataWriteError, match="already contains obsm\\['X_tsne_run2'\\]"):
        write_embedding(rich_file, c1 + 1, key="X_tsne_run2", overwrite=False)
    assert rich_file.read_bytes() == before

    write_embedding(rich_file, c1 + 1, key="X_tsne_run2")  # overwrite=True by default
    np.testing.assert_array_equal(read_h5ad(rich_file).obsm["X_tsne_run2"], c1 + 1)


def test_write_keeps_file_mode(rich_file: Path) -> None:
    os.chmod(rich_file, 0o640)
    write_embedding(rich_file, np.zeros((N_OBS, 2)))
    assert rich_file.stat().st_mode & 0o777 == 0o640


def test_n_obs_mismatch(rich_file: Path) -> None:
    before = rich_file.read_bytes()
    with pytest.raises(DataWriteError, match="40 cells .* 39 rows"):
        write_embedding(rich_file, np.zeros((N_OBS - 1, 2)))
    assert rich_file.read_bytes() == before


def test_write_into_non_anndata_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5ad"
    path.write_text("not hdf5")
    with pytest.raises(DataWriteError, match="not an HDF5 file"):
        write_embedding(path, np.zeros((3, 2)))
    assert path.read_text() == "not hdf5"


def test_failure_mid_write_leaves_original(rich_file: Path, monkeypatch) -> None:
    before = rich_file.read_bytes()
    real = anndata_io._write_elem
    calls = []

    def flaky(group, key, value):
        calls.append(key)
        if len(calls) == 2:  # obsm already written in the copy, params fail
            raise RuntimeError("simulated crash")
        real(group, key, value)

    monkeypatch.setattr(anndata_io, "_write_elem", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_embedding(rich_file, np.ones((N_OBS, 2)), params={"perplexity": 1})
    assert calls == ["X_tsne", "params"]
    assert rich_file.read_bytes() == before
    assert _dir_listing(rich_file.parent) == ["data.h5ad"]


def test_disk_full_leaves_original(rich_file: Path, monkeypatch) -> None:
    before = rich_file.read_bytes()

    def copy_until_full(src, dst, *args, **kwargs):
        with open(dst, "wb") as fh:
            fh.write(Path(src).read_bytes()[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    with pytest.raises(DataWriteError, match="not enough free disk space") as info:
        write_embedding(rich_file, np.ones((N_OBS, 2)))
    assert info.value.errno == errno.ENOSPC
    assert rich_file.read_bytes() == before
    assert _dir_listing(rich_file.parent) == ["data.h5ad"]


def test_replace_failure_leaves_original(rich_file: Path, monkeypatch) -> None:
    before = rich_file.read_bytes()

    def deny(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", deny)
    with pytest.raises(DataWriteError, match="no permission to write"):
        write_embedding(rich_file, np.ones((N_OBS, 2)))
    assert rich_file.read_bytes() == before
    assert _dir_listing(rich_file.parent) == ["data.h5ad"]


def test_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "no_such_folder" / "out.h5ad"
    with pytest.raises(DataWriteError, match="does not exist") as info:
        write_embedding(target, np.zeros((3, 2)))
    assert str(target.parent) in str(info.value)
    assert not target.parent.exists()


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux /sys")
def test_read_only_location() -> None:
    target = Path("/sys/kernel/napari_tsne_test.h5ad")
    if os.access(target.parent, os.W_OK):
        try:  # root may pass os.access; check that creating a file really fails
            fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o644)
        except OSError:
            pass
        else:  # pragma: no cover
            os.close(fd)
            os.unlink(target)
            pytest.skip("location is writable here")
    with pytest.raises(DataWriteError, match="Could not save"):
        write_embedding(target, np.zeros((3, 2)))
    with pytest.raises(DataWriteError):
        write_array(target.with_suffix(".npy"), np.zeros((3, 2)))


def test_target_is_directory(tmp_path: Path) -> None:
    (tmp_path / "x.h5ad").mkdir()
    with pytest.raises(DataWriteError, match="folder with that name"):
        write_embedding(tmp_path / "x.h5ad", np.zeros((3, 2)))


def test_bad_key_and_coordinates(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without '/'"):
        write_embedding(tmp_path / "a.h5ad", np.zeros((3, 2)), key="obsm/X")
    with pytest.raises(ValueError, match="2-D"):
        write_embedding(tmp_path / "a.h5ad", np.zeros((3, 2, 2)))


def test_sanitize_params() -> None:
    clean = sanitize_params(
        {
            "a": None,
            "b": (1, 2),
            "c": ["x", 1],
            "d": np.float32(0.5),
            "e": {"f": None, "g": Path("p")},
            "h": print,
            "i/j": np.bool_(True),
        }
    )
    assert "a" not in clean and clean["e"] == {"g": "p"}
    np.testing.assert_array_equal(clean["b"], [1, 2])
    np.testing.assert_array_equal(clean["c"], ["x", "1"])
    assert isinstance(clean["d"], float) and clean["h"] == "print" and clean["i_j"] is True


# ----------------------------------------------------------------------------- atomic_path


def test_atomic_path_error_keeps_target(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".txt"
            tmp.write_text("partial")
            raise ZeroDivisionError
    assert target.read_text() == "old"
    assert _dir_listing(tmp_path) == ["t.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(DataWriteError, match="already exists"):
        with atomic_path(target, overwrite=False):
            pass


# ----------------------------------------------------------------------------- arrays


def test_npy_roundtrip(tmp_path: Path) -> None:
    arr = np.random.default_rng(4).normal(size=(7, 3)).astype(np.float32)
    write_array(tmp_path / "a.npy", arr)
    back = read_array(tmp_path / "a.npy")
    np.testing.assert_array_equal(back, arr)
    assert back.dtype == np.float32
    with pytest.raises(DataWriteError, match="already exists"):
        write_array(tmp_path / "a.npy", arr, overwrite=False)


def test_npy_object_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataReadError, match="Python objects"):
        read_array(tmp_path / "o.npy")


def test_csv_roundtrip_exact(tmp_path: Path) -> None:
    arr = np.random.default_rng(5).normal(size=(9, 2))
    write_array(tmp_path / "e.csv", arr)
    assert (tmp_path / "e.csv").read_text().splitlines()[0] == "dim_1,dim_2"
    np.testing.assert_array_equal(read_array(tmp_path / "e.csv"), arr)
    write_array(tmp_path / "e.tsv", arr, header=False)
    np.testing.assert_array_equal(read_array(tmp_path / "e.tsv"), arr)


def test_csv_with_header(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("PC1, PC2,PC3\n1,2,3\n4.5,-6e-1,NA\n")
    arr = read_array(path)
    np.testing.assert_array_equal(arr, [[1, 2, 3], [4.5, -0.6, np.nan]])
    plain = tmp_path / "plain.csv"
    plain.write_text("1,2\n3,4\n")
    np.testing.assert_array_equal(read_array(plain), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(read_array(plain, header=True), [[3, 4]])


def test_csv_with_text_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,cell_type,y,batch\n1,T cell,2,b1\n3,B cell,4,b2\n")
    with pytest.raises(DataReadError, match="'cell_type', 'batch'.*read_table"):
        read_array(path)
    data, labels = read_table(path)
    np.testing.assert_array_equal(data, [[1, 2], [3, 4]])
    assert list(labels.columns) == ["cell_type", "batch"]
    assert list(labels["cell_type"]) == ["T cell", "B cell"]


def test_csv_from_pandas_with_index(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=["cellA", "cellB"])
    df.to_csv(tmp_path / "p.csv")
    np.testing.assert_array_equal(read_array(tmp_path / "p.csv"), df.to_numpy())
    _, labels = read_table(tmp_path / "p.csv")
    assert list(labels.index) == ["cellA", "cellB"] and labels.shape[1] == 0


def test_csv_errors(tmp_path: Path) -> None:
    ragged = tmp_path / "r.csv"
    ragged.write_text("1,2\n3,4,5\n")
    with pytest.raises(DataReadError, match="different numbers of columns"):
        read_array(ragged)
    only_text = tmp_path / "only.csv"
    only_text.write_text("name\nfoo\nbar\n")
    with pytest.raises(DataReadError, match="contain text"):
        read_array(only_text)
    with pytest.raises(DataReadError, match="No such file"):
        read_array(tmp_path / "missing.csv")
    with pytest.raises(DataReadError, match="unsupported file type"):
        read_array(ragged.with_suffix(".xlsx"))


def test_read_array_h5ad(rich_file: Path) -> None:
    X = read_array(rich_file)
    assert sp.issparse(X) and X.format == "csr"
    pca = read_array(rich_file, key="X_pca")
    assert pca.shape == (N_OBS, 5)


def test_write_array_h5ad_delegates(tmp_path: Path) -> None:
    write_array(tmp_path / "w.h5ad", np.ones((4, 2)))
    np.testing.assert_array_equal(read_h5ad(tmp_path / "w.h5ad").obsm["X_tsne"], np.ones((4, 2)))


def test_public_api() -> None:
    for name in nio.__all__:
        assert hasattr(nio, name)
    assert issubclass(DataReadError, ValueError) and issubclass(DataWriteError, OSError)


def test_table_without_numbers(tmp_path: Path) -> None:
    path = tmp_path / "only.csv"
    path.write_text("name\nfoo\nbar\n")
    with pytest.raises(DataReadError, match="no numeric columns"):
        read_table(path)


# ---------------------------------------------------------------------------- IDX files

_IDX_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def _idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of *arr* (written independently of the reader under test)."""
    kind = arr.dtype.kind + str(arr.dtype.itemsize)
    header = bytes([0, 0, _IDX_CODES[kind], arr.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_idx(path: Path, arr_or_bytes, gz: bool) -> Path:
    raw = arr_or_bytes if isinstance(arr_or_bytes, bytes) else _idx_bytes(arr_or_bytes)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_roundtrip_images_and_labels(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    got_images = read_idx(_write_idx(tmp_path / f"img-idx3-ubyte{suffix}", images, gz))
    got_labels = read_idx(_write_idx(tmp_path / f"lab-idx1-ubyte{suffix}", labels, gz))
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 5, 4)
    assert got_labels.dtype == np.uint8 and got_labels.shape == (7,)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.flags.writeable and got_images.flags.c_contiguous
    # only the first items, e.g. for a quick sample of a large file
    np.testing.assert_array_equal(read_idx(tmp_path / f"img-idx3-ubyte{suffix}", 3), images[:3])


@pytest.mark.parametrize("dtype", ["i1", ">i2", ">i4", ">f4", ">f8"])
def test_idx_other_types_native_order(tmp_path: Path, dtype: str) -> None:
    arr = (np.arange(24).reshape(2, 3, 4) - 10).astype(dtype)
    got = read_idx(_write_idx(tmp_path / "a.idx", arr, gz=False))
    assert got.dtype.isnative and got.dtype.kind == np.dtype(dtype).kind
    np.testing.assert_array_equal(got, arr)


def test_idx_gzip_detected_from_content(tmp_path: Path) -> None:
    labels = np.arange(10, dtype=np.uint8)
    # unpacked data under a .gz name (browsers do this) and gzipped data without .gz
    np.testing.assert_array_equal(read_idx(_write_idx(tmp_path / "a.gz", labels, False)), labels)
    np.testing.assert_array_equal(read_idx(_write_idx(tmp_path / "b.idx", labels, True)), labels)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_truncated(tmp_path: Path, gz: bool) -> None:
    raw = _idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8))
    path = _write_idx(tmp_path / "t.idx", raw[:-100], gz)
    with pytest.raises(DataReadError, match=r"truncated.*\(10, 28, 28\).*download it again"):
        read_idx(path)
    # cut inside the header
    with pytest.raises(DataReadError, match="truncated inside its header"):
        read_idx(_write_idx(tmp_path / "h.idx", raw[:9], gz))


def test_idx_truncated_gzip_stream(tmp_path: Path) -> None:
    raw = gzip.compress(_idx_bytes(np.arange(5000, dtype=np.uint8).reshape(50, 100)))
    path = tmp_path / "cut.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataReadError, match="damaged or incomplete gzip"):
        read_idx(path)


def test_idx_header_claims_too_much(tmp_path: Path) -> None:
    # a damaged header must give a clear error, not a MemoryError
    raw = bytes([0, 0, 0x08, 3]) + (2**31).to_bytes(4, "big") * 3 + b"\0" * 64
    for gz in (True, False):
        with pytest.raises(DataReadError, match="truncated"):
            read_idx(_write_idx(tmp_path / f"big{gz}.idx", raw, gz))


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_wrong_magic(tmp_path: Path, gz: bool) -> None:
    raw = _idx_bytes(np.zeros((3, 2), dtype=np.uint8))
    with pytest.raises(DataReadError, match=r"not an IDX file.*01 00 08 02"):
        read_idx(_write_idx(tmp_path / "m1.idx", b"\x01" + raw[1:], gz))
    with pytest.raises(DataReadError, match=r"not an IDX file.*00 00 07 02.*type code"):
        read_idx(_write_idx(tmp_path / "m2.idx", raw[:2] + b"\x07" + raw[3:], gz))
    with pytest.raises(DataReadError, match="not an IDX file"):
        read_idx(_write_idx(tmp_path / "m3.idx", b"PK\x03\x04 a zip file", gz))


def test_idx_other_problems(tmp_path: Path) -> None:
    with pytest.raises(DataReadError, match="No such file"):
        read_idx(tmp_path / "missing.gz")
    with pytest.raises(DataReadError, match="folder"):
        read_idx(tmp_path)
    with pytest.raises(DataReadError, match="too short"):
        read_idx(_write_idx(tmp_path / "empty.idx", b"", False))
    extra = _idx_bytes(np.zeros(4, dtype=np.uint8)) + b"\0\0"
    with pytest.raises(DataReadError, match="more data than its header"):
        read_idx(_write_idx(tmp_path / "extra.idx", extra, False))
    with pytest.raises(ValueError, match="max_items"):
        read_idx(_write_idx(tmp_path / "ok.idx", np.zeros(4, dtype=np.uint8), False), -1)


def _fake_fashion_mnist(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True):
    """A tiny data set with the real file names; pixel value = image index."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 28, 28))
        labels = (np.arange(n) % 10).astype(np.uint8)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", np.ascontiguousarray(images), gz)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return folder


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "unpacked"])
def test_load_fashion_mnist_from_directory(tmp_path: Path, gz: bool) -> None:
    d = _fake_fashion_mnist(tmp_path / "fm", gz=gz)
    data = load_fashion_mnist(d)
    assert data.train_images.shape == (6, 28, 28) and data.test_images.shape == (4, 28, 28)
    assert data.train_labels.shape == (6,) and data.test_labels.dtype == np.uint8
    assert data.train_images[5, 0, 0] == 5
    images, labels = load_fashion_mnist_part("test", d, max_items=2)
    assert images.shape == (2, 28, 28) and list(labels) == [0, 1]
    assert len(FASHION_MNIST_CLASSES) == 10 and FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_load_fashion_mnist_search_order(tmp_path: Path, monkeypatch) -> None:
    default = _fake_fashion_mnist(tmp_path / "default", n_train=3)
    env = _fake_fashion_mnist(tmp_path / "env", n_train=5)
    monkeypatch.setattr(idx_module, "DEFAULT_FASHION_MNIST_DIR", default)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(env))
    assert len(load_fashion_mnist().train_images) == 5
    # $FASHION_MNIST_DIR without the files: the Debian folder is next
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nothing"))
    assert len(load_fashion_mnist().train_images) == 3
    monkeypatch.delenv("FASHION_MNIST_DIR")
    assert len(load_fashion_mnist().train_images) == 3


def test_load_fashion_mnist_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(idx_module, "DEFAULT_FASHION_MNIST_DIR", tmp_path / "no-default")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "no-env"))
    assert not fashion_mnist_available()
    with pytest.raises(FashionMNISTNotFoundError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert "no-env" in message and "no-default" in message
    assert "dataset-fashion-mnist" in message and "FASHION_MNIST_DIR" in message
    # one error that callers can catch either as a read problem or as a missing file
    assert isinstance(info.value, DataReadError) and isinstance(info.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_fashion_mnist_part("train", tmp_path)


def test_load_fashion_mnist_inconsistent_files(tmp_path: Path) -> None:
    d = _fake_fashion_mnist(tmp_path / "fm")
    _write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8), True)
    with pytest.raises(DataReadError, match="6 images but .* 5 labels"):
        load_fashion_mnist(d)
    _write_idx(d / "train-labels-idx1-ubyte.gz", np.full(6, 12, dtype=np.uint8), True)
    with pytest.raises(DataReadError, match="labels are 0-9"):
        load_fashion_mnist(d)
    _write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros((6, 2), dtype=np.uint8), True)
    with pytest.raises(DataReadError, match="uint8 labels"):
        load_fashion_mnist(d)


@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST files not installed")
def test_real_fashion_mnist() -> None:
    data = load_fashion_mnist()
    assert data.train_images.shape == (60000, 28, 28) and data.train_labels.shape == (60000,)
    assert data.test_images.shape == (10000, 28, 28) and data.test_labels.shape == (10000,)
    assert data.train_images.dtype == np.uint8 and data.test_labels.dtype == np.uint8
    # the official set is balanced: 6000 / 1000 images per class
    assert np.bincount(data.train_labels).tolist() == [6000] * 10
    assert np.bincount(data.test_labels).tolist() == [1000] * 10
    assert data.train_labels[0] == FASHION_MNIST_CLASSES.index("Ankle boot")
