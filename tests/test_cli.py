"""The command line: ``napari-tsne embed`` and ``napari-tsne transform`` on small
h5ad / npy / csv inputs, exit codes on bad input, and the no-overwrite rule."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from napari_tsne import cli
from napari_tsne.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main

FAST = ["--perplexity", "5", "--early-exaggeration-iter", "20", "--n-iter", "20", "--threads", "1"]
N = 60


def blobs(n=N, d=8, seed=0, noise_seed=None):
    """Three clusters (centres fixed by ``seed``), labels 0, 1, 2, 0, 1, 2, ..."""
    labels = np.arange(n) % 3
    centres = np.random.default_rng(seed).normal(size=(3, d)) * 8
    noise = np.random.default_rng(seed if noise_seed is None else noise_seed)
    return (centres[labels] + noise.normal(size=(n, d))).astype(np.float32), labels


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def h5ad_file(tmp_path):
    X, labels = blobs()
    adata = ad.AnnData(
        X=X,
        obs=pd.DataFrame(
            {"label": pd.Categorical([f"c{v}" for v in labels])},
            index=[f"cell{i}" for i in range(N)],
        ),
    )
    adata.obsm["X_pca"] = X[:, :4].copy()
    adata.layers["counts"] = sp.csr_matrix(np.abs(X).round())
    adata.uns["note"] = "keep me"
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    return path


def run(*args) -> int:
    return main([str(a) for a in args])


# ------------------------------------------------------------------------- embed
def test_embed_h5ad_to_h5ad_keeps_everything(h5ad_file, tmp_path, capsys):
    before = digest(h5ad_file)
    out = tmp_path / "out.h5ad"
    png = tmp_path / "map.png"
    assert run("embed", h5ad_file, "-o", out, "--png", png, *FAST) == EXIT_OK
    err = capsys.readouterr().err
    assert "wrote" in err and "Traceback" not in err
    assert "t-SNE" in err and "40/40" in err  # progress lines (stderr is not a tty)
    assert digest(h5ad_file) == before  # the input is never touched
    res = ad.read_h5ad(out)
    orig = ad.read_h5ad(h5ad_file)
    assert res.obsm["X_tsne"].shape == (N, 2)
    assert np.isfinite(res.obsm["X_tsne"]).all()
    params = res.uns["tsne"]["params"]
    assert params["representation"] == "X"
    assert params["perplexity"] == 5.0 and params["n_iter"] == 20
    assert params["n_iter_total"] == 40 and params["source"] == "cells.h5ad"
    np.testing.assert_array_equal(res.X, orig.X)
    np.testing.assert_array_equal(res.obsm["X_pca"], orig.obsm["X_pca"])
    assert (res.layers["counts"] != orig.layers["counts"]).nnz == 0
    pd.testing.assert_frame_equal(res.obs, orig.obs)
    assert res.uns["note"] == "keep me"
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_embed_representation_and_key(h5ad_file, tmp_path):
    out = tmp_path / "out.h5ad"
    code = run(
        "embed",
        h5ad_file,
        "-o",
        out,
        "--representation",
        "obsm/X_pca",
        "--key",
        "X_tsne_pca",
        "--method",
        "bh",
        "--init",
        "random",
        "--quiet",
        *FAST,
    )
    assert code == EXIT_OK
    res = ad.read_h5ad(out)
    assert res.obsm["X_tsne_pca"].shape == (N, 2)
    params = res.uns["X_tsne_pca"]["params"]
    assert params["representation"] == "obsm/X_pca"
    assert params["negative_gradient_method"] == "bh" and params["init"] == "random"


def test_embed_npy_to_npy_and_h5ad(tmp_path):
    X, _ = blobs()
    src = tmp_path / "data.npy"
    np.save(src, X)
    out = tmp_path / "map.npy"
    assert run("embed", src, "-o", out, "-q", *FAST, "--seed", "3") == EXIT_OK
    Y = np.load(out)
    assert Y.shape == (N, 2) and np.isfinite(Y).all()
    # same seed, same map
    out2 = tmp_path / "map2.npy"
    assert run("embed", src, "-o", out2, "-q", *FAST, "--seed", "3") == EXIT_OK
    np.testing.assert_array_equal(Y, np.load(out2))
    # .h5ad from array input holds the data as X (so that `transform` can use it)
    out_h5 = tmp_path / "map.h5ad"
    assert run("embed", src, "-o", out_h5, "-q", *FAST) == EXIT_OK
    res = ad.read_h5ad(out_h5)
    np.testing.assert_array_equal(res.X, X)
    assert res.obsm["X_tsne"].shape == (N, 2)


@pytest.mark.parametrize("first_run", [True, False])
def test_embed_says_when_it_compiles(tmp_path, capsys, monkeypatch, first_run):
    """A first run after installation says that it compiles, and for how long."""
    import napari_tsne.engine.job as job
    import napari_tsne.engine.precompile as precompile

    for module in (job, precompile):
        monkeypatch.setattr(module, "kernels_need_compiling", lambda *groups: first_run)
    X, _ = blobs()
    src = tmp_path / "data.npy"
    np.save(src, X)
    assert run("embed", src, "-o", tmp_path / "map.npy", *FAST) == EXIT_OK
    err = capsys.readouterr().err
    assert (job.COMPILE_NOTICE in err) == first_run
    assert re.search(r"about \d+-\d+ s", job.COMPILE_NOTICE)


def test_embed_csv_with_labels(tmp_path):
    X, labels = blobs(d=4)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    df.insert(0, "cell_type", [f"type{v}" for v in labels])
    src = tmp_path / "table.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "map.csv"
    png = tmp_path / "map.png"
    assert run("embed", src, "-o", out, "--png", png, "-q", *FAST) == EXIT_OK
    back = pd.read_csv(out)
    assert list(back.columns) == ["dim_1", "dim_2"] and len(back) == N
    assert png.is_file()
    out_h5 = tmp_path / "map.h5ad"
    assert run("embed", src, "-o", out_h5, "-q", *FAST) == EXIT_OK
    res = ad.read_h5ad(out_h5)
    assert list(res.obs["cell_type"][:3]) == ["type0", "type1", "type2"]
    assert res.X.shape == (N, 4)


def test_embed_subsample(h5ad_file, tmp_path):
    out = tmp_path / "sub.npy"
    assert run("embed", h5ad_file, "-o", out, "--subsample", "30", "-q", *FAST) == EXIT_OK
    assert np.load(out).shape == (N, 2)
    out_h5 = tmp_path / "sub.h5ad"
    assert run("embed", h5ad_file, "-o", out_h5, "--subsample", "0.5", "-q", *FAST) == EXIT_OK
    assert ad.read_h5ad(out_h5).uns["tsne"]["params"]["subsample"] == 30


# ---------------------------------------------------------------------- transform
def test_transform_h5ad_and_npy(h5ad_file, tmp_path, capsys):
    ref = tmp_path / "ref.h5ad"
    assert (
        run("embed", h5ad_file, "-o", ref, "--representation", "obsm/X_pca", "-q", *FAST) == EXIT_OK
    )
    map_digest = digest(ref)
    # new samples in an .h5ad: the map's representation (obsm/X_pca) is used
    X, labels = blobs(n=12, noise_seed=1)
    new = ad.AnnData(
        X=X,
        obs=pd.DataFrame(
            {"label": [f"c{v}" for v in labels]}, index=[f"new{i}" for i in range(12)]
        ),
    )
    new.obsm["X_pca"] = X[:, :4].copy()
    new_path = tmp_path / "new.h5ad"
    new.write_h5ad(new_path)
    out = tmp_path / "placed.h5ad"
    png = tmp_path / "placed.png"
    code = run("transform", ref, new_path, "-o", out, "--n-iter", "20", "--png", png)
    assert code == EXIT_OK
    assert "transform" in capsys.readouterr().err
    both = ad.read_h5ad(out)  # the map's cells and the new ones, combined
    assert both.n_obs == N + 12 and list(both.obs_names[N:]) == list(new.obs_names)
    assert list(both.obs["batch"][N:]) == ["new"] * 12
    res = both[N:]
    assert res.obsm["X_tsne"].shape == (12, 2) and np.isfinite(res.obsm["X_tsne"]).all()
    assert res.uns["tsne"]["params"]["reference"] == "ref.h5ad"
    assert list(res.obs["label"]) == list(new.obs["label"])
    assert png.is_file()
    assert digest(ref) == map_digest  # the map is only read
    # placed points land next to their own cluster of the map
    ref_ad = ad.read_h5ad(ref)
    Y_ref = ref_ad.obsm["X_tsne"]
    ref_labels = np.asarray(ref_ad.obs["label"]).astype(str)
    d = ((res.obsm["X_tsne"][:, None, :] - Y_ref[None]) ** 2).sum(-1)
    nearest = ref_labels[d.argmin(axis=1)]
    assert (nearest == np.asarray(res.obs["label"])).mean() >= 0.9
    # .npy input of the right width, .npy output
    src = tmp_path / "new.npy"
    np.save(src, X[:, :4])
    out_npy = tmp_path / "placed.npy"
    assert run("transform", ref, src, "-o", out_npy, "--n-iter", "0", "-q") == EXIT_OK
    assert np.load(out_npy).shape == (12, 2)


def test_transform_errors(h5ad_file, tmp_path, capsys):
    ref = tmp_path / "ref.h5ad"
    assert run("embed", h5ad_file, "-o", ref, "-q", *FAST) == EXIT_OK
    before = digest(ref)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 3)))
    assert run("transform", ref, wrong, "-o", tmp_path / "x.npy", "-q") == EXIT_USAGE
    assert "features" in capsys.readouterr().err
    # the map file is never the output, not even with --overwrite
    good = tmp_path / "good.npy"
    np.save(good, blobs(n=5)[0])
    assert run("transform", ref, good, "-o", ref, "--overwrite", "-q") == EXIT_USAGE
    assert "map file" in capsys.readouterr().err
    assert digest(ref) == before
    # a map key that is not there
    assert run("transform", ref, good, "-o", tmp_path / "y.npy", "--key", "X_umap") == EXIT_USAGE
    assert "obsm['X_umap']" in capsys.readouterr().err
    # the map must be an .h5ad file
    assert run("transform", good, good, "-o", tmp_path / "z.npy") == EXIT_USAGE


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "missing.h5ad", "No such file"),
        (lambda d: (d / "data.txt").write_text("1,2\n") and d / "data.txt", "unsupported"),
        (lambda d: (d / "fake.h5ad").write_text("not hdf5") and d / "fake.h5ad", "HDF5"),
        (lambda d: (d / "words.csv").write_text("a,b\nx,y\nz,w\n") and d / "words.csv", "numeric"),
        (lambda d: (d / "empty.npy").write_bytes(b"") or d / "empty.npy", "empty"),
    ],
)
def test_bad_input_exit_2(tmp_path, capsys, make, fragment):
    src = make(tmp_path)
    out = tmp_path / "out.npy"
    assert run("embed", src, "-o", out, *FAST) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "error:" in err and fragment in err and "Traceback" not in err
    assert not out.exists()


def test_bad_parameters_exit_2(h5ad_file, tmp_path, capsys):
    out = tmp_path / "out.npy"
    assert run("embed", h5ad_file, "-o", out, "--perplexity", "-3") == EXIT_USAGE
    assert "perplexity" in capsys.readouterr().err
    assert run("embed", h5ad_file, "-o", out, "--representation", "obsm/nope") == EXIT_USAGE
    assert "X_pca" in capsys.readouterr().err  # lists what is available
    assert run("embed", h5ad_file, "-o", out, "--metric", "hamming") == EXIT_USAGE
    assert run("embed", h5ad_file, "-o", tmp_path / "out.xlsx") == EXIT_USAGE
    assert run("embed", h5ad_file, "-o", tmp_path / "nofolder" / "o.npy") == EXIT_USAGE
    assert run("embed", h5ad_file, "-o", out, "--png", tmp_path / "p.gif") == EXIT_USAGE
    assert (
        run("embed", h5ad_file, "-o", out, "--color", "nope", "--png", tmp_path / "p.png")
        == EXIT_USAGE
    )
    assert "label" in capsys.readouterr().err
    assert run("embed", h5ad_file, "-o", out, "--subsample", "1000", *FAST) == EXIT_USAGE
    with pytest.raises(SystemExit) as exc:  # argparse: not a number
        run("embed", h5ad_file, "-o", out, "--perplexity", "abc")
    assert exc.value.code == EXIT_USAGE
    assert not out.exists()


def test_no_overwrite(h5ad_file, tmp_path, capsys):
    before = digest(h5ad_file)
    # OUTPUT = INPUT: refused without --overwrite
    assert run("embed", h5ad_file, "-o", h5ad_file, *FAST) == EXIT_USAGE
    assert "input file" in capsys.readouterr().err
    assert digest(h5ad_file) == before
    # an existing OUTPUT is kept
    out = tmp_path / "out.npy"
    out.write_bytes(b"precious")
    assert run("embed", h5ad_file, "-o", out, *FAST) == EXIT_USAGE
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    png = tmp_path / "fig.png"
    png.write_bytes(b"old figure")
    assert run("embed", h5ad_file, "-o", tmp_path / "new.npy", "--png", png, *FAST) == EXIT_USAGE
    assert png.read_bytes() == b"old figure" and not (tmp_path / "new.npy").exists()
    # --overwrite replaces OUTPUT ...
    assert run("embed", h5ad_file, "-o", out, "-q", "--overwrite", *FAST) == EXIT_OK
    assert np.load(out).shape == (N, 2)
    # ... and with OUTPUT = INPUT adds the map to the input file, keeping the rest
    assert run("embed", h5ad_file, "-o", h5ad_file, "-q", "--overwrite", *FAST) == EXIT_OK
    res = ad.read_h5ad(h5ad_file)
    assert res.obsm["X_tsne"].shape == (N, 2) and res.uns["note"] == "keep me"


def test_runtime_failure_exit_1(h5ad_file, tmp_path, capsys, monkeypatch):
    from napari_tsne.engine import TSNE

    def boom(self, X, *a, **k):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(TSNE, "fit", boom)
    out = tmp_path / "out.npy"
    assert run("embed", h5ad_file, "-o", out, "-q") == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "kernel exploded" in err and "Traceback" not in err
    assert not out.exists()


def test_write_failure_exit_1(h5ad_file, tmp_path, capsys, monkeypatch):
    from napari_tsne.io import DataWriteError

    def fail(*a, **k):
        raise DataWriteError("Could not save: disk full")

    monkeypatch.setattr(cli, "write_result", fail)
    assert run("embed", h5ad_file, "-o", tmp_path / "o.npy", "-q", *FAST) == EXIT_FAILURE
    assert "disk full" in capsys.readouterr().err


def test_progress_printer_in_place():
    import io

    from napari_tsne.plotting import ProgressPrinter

    buf = io.StringIO()
    p = ProgressPrinter(100, stream=buf, in_place=True, width=10)
    p(50, 1.5, None)
    p(100, 1.25, None)
    p.close()
    text = buf.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "[#####.....]  50/100" in text and "KL 1.2500" in text
    buf = io.StringIO()
    p = ProgressPrinter(100, stream=buf, in_place=False, min_interval=1e9)
    for i in range(10, 101, 10):
        p(i, 1.0, None)
    p.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and "100/100" in lines[-1]  # first and last only


def test_console_script_subprocess(tmp_path):
    """The real entry point: exit status 2 and a one-line message, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_tsne.cli",
            "embed",
            str(tmp_path / "nope.h5ad"),
            "-o",
            str(tmp_path / "o.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == EXIT_USAGE
    assert "error: No such file" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "napari_tsne.cli", "embed", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "--early-exaggeration-iter" in proc.stdout


def test_front_end_defaults_are_the_estimators():
    # the CLI, the widget and the demo take their defaults from EMBED_OPTIONS: they
    # must run the schedule and settings that TSNE() runs
    import inspect

    from napari_tsne import TSNE
    from napari_tsne._options import EMBED_OPTIONS

    params = inspect.signature(TSNE.__init__).parameters
    shared = [o for o in EMBED_OPTIONS if o.name in params]
    assert {"n_iter", "early_exaggeration_iter", "perplexity"} <= {o.name for o in shared}
    for option in shared:
        assert option.default == params[option.name].default, option.name
