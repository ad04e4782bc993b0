"""The run controller: starts the engine's job (:class:`~napari_tsne.engine.job.TSNEJob`)
in a napari ``thread_worker``, passes the live values (exaggeration, update interval)
and the stop flag to it, and handles the worker's signals in the main thread:
coordinates go to the map layer, texts to the status line and napari's progress bar.
No schedule lives here: the job plans the phases."""

from __future__ import annotations

import dataclasses
import html
import math
import os
import sys
import threading
import time

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_warning

from ...engine import TSNE, TSNEInputError, TSNEWarning
from ...engine.eta import format_seconds
from ...engine.job import Result, TSNEJob, Update
from ..sources import SourceError

#: largest share of the main thread's time that live draws of the map may take
DRAW_SHARE = 0.5
#: a live draw shows at most this many points of a larger map (a fixed random subset,
#: the same in every draw of a run); the run's end shows them all. A million points
#: cost napari 0.4-0.9 s per update and Mesa's software OpenGL 2.7 s per repaint
#: (50,000: 0.03 + 0.18 s); the shape of a forming map shows as well in a subset.
LIVE_MAX_POINTS = 100_000
#: niceness added to the engine's thread while it runs, so that the GUI thread gets
#: the CPU first when both want it (Linux schedules threads separately)
WORKER_NICENESS = 10


def _close_progress(pbar) -> None:
    """Close a finished worker's napari progress bar (None: nothing to close)."""
    if pbar is not None:
        try:
            pbar.close()
        except Exception:  # pragma: no cover - already gone with its window
            pass


class _background_priority:
    """Lower the calling thread's CPU priority (Linux) for the duration of a block.

    The engine then only uses CPU time the GUI thread does not need, which keeps
    the viewer responsive on machines with few cores. Afterwards the priority is
    restored if the system allows it (raising priority back may need privileges;
    then the pool thread simply stays at the lower priority).
    """

    def __enter__(self):
        self.tid = None
        if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
            return self
        try:
            self.tid = threading.get_native_id()
            self.old = os.getpriority(os.PRIO_PROCESS, self.tid)
            os.setpriority(os.PRIO_PROCESS, self.tid, min(19, self.old + WORKER_NICENESS))
        except OSError:
            self.tid = None
        return self

    def __exit__(self, *exc):
        if self.tid is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, self.tid, self.old)
            except OSError:
                pass
        return False


@thread_worker(start_thread=False, ignore_errors=True)
def _run_worker(job: TSNEJob, stop: threading.Event):
    """The job's steps in a worker thread; a failure becomes the Result's message."""
    done = job.total_iterations
    try:
        with _background_priority():
            return (yield from job.steps(stop))
    except (TSNEInputError, ValueError, MemoryError) as err:
        return Result(error=str(err), iterations=job.total_iterations - done)
    except Exception as err:  # shown to the user instead of a traceback
        return Result(error=f"{type(err).__name__}: {err}", iterations=job.total_iterations - done)


