"""Map the user's ``n_jobs`` onto threads: numba's thread count (which
:func:`in_row_blocks` follows), scipy.fft's workers, and the Python threads that run
the engine's serial kernels on blocks of rows."""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

#: serialises engine work between threads (two at once would share the same cores and
#: numba's thread count): a widget's warm-up and its runs
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


#: worker threads of :func:`in_row_blocks` (started on first use, kept for the process)
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            most = numba.config.NUMBA_NUM_THREADS or os.cpu_count() or 1
            _POOL = ThreadPoolExecutor(max(1, most - 1), thread_name_prefix="napari-tsne")
        return _POOL


def in_row_blocks(
    kernel, n: int, *args, n_jobs: int | None = None, blocks_per_thread: int = 1
) -> None:
    """Call ``kernel(*args, start, stop)`` on blocks of ``range(n)`` from ``n_jobs``
    threads (this one and ``n_jobs - 1`` pool threads; block ``b`` on thread
    ``b % n_jobs``).

    Every parallel loop of the engine is a serial ``nogil`` kernel driven this way
    rather than a ``parallel=True`` kernel: one compiles in a third to a half of the time
    (P's bandwidth search 0.5 s instead of 2.6 s, the Barnes-Hut walk 0.8 s instead of
    2.6 s), and compilation is part of a user's first run; the loops run as fast. The
    kernel must write only its rows' places (race-free). ``blocks_per_thread`` > 1
    balances rows of unequal cost at ~20 us of dispatch per block (once-per-map
    loops); ``n_jobs=None``: as many threads as numba's parallel loops use here (see
    :func:`numba_threads`)."""
    threads = numba.get_num_threads() if n_jobs is None else resolve_n_jobs(n_jobs)
    threads = min(threads, n)
    if threads <= 1:
        kernel(*args, 0, n)
        return
    n_blocks = threads * max(1, blocks_per_thread)
    bounds = [n * b // n_blocks for b in range(n_blocks + 1)]

    def share(t: int) -> None:
        for b in range(t, n_blocks, threads):
            kernel(*args, bounds[b], bounds[b + 1])

    others = [_pool().submit(share, t) for t in range(1, threads)]
    try:
        share(0)
    finally:
        for other in others:
            other.result()
