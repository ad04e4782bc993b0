"""Compile a run's numba kernels ahead of its first gradient (or load them from numba's
on-disk cache), so that a first map after installation waits as little as possible.

The kernels come in groups (:data:`GROUPS`): the gradient's attractive term, the KL
and the optimiser step, which every map needs; one group per repulsion method; and the
locality order of large maps. A run compiles only the groups it uses
(:func:`groups_for`), and on a first run it compiles them in **other processes**
(:func:`compile_in_background`) while this one reads the data, searches the
neighbours and computes P (compiling those kernels itself): numba compiles in Python,
holding one core per process, and the groups are independent, so two cores do them in
about half the time. Each helper process writes numba's cache, where this process then
finds the kernels (:meth:`BackgroundCompile.wait`, before the first gradient). A
helper that fails costs nothing but time: this process then compiles what it needs
itself. The numbers: ``benchmarks/bench_first_run.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

from ._threads import ENGINE_LOCK

__all__ = [
    "GROUPS",
    "BackgroundCompile",
    "compile_in_background",
    "compile_here",
    "groups_for",
    "kernels_need_compiling",
]

#: the kernel groups, each compiled by :func:`_warm` on tiny inputs of the dtypes a real
#: run passes (P: float32 values, int32 indices; the map: float64)
GROUPS = ("gradient", "fft", "bh", "exact", "order")
#: compiled in a process of its own (the longest: ~10 s of a 6,000-point first run)
_ALONE = ("bh",)


def _tiny_P(n: int = 60, k: int = 6, seed: int = 0) -> sp.csr_matrix:
    """A symmetric, normalised P like the engine's (float32 values, int32 indices)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), k)
    cols = (rows + rng.integers(1, n, size=n * k)) % n
    P = sp.csr_matrix((np.ones(n * k), (rows, cols)), shape=(n, n))
    P = P + P.T
    P.data = (P.data / P.data.sum()).astype(np.float32)
    P.indices = P.indices.astype(np.int32)
    P.indptr = P.indptr.astype(np.int32)
    return P


def _warm(group: str) -> None:
    """Run the kernels of *group* once (compiles them, or loads them from the cache).

    Each group runs its own kernels only: a helper compiling the Barnes-Hut group
    does not compile the attractive term again (2.5 s of a first run when it did)."""
    from .gradients import RepulsionParams, attractive_forces, p_log_p, repulsion
    from .gradients.attractive import MapOrder
    from .optimizer import OptimizerState, _step

    P = _tiny_P()
    Y = np.random.default_rng(1).normal(size=(P.shape[0], 2))
    if group == "order":
        MapOrder(P, reorder_every=1).attractive_forces(Y, 1.0, True)
    elif group == "gradient":  # what every gradient step runs, the same types as a run
        forces, _ = attractive_forces(P.indptr, P.indices, P.data, Y, Y, 1.0, True)
        p_log_p(P.indptr, P.data)
        state = OptimizerState.fresh(Y.shape)
        _step(Y, forces, state.update, state.gains, 10.0, 0.5, 0.01, 5.0)
    else:
        repulsion(group, Y, Y, True, 1.0, RepulsionParams())


def groups_for(n: int, n_components: int = 2, method: str = "auto") -> list[str]:
    """The kernel groups a map of *n* points needs (see :data:`GROUPS`)."""
    from .gradients import BH_OR_FFT, resolve_method
    from .gradients.attractive import LOCALITY_MIN_N

    resolved = resolve_method(method, n, n_components)
    groups = ["gradient"]
    groups += ["fft", "bh"] if resolved == BH_OR_FFT else [resolved]
    if n >= LOCALITY_MIN_N:
        groups.append("order")
    return list(dict.fromkeys(groups))


def compile_here(groups=GROUPS) -> None:
    """Compile (or load) the kernels of *groups* in this process."""
    with ENGINE_LOCK:
        for group in groups:
            _warm(group)


class BackgroundCompile:
    """Helper processes compiling kernel groups into numba's cache."""

    def __init__(self, processes: list[subprocess.Popen], groups: list[str]):
        self.processes = processes
        self.groups = groups
        self.started = time.perf_counter()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every helper has finished; True if all succeeded (False: the run
        compiles what is missing itself)."""
        ok = True
        for proc in self.processes:
            try:
                ok &= proc.wait(timeout=timeout) == 0
            except subprocess.TimeoutExpired:
                proc.kill()
                ok = False
        return ok

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()


_CHILD = (
    "import sys; from napari_tsne.engine.precompile import _warm\nfor g in sys.argv[1:]: _warm(g)"
)


#: helpers of this process still compiling, by group (a run started while the widget's
#: warm-up compiles waits for those helpers instead of starting its own)
_RUNNING: dict[str, subprocess.Popen] = {}


def compile_in_background(groups, processes: int | None = None) -> BackgroundCompile:
    """Start helper processes compiling *groups* (the longest on its own, the others
    together; at most *processes*, default the CPU count). They inherit this process's
    environment, numba's cache folder included. Groups that helpers started earlier are
    still compiling are not started again: the handle waits for those helpers too."""
    groups = [g for g in dict.fromkeys(groups) if g in GROUPS]
    running = {g: p for g, p in _RUNNING.items() if p.poll() is None}
    _RUNNING.clear()
    _RUNNING.update(running)
    earlier = list({id(p): p for g, p in running.items() if g in groups}.values())
    groups = [g for g in groups if g not in running]
    alone = [[g] for g in groups if g in _ALONE]
    rest = [g for g in groups if g not in _ALONE]
    batches = alone + ([rest] if rest else [])
    limit = max(1, processes or os.cpu_count() or 1)
    while len(batches) > limit:  # merge the two smallest
        batches.sort(key=len)
        batches = [batches[0] + batches[1], *batches[2:]]
    procs = []
    for batch in batches:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *batch],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        _RUNNING.update(dict.fromkeys(batch, proc))
    return BackgroundCompile(earlier + procs, groups)


def _representatives(group: str) -> list:
    """Kernels whose cache says whether *group* is compiled."""
    from . import optimizer
    from .gradients import attractive

    if group == "gradient":
        return [optimizer._step, attractive._forces_2d]
    if group == "fft":
        from .gradients import fft

        return [fft._spread_2d]
    if group == "bh":
        from .gradients import barnes_hut

        return [barnes_hut._bh_forces_2d_quad]  # what 2-D maps (the ones warmed) use
    if group == "exact":
        from .gradients import exact

        return [exact._exact_2d_cauchy]
    if group == "order":
        return [attractive._morton_rows]
    return []


def kernels_need_compiling(groups=("gradient",)) -> bool:
    """True if numba has no on-disk cache of the kernels of *groups* yet (a first run,
    or the first run of a method)."""
    try:
        dispatchers = [d for g in groups for d in _representatives(g)]
        for disp in dispatchers:
            if disp.signatures:
                continue
            cache = getattr(disp, "_cache", None)
            index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
            if index is None or not os.path.exists(index):
                return True
        return False
    except Exception:  # pragma: no cover - numba internals changed
        return False