class RunControllerMixin:
    """Run, Stop, Continue and the worker's signals (part of :class:`TSNEWidget`)."""

    @property
    def is_running(self) -> bool:
        return self._worker is not None

    @property
    def worker(self):
        return self._worker

    def run(self, *args):
        """Start a new map (the Run button)."""
        if self.is_running:
            self._info("A run is already going: press Stop first (Run was ignored).")
            return
        if self._add_worker is not None:
            self._info("Samples are being added; wait until that has finished.")
            return
        try:
            src = self._checked_source(
                self.source.value, self.file.value, self.representation.value, self._file_cache
            )
        except SourceError as err:
            self._error(str(err))
            return
        params = self._params()
        sample = int(self.sample_size.value) if self.subsample.value else None
        if sample is not None and sample >= src.n_samples:
            sample = None  # the sample would be everything
        try:
            n_fit = sample if sample is not None else src.n_samples
            tsne = TSNE(**params, subsample=sample)
            tsne._validated_params(n_fit)
            job = tsne.job(src.X, live=self._live)
        except (TSNEInputError, ValueError) as err:
            self._error(str(err))
            return
        self._place_map(src)
        self._source = src
        self._run = job
        self._n_added = 0
        self._added = []
        self._view_extent = None
        self._memory_adata = None
        msg = f"Running t-SNE of {src.describe()}."
        self._info(msg)
        self._start(job)

    def stop(self, *args):
        """Stop after the current chunk; the map keeps its last coordinates."""
        if not self.is_running:
            self._info("Nothing is running.")
            return
        self._stop_event.set()
        self.status.value = "stopping after the current update …"

    def continue_run(self, *args):
        """Continue the map: resume a stopped run, or run ``iterations`` more."""
        if self.is_running:
            self._info("A run is already going.")
            return
        if self._run is None or self._run.emb is None or self._layer is None:
            self._error("Nothing to continue: press Run to make a map first.")
            return
        if self._n_added:
            self._error(
                "Continue is not available after adding samples (the added samples "
                "are placed into a fixed map). Press Run to make a new map."
            )
            return
        self._run.more(int(self.n_iter.value))
        self._info("Continuing the map.")
        self._start(self._run)

    def _start(self, job: TSNEJob):
        self._stop_event = threading.Event()
        self._run_ended = False
        self._cancelled = False
        self._pending_coords = None
        self._latest_full = None
        self._live.set(
            exaggeration=float(self.exaggeration.value),
            update_interval=int(self.update_interval.value),
        )
        worker = _run_worker(job, self._stop_event)
        self._worker = worker
        worker.yielded.connect(lambda u: self._dispatch(self._on_yielded, u))
        worker.returned.connect(lambda r: self._dispatch(self._on_returned, r))
        worker.errored.connect(lambda e: self._dispatch(self._on_errored, e))
        worker.aborted.connect(lambda: self._dispatch(self._on_aborted))
        worker.finished.connect(lambda: self._dispatch(self._on_finished))
        worker.warned.connect(lambda w: self._dispatch(self._on_warned, w))
        total = job.planned()
        try:
            self._pbar = progress(total=max(total, 1), desc="t-SNE: starting")
        except Exception:  # pragma: no cover - progress display is optional
            self._pbar = None
        self.status.value = "starting …"
        self._sync_enabled()
        worker.start()

    # --------------------------------------------------------------- slots

    def _dispatch(self, slot, *args):
        """Run worker slots one at a time, in order.

        napari's progress bar calls ``QApplication.processEvents()`` when it is
        updated, which would run the next queued worker signal *inside* the current
        slot; here such nested signals are queued and handled after the current one.
        """
        self._slot_queue.append((slot, args))
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._slot_queue:
                fn, fargs = self._slot_queue.popleft()
                fn(*fargs)
        finally:
            self._dispatching = False

    def _on_yielded(self, update: Update):
        if not self._alive() or self._cancelled:
            return
        if update.kind == "stage":
            self.status.value = update.text
            self._set_progress(None, update.text, now=True)
            return
        # Drawing (napari's layer update + repaint) can be slower than the engine, so
        # the map is redrawn at most every `draw_interval` seconds (see there), always
        # with the newest coordinates; updates replaced by a newer one before they were
        # drawn are skipped (no backlog, and the main thread keeps time for the user).
        if self._pending_coords is not None:
            self.n_skipped += 1
        self._latest_full = update
        update = self._live_subset(update)
        self._pending_coords = update
        now = time.perf_counter()
        due = self._last_draw + self.draw_interval
        structural = self._layer is None or len(self._layer.data) != len(update.coords)
        if structural or now >= due:
            self._flush_draw()
        elif not self._draw_scheduled:
            from qtpy.QtCore import QTimer

            self._draw_scheduled = True
            QTimer.singleShot(int((due - now) * 1000) + 1, self._scheduled_draw)

    def _live_subset(self, update: Update) -> Update:
        """*update* with at most :data:`LIVE_MAX_POINTS` of its points (see there)."""
        n = len(update.coords)
        if n <= LIVE_MAX_POINTS:
            return update
        if self._live_pick is None or self._live_pick[0] != n:
            keep = np.random.default_rng(0).choice(n, LIVE_MAX_POINTS, replace=False)
            self._live_pick = (n, np.sort(keep))
        keep = self._live_pick[1]
        rows = keep if update.rows is None else update.rows[keep]
        return dataclasses.replace(update, coords=update.coords[keep], rows=rows)

    def _show_all_points(self) -> None:
        """After a run that was drawn live as a subset: the map with all its points."""
        full, self._latest_full = self._latest_full, None
        if full is not None and len(full.coords) > LIVE_MAX_POINTS and self._alive():
            self._show_coords(full)

    def _scheduled_draw(self):
        self._draw_scheduled = False
        wait = self._last_draw + self.draw_interval - time.perf_counter()
        if wait > 0.001:  # a draw came in between, or the interval grew: not yet
            from qtpy.QtCore import QTimer

            self._draw_scheduled = True
            QTimer.singleShot(int(wait * 1000) + 1, self._scheduled_draw)
        elif self._dispatching:  # a worker slot is running: draw after it
            self._dispatch(self._flush_draw)
        else:
            self._flush_draw()

    @property
    def draw_interval(self) -> float:
        """Seconds between two live draws of the map: ``min_draw_interval``, or longer
        when a draw costs the main thread more than ``DRAW_SHARE`` of that time (a
        million points drawn by software OpenGL take seconds): the rate adapts to what
        the canvas can draw, and the window keeps most of its time for the user."""
        return max(self.min_draw_interval, self._draw_cost / DRAW_SHARE)

    def _flush_draw(self):
        update, self._pending_coords = self._pending_coords, None
        if update is None or not self._alive() or self._cancelled:
            return
        started = time.perf_counter()
        self._show_coords(update)
        self._last_draw = time.perf_counter()
        from qtpy.QtCore import QTimer

        # the draw's cost to the main thread: until the event loop is free again (the
        # layer update above, then the repaint Qt runs before the next timer)
        QTimer.singleShot(0, lambda: self._measured_draw(started))
        # texts and the progress bar are updated in a later turn of the event loop, so
        # that the map's repaint and theirs do not add up into one long pause
        QTimer.singleShot(20, lambda: self._show_progress_text(update))

    def _measured_draw(self, started: float) -> None:
        cost = time.perf_counter() - started
        self.draw_costs.append(cost)
        self._draw_cost = cost if self._draw_cost == 0.0 else 0.5 * (self._draw_cost + cost)

    def _show_progress_text(self, update: Update):
        if self._closed:
            return
        if not self.is_running or self._run_ended:  # the final status stays
            return
        kl = "" if math.isnan(update.kl) else f" — KL {update.kl:.3f}"
        left = format_seconds(update.seconds_left)
        left = f" — {left}" if left else ""
        try:
            self.status.value = f"{update.phase}: iteration {update.iteration}{kl}{left}"
        except RuntimeError:  # widget deleted
            return
        self._set_progress(update, f"t-SNE: {update.phase}{kl}{left}")

    def _set_progress(self, update: Update | None, text: str, *, now: bool = False):
        """Show progress in napari's activity dock.

        napari's progress bar repaints the window (``processEvents``) whenever it
        changes, so it is changed at most every `progress_interval` seconds, right
        after a map update (one repaint shows both), or at once for stage changes.
        """
        pbar = self._pbar
        if pbar is None:
            return
        t = time.perf_counter()
        if not now and t - self._progress_last < self.progress_interval:
            return
        self._progress_last = t
        try:
            if update is not None:
                if update.total and pbar.total != update.total:
                    pbar.total = max(update.total, 1)
                delta = update.done - pbar.n
                if delta > 0:
                    pbar.update(delta)
            if text != getattr(pbar, "desc", None):
                pbar.set_description(text)
        except Exception:  # pragma: no cover - display only
            pass

    def _on_returned(self, result: Result):
        if self._closed:
            return
        self._flush_draw()  # show the last coordinates now
        self._show_all_points()
        self._sync_layer()
        if self._alive() and self._map_shown():
            # fit the final map to the canvas as it is now (the window or the dock may
            # have been resized since the last fit during the run)
            self._view_extent = None
            self._fit_view(np.asarray(self._layer.data))
        # the worker may signal `finished` only later (it runs at a lower priority):
        # progress texts still scheduled must not replace the final status meanwhile
        self._run_ended = True
        if result is None:
            return
        if result.error:
            self._error(f"The run failed: {result.error}")
            self.status.value = "failed"
            return
        if self._layer is not None and self._alive():
            self._layer.metadata.update(self._layer_metadata(self._original_rows(self._shown_rows)))
            if self._source.adata is not None:
                self._fill_memory_adata()
        if (
            self._source is not None
            and self._source.path
            and self._path_of(self.export_path.value) is None
        ):
            self.export_path.value = self._source.path
        emb = self._run.emb if self._run is not None else None
        kl = "" if emb is None or math.isnan(emb.kl_divergence) else f", KL {emb.kl_divergence:.3f}"
        if self.message.value.startswith(("Running t-SNE", "Continuing")):
            self.message.value = ""
        if result.stopped:
            if self._layer is None:
                self.status.value = "cancelled"
            else:
                self.status.value = f"stopped at iteration {emb.n_iter if emb else 0}{kl}"
        elif result.converged:
            self.status.value = f"converged after {emb.n_iter} iterations{kl}"
        else:
            self.status.value = f"done: {emb.n_iter if emb else 0} iterations{kl}"

    def _on_warned(self, warning: tuple):
        """The engine's warnings (:class:`TSNEWarning`: a parameter adjusted, a slower
        search chosen) go to the message line and to napari's notifications (the
        message line sits at the foot of a long dock) as they happen; other libraries'
        warnings raised in the worker are not the user's business."""
        message, category = warning[0], warning[1]
        if self._closed or not isinstance(category, type):
            return
        if issubclass(category, TSNEWarning):
            self._info(f"<span style='color:#e8a33e'>⚠ {html.escape(str(message))}</span>")
            if self._alive():
                show_warning(str(message))

    def _on_errored(self, err):
        if not self._closed:
            self._error(f"The run failed: {err}")

    def _on_aborted(self, *args):
        if not self._closed:
            self.status.value = "cancelled"

    def _on_finished(self, *args):
        if not self._closed:
            self._flush_draw()
            self._show_all_points()
            self._sync_layer()
        self._worker = None
        _close_progress(self._pbar)
        self._pbar = None
        if self._closed:
            return
        try:
            self._sync_enabled()
        except RuntimeError:  # widgets already deleted
            pass

    def wait(self, timeout: float = 60.0) -> bool:
        """Block (processing Qt events) until the current run/add has finished."""
        from qtpy.QtWidgets import QApplication

        t0 = time.perf_counter()
        while self.is_running or self._add_worker is not None:
            QApplication.processEvents()
            time.sleep(0.005)
            if time.perf_counter() - t0 > timeout:
                return False
        return True
