"""Make the GUI screenshots of docs/gui.md and docs/scanpy.md in real napari windows:

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/docs_screenshots.py [OUT_DIR]

(default OUT_DIR: docs/images). Each picture is the whole window, as a user sees it,
with the widget opened as the Plugins menu opens it. Look at every picture after
making it: they are the docs' claims.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

SIZE = (1600, 900)


def pump(seconds: float = 0.0) -> None:
    from qtpy.QtWidgets import QApplication

    t0 = time.perf_counter()
    QApplication.processEvents()
    while time.perf_counter() - t0 < seconds:
        QApplication.processEvents()
        time.sleep(0.02)


def window(title: str):
    import napari

    viewer = napari.Viewer(title=title, show=True)
    viewer.window._qt_window.resize(*SIZE)
    pump(0.2)
    return viewer


def widget(viewer, **values):
    _, w = viewer.window.add_plugin_dock_widget("napari-tsne", "t-SNE map")
    for name, value in values.items():
        getattr(w, name).value = value
    return w


def finish(w) -> None:
    while w.is_running or w.is_measuring:
        pump(0.2)
    pump(0.8)


def save(viewer, out: Path, name: str) -> None:
    viewer.window.screenshot(str(out / name), canvas_only=False, flash=False)
    print("wrote", out / name)


def digits(out: Path) -> None:
    viewer = window("napari-tsne: digits")
    (image,) = viewer.open_sample("napari-tsne", "digits")
    w = widget(viewer, n_jobs=2, n_iter=1500, update_interval=10)
    w.source.value = image
    w.run()
    while w.is_running and w.embedding is None or (w.embedding and w.embedding.n_iter < 400):
        pump(0.1)
    save(viewer, out, "gui_live_run.png")  # during the run
    finish(w)
    save(viewer, out, "gui_digits_map.png")
    w.show_advanced.value = True
    pump(0.3)
    w._content.native.grab().save(str(out / "gui_widget.png"))
    print("wrote", out / "gui_widget.png")
    w.show_advanced.value = False
    # a lasso around a cluster: its images as their own stack, named as a group
    coords = np.asarray(w.layer.data)
    sixes = np.flatnonzero(w.layer.features["label"].astype(int).to_numpy() == 6)
    centre = np.median(coords[sixes], axis=0)
    radius = np.percentile(np.linalg.norm(coords[sixes] - centre, axis=1), 80)
    angles = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    w.draw_selection()
    shapes = w.map_viewer.layers["draw selection"]
    shapes.add(np.c_[np.sin(angles), np.cos(angles)] * radius + centre, shape_type="polygon")
    pump(0.8)
    w.assign_group("sixes")
    pump(0.5)
    save(viewer, out, "gui_lasso_selection.png")
    viewer.layers.selection.active = viewer.layers["digits (selected)"]
    pump(0.3)
    save(viewer, out, "gui_linked_images.png")
    viewer.close()


def pbmc(out: Path) -> None:
    import scanpy as sc

    import napari_tsne

    adata = sc.datasets.pbmc68k_reduced()
    viewer = window("napari-tsne: PBMC")
    _, w = napari_tsne.view(adata, viewer=viewer, run=True, n_jobs=2)
    finish(w)
    w.gene_source.value = "raw/X"  # log-normalised counts (X holds scaled values)
    w.colour_search.native.setText("CD3")
    w._colour_from_search("CD3E")
    pump(0.8)
    save(viewer, out, "gui_gene_colour.png")
    w.colour_by.value = "bulk_labels"
    pump(0.3)
    rows = [i for i in range(w.legend.count()) if "CD19+ B" in w.legend.item(i).text()]
    for i in rows:
        w._on_legend_clicked(w.legend.item(i))
    w._scroll.ensureWidgetVisible(w.legend)
    pump(0.5)
    save(viewer, out, "gui_legend.png")
    viewer.close()


def objects(out: Path) -> None:
    viewer = window("napari-tsne: objects in images")
    image, labels = viewer.open_sample("napari-tsne", "galaxies")
    w = widget(viewer, n_jobs=2)
    w.measure_labels.value = labels
    w.measure_images.value = [image]
    w.measure_objects()
    finish(w)
    w.run()
    finish(w)
    viewer.reset_view()
    w.colour_by.value = "area"
    w.colour_range.value = "1st – 99th percentile"
    pump(0.8)
    save(viewer, out, "gui_objects_map_beside_image.png")
    area = labels.features["area"].to_numpy()
    w.select(np.argsort(area)[-12:])
    pump(0.8)
    save(viewer, out, "gui_objects_selection.png")
    viewer.close()


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else Path(__file__).resolve().parents[1] / "docs" / "images")
    out.mkdir(parents=True, exist_ok=True)
    for make in (objects, pbmc, digits):
        make(out)


if __name__ == "__main__":
    main()
