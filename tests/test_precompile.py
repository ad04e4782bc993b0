"""First runs: which kernel groups a run needs, helper processes compiling them (the
longest alone, the others together, none started twice), and the run waiting for them;
and that a helper's cache is what the run then uses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from napari_tsne.engine import precompile
from napari_tsne.engine.gradients.attractive import LOCALITY_MIN_N


def test_groups_a_run_needs():
    assert precompile.groups_for(500) == ["gradient", "exact"]
    # the FFT while the map is compact, Barnes-Hut once it is wider than a box per point
    assert precompile.groups_for(6_000) == ["gradient", "fft", "bh"]
    assert precompile.groups_for(20_000) == ["gradient", "fft", "bh"]
    assert precompile.groups_for(LOCALITY_MIN_N) == ["gradient", "fft", "bh", "order"]
    assert precompile.groups_for(20_000, method="fft") == ["gradient", "fft"]
    assert precompile.groups_for(20_000, 3) == ["gradient", "bh"]
    assert precompile.groups_for(20_000, method="exact") == ["gradient", "exact"]


def test_helpers_split_the_groups_and_are_not_started_twice(monkeypatch):
    started = []
    real_popen = subprocess.Popen

    def popen(args, **kw):
        started.append(args[3:])
        return real_popen([sys.executable, "-c", "import time; time.sleep(0.3)"], **kw)

    monkeypatch.setattr(precompile.subprocess, "Popen", popen)
    monkeypatch.setattr(precompile, "_RUNNING", {})
    first = precompile.compile_in_background(["gradient", "fft", "bh"], processes=2)
    assert started == [["bh"], ["gradient", "fft"]]
    # a run started meanwhile (the widget's warm-up is compiling) waits for those helpers
    second = precompile.compile_in_background(["gradient", "fft", "order"], processes=2)
    assert started[2:] == [["order"]] and len(second.processes) == 2
    assert first.wait(timeout=30) and second.wait(timeout=30)
    # at most `processes` helpers: the smaller batches are merged
    started.clear()
    monkeypatch.setattr(precompile, "_RUNNING", {})
    precompile.compile_in_background(["gradient", "fft", "bh"], processes=1).wait(timeout=30)
    assert len(started) == 1 and sorted(started[0]) == ["bh", "fft", "gradient"]


@pytest.mark.skipif(os.cpu_count() is None, reason="needs a CPU count")
def test_a_helper_fills_the_cache_the_run_then_uses(tmp_path):
    """A helper process compiles the "order" group into an empty cache folder; a fresh
    process with the same folder then finds the kernels there (nothing to compile)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    code = (
        "from napari_tsne.engine import precompile as p\n"
        "assert p.kernels_need_compiling(['order'])\n"
        "assert p.compile_in_background(['order'], processes=1).wait(timeout=600)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=900)
    check = (
        "from napari_tsne.engine import precompile as p\n"
        "import sys; sys.exit(1 if p.kernels_need_compiling(['order']) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", check], env=env, timeout=120).returncode == 0


def test_the_groups_hold_every_kernel_the_optimisation_compiles(tmp_path):
    """After the helpers' groups are compiled into an empty cache, the cache check says
    so (a check on a kernel the groups never compile made every later run start its
    helpers again), and a run in a fresh process compiles no gradient or optimiser
    kernel itself: its own compilations are P's and the neighbours' only."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    n = 1_500
    warm = f"from napari_tsne.engine import precompile as p\np.compile_here(p.groups_for({n}))\n"
    subprocess.run([sys.executable, "-c", warm], check=True, env=env, timeout=900)
    run = (
        "import sys, numpy as np\n"
        "from numba.core import event\n"
        "from napari_tsne.engine import precompile as p\n"
        f"assert not p.kernels_need_compiling(p.groups_for({n})), 'cache check'\n"
        "names = []\n"
        "class L(event.Listener):\n"
        "    def on_start(self, ev): names.append(ev.data['dispatcher'].py_func.__module__)\n"
        "    def on_end(self, ev): pass\n"
        "event.register('numba:compile', L())\n"
        "from napari_tsne import TSNE\n"
        f"X = np.random.default_rng(0).normal(size=({n}, 10))\n"
        "TSNE(n_iter=20, early_exaggeration_iter=10, random_state=0).fit(X)\n"
        "own = [m for m in names if m.startswith('napari_tsne.engine.gradients')"
        " or m.endswith('optimizer')]\n"
        "assert not own, own\n"
        "assert any(m.endswith('affinities') for m in names), names\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", run], env=env, timeout=600, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
