"""The paths without a window need no Qt: in a fresh interpreter where every Qt binding
and qtpy are unimportable, the headless demo, ``napari-tsne embed`` and a
Jupyter-style run with live callbacks all work."""

import os
import subprocess
import sys
import textwrap

import numpy as np

QT_MODULES = ("PyQt5", "PyQt6", "PySide2", "PySide6", "qtpy")

#: put in front of each script: refuses to import any Qt binding or qtpy
BLOCK_QT = textwrap.dedent(
    f"""
    import importlib.abc, sys

    class _NoQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {QT_MODULES!r}:
                raise ImportError(f"{{name}} is not installed (blocked by the test)")
            return None

    sys.meta_path.insert(0, _NoQt())
    """
)

#: appended to each script: fails if a Qt module got loaded after all
CHECK_NO_QT = textwrap.dedent(
    f"""
    loaded = [m for m in sys.modules if m.split(".")[0] in {QT_MODULES!r}]
    assert not loaded, loaded
    """
)


def run_without_qt(body: str, cwd) -> subprocess.CompletedProcess:
    script = BLOCK_QT + textwrap.dedent(body) + CHECK_NO_QT
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "MPLBACKEND": "Agg"}
    for name in ("NUMBA_CACHE_DIR", "PYTHONPATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,  # no DISPLAY: as on a server or in CI
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return out


def test_the_blocker_blocks(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", BLOCK_QT + "import qtpy"], capture_output=True, text=True
    )
    assert out.returncode != 0 and "blocked by the test" in out.stderr


def test_headless_demo_without_qt(tmp_path):
    out = run_without_qt(
        """
        from napari_tsne.cli import main
        code = main(["demo", "--headless", "-o", "demo"])
        assert code == 0, code
        """,
        tmp_path,
    )
    assert (tmp_path / "demo" / "digits_tsne.h5ad").stat().st_size > 0
    assert (tmp_path / "demo" / "digits_tsne.png").stat().st_size > 0
    assert "finished" in out.stdout


def test_embed_without_qt(tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 8))
    X[100:] += 6
    np.save(tmp_path / "data.npy", X)
    run_without_qt(
        """
        from napari_tsne.cli import main
        code = main(["embed", "data.npy", "-o", "map.h5ad", "--n-iter", "50",
                     "--early-exaggeration-iter", "50", "--png", "map.png"])
        assert code == 0, code
        """,
        tmp_path,
    )
    import anndata

    ad = anndata.read_h5ad(tmp_path / "map.h5ad")
    assert ad.obsm["X_tsne"].shape == (200, 2) and (tmp_path / "map.png").exists()


def test_notebook_style_run_with_live_callbacks_without_qt(tmp_path):
    run_without_qt(
        """
        import numpy as np
        from napari_tsne import TSNE
        from napari_tsne.plotting import LiveScatter

        rng = np.random.default_rng(0)
        X = np.concatenate([rng.normal(size=(150, 6)), rng.normal(size=(150, 6)) + 5])
        labels = np.repeat([0, 1], 150)
        live = LiveScatter(labels, display=False)
        seen = []
        tsne = TSNE(
            n_iter=60,
            early_exaggeration_iter=40,
            callbacks=[live, lambda it, kl, Y: seen.append(it)],
            callback_every=20,
            random_state=0,
        )
        Y = tsne.fit_transform(X)
        assert seen == [20, 40, 60, 80, 100], seen
        assert live.figure is not None
        live.figure.savefig("live.png")
        """,
        tmp_path,
    )
    assert (tmp_path / "live.png").stat().st_size > 0
