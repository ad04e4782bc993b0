"""Map the user's ``n_jobs`` onto numba's thread pool (and scipy.fft workers)."""

from __future__ import annotations

import contextlib
import os
import threading

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
