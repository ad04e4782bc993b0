"""Map the user's ``n_jobs`` onto numba's thread pool, scipy.fft's workers and Python
threads running serial kernels on blocks of rows."""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

#: serialises engine work between threads (numba's workqueue threading layer must not
#: run parallel kernels from two threads at once): a widget's warm-up and its runs
ENGINE_LOCK = threading.RLock()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """``None`` or ``-1`` means all cores; ``-2`` all but one, as in scikit-learn."""
    n_cpu = numba.config.NUMBA_NUM_THREADS or os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return n_cpu
    if n_jobs < 0:
        return max(1, n_cpu + 1 + n_jobs)
    return max(1, min(int(n_jobs), n_cpu))


@contextlib.contextmanager
def numba_threads(n_jobs: int | None):
    """Run the body with numba's parallel loops limited to ``n_jobs`` threads."""
    previous = numba.get_num_threads()
    numba.set_num_threads(resolve_n_jobs(n_jobs))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def in_row_blocks(kernel, n: int, *args, n_jobs: int | None = None) -> None:
    """Call ``kernel(*args, start, stop)`` on blocks of ``range(n)`` from ``n_jobs``
    Python threads.

    For row-wise kernels that run once per map (P's bandwidth search, distances,
    ``sum p log p``): a serial ``nogil`` kernel driven by threads compiles in less than
    half the time of the same loop as a ``parallel=True`` kernel (measured: 0.8 s vs
    1.9 s for the bandwidth search), and that compilation is part of a user's first
    run. The kernel must write only its rows' places (race-free). Several blocks per
    thread balance rows of unequal cost. ``n_jobs=None``: as many threads as numba's
    parallel loops use here (see :func:`numba_threads`)."""
    threads = numba.get_num_threads() if n_jobs is None else resolve_n_jobs(n_jobs)
    if threads == 1 or n < 2 * threads:
        kernel(*args, 0, n)
        return
    n_blocks = min(n, 8 * threads)
    bounds = [n * b // n_blocks for b in range(n_blocks + 1)]
    with ThreadPoolExecutor(threads, thread_name_prefix="napari-tsne") as pool:
        blocks = [pool.submit(kernel, *args, bounds[b], bounds[b + 1]) for b in range(n_blocks)]
        for block in blocks:
            block.result()
