"""napari with a million points: the real widget (opened as the Plugins menu opens it)
in a real window under Xvfb maps the realistic million (``datasets.realistic_mixture``,
an in-memory AnnData through ``napari_tsne.view``) with live updates, and records

* the main thread's time per live update (the widget drawing new coordinates: the
  layer update and the repaint it causes), median and largest, and of the draw of all
  points when the run ends (live draws show a subset of a map this large);
* the event loop's longest stall (a 10 ms QTimer's longest gap) during the run, and
  while the user works with the finished map (hover: moving the mouse over the canvas;
  selection: a lasso; colouring: by a class and by a number);
* the napari process's peak resident memory.

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_napari_scale.py [--n 1000000]

Targets (issue #27): at most 100 ms of main-thread time per update, no stall over
250 ms, peak memory at most 8 GB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


class Gaps:
    """The longest gap between ticks of a 10 ms QTimer (the event loop's stalls)."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()

    def longest(self, since: float, until: float) -> float:
        t = [x for x in self.ticks if since <= x <= until]
        return float(np.diff([since, *t, until]).max()) if t else until - since


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-iter", type=int, default=750)
    args = ap.parse_args(argv)

    import anndata
    import napari
    import pandas as pd
    from datasets import FASHION_MNIST_CLASSES, realistic_mixture
    from qtpy.QtWidgets import QApplication

    import napari_tsne

    X, component, label = realistic_mixture(args.n)
    adata = anndata.AnnData(
        obs=pd.DataFrame(
            {
                "class": pd.Categorical(np.asarray(FASHION_MNIST_CLASSES)[label]),
                "component": component.astype(np.float64),
            }
        )
    )
    adata.obsm["X_pca"] = X
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    gaps = Gaps()
    t_start = time.perf_counter()
    _, w = napari_tsne.view(
        adata, viewer=viewer, use_rep="X_pca", color="class", n_jobs=args.threads,
        n_iter=args.n_iter,
    )  # fmt: skip

    # the main thread's time of each map draw (the widget's _flush_draw + the repaint)
    draws: list[float] = []
    flush = w._flush_draw
    canvas = viewer.window._qt_viewer.canvas.native

    def timed_flush():
        t0 = time.perf_counter()
        flush()
        canvas.repaint()
        draws.append(time.perf_counter() - t0)

    w._flush_draw = timed_flush
    # the run's end: the map with all its points (live draws show a subset of a large
    # map, see run_controller.LIVE_MAX_POINTS)
    final: list[tuple[float, float]] = []
    show_all = w._show_all_points

    def timed_show_all():
        t0 = time.perf_counter()
        show_all()
        canvas.repaint()
        final.append((t0, time.perf_counter() - t0))

    w._show_all_points = timed_show_all
    w.run()
    t_run = time.perf_counter()
    while w.is_running:
        QApplication.processEvents()
        time.sleep(0.005)
    t_end = time.perf_counter()
    # after the first draw of the layer, until the final draw of all points
    t_final = final[0][0] if final else t_end
    run_stall = gaps.longest(t_run + 5.0, t_final)
    final_draw = final[0][1] if final else float("nan")
    first_draw = draws[0] if draws else float("nan")

    def stall_of(action) -> float:
        t0 = time.perf_counter()
        action()
        for _ in range(5):
            QApplication.processEvents()
            time.sleep(0.02)
        return gaps.longest(t0, time.perf_counter())

    coords = np.asarray(w.layer.data)
    centre = np.median(coords, axis=0)
    r = float(np.ptp(coords, axis=0).max()) / 10
    user = {
        "colour by a class": stall_of(lambda: setattr(w.colour_by, "value", "class")),
        "colour by a number": stall_of(lambda: setattr(w.colour_by, "value", "component")),
        "hover (status of the point under the cursor)": stall_of(
            lambda: setattr(viewer.cursor, "position", tuple(centre))
        ),
        "lasso selection": stall_of(
            lambda: w.select(np.flatnonzero(((coords - centre) ** 2).sum(1) < r * r))
        ),  # fmt: skip
    }
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"\n{args.n:,} points, {args.threads} threads, whole run {t_end - t_start:.0f} s")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| live updates drawn | {len(draws)} (skipped {w.n_skipped}) |")
    later = draws[1:] or [float("nan")]
    print(f"| first draw (the layer created) | {first_draw:.2f} s |")
    print(f"| main-thread time per live update, median | {statistics.median(later):.3f} s |")
    print(f"| main-thread time per live update, largest | {max(later):.3f} s |")
    print(f"| longest event-loop stall during the run | {run_stall:.3f} s |")
    print(f"| the run's end: all points drawn | {final_draw:.2f} s |")
    for name, s in user.items():
        print(f"| longest stall: {name} | {s:.3f} s |")
    print(f"| peak memory of the napari process | {peak_gb:.2f} GB |")
    viewer.close()


if __name__ == "__main__":
    main()
