"""Where to draw the map beside its source: the cost of a live update of the map in
napari's own canvas (the map over the image) and in the map view (a second canvas
docked beside it), measured in one window under Xvfb.

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_map_view.py [--points 100000]

A live update writes new coordinates into the layer and repaints; the main thread's
time per update is measured around ``_move_points`` plus the repaint it causes
(``processEvents`` until the canvas has drawn), median of repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication
    from skimage import data

    from napari_tsne.plugin.widget.map_view import MapView

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 900)
    viewer.add_image(data.hubble_deep_field(), name="image")
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(args.points, 2)) * 30
    results = {}
    for where in ("napari's canvas", "map view"):
        if where == "map view":
            view = MapView(viewer)
            model, canvas = view.model, view.qt_viewer.canvas
        else:
            model, canvas = viewer, viewer.window._qt_viewer.canvas
        layer = model.add_points(coords.copy(), size=1.0, border_width=0)
        for _ in range(20):
            QApplication.processEvents()
        times = []
        for k in range(args.repeats):
            t0 = time.perf_counter()
            layer.data[...] = coords * (1 + 0.01 * (k % 7))
            layer.refresh()
            canvas.native.repaint()  # draw now, as the event loop would
            QApplication.processEvents()
            times.append(time.perf_counter() - t0)
        results[where] = statistics.median(times)
        model.layers.remove(layer)
    print(f"\n{args.points:,} points, median of {args.repeats} live updates (main thread):")
    print("| where the map is drawn | ms per update |")
    print("|---|---|")
    for where, t in results.items():
        print(f"| {where} | {t * 1000:.1f} |")
    viewer.close()


if __name__ == "__main__":
    main()
