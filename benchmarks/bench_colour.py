"""Colouring a large map by a gene, in the real widget (as the Plugins menu opens it) in
a real napari window under Xvfb: the main thread's time to change the colour (read the
gene's column, compute the colours, hand them to napari, repaint) and the time of a
live update with a gene's colours on the map vs a single colour.

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_colour.py [--cells 100000]

The data: a seeded sparse count matrix (cells x genes, ~5 % non-zero, CSR as scanpy
stores it) with a 20-component PCA in ``obsm["X_pca"]``; the map is a short run of the
widget (the colouring does not depend on how converged it is). Medians of repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def make_cells(n: int, n_genes: int, seed: int = 0):
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 12, n)
    density = 0.05
    nnz_per_row = int(n_genes * density)
    cols = rng.integers(0, n_genes, size=(n, nnz_per_row))
    rows = np.repeat(np.arange(n), nnz_per_row)
    vals = rng.poisson(1.0 + (cols % 12 == groups[:, None]) * 4.0).ravel().astype(np.float32) + 1
    X = sp.csr_matrix((vals, (rows, cols.ravel())), shape=(n, n_genes))
    X.sum_duplicates()
    centres = rng.normal(scale=4.0, size=(12, 20))
    pca = (centres[groups] + rng.normal(size=(n, 20))).astype(np.float32)
    ad = anndata.AnnData(
        X=X,
        obs=pd.DataFrame({"group": pd.Categorical(groups.astype(str))}),
        var=pd.DataFrame(index=[f"GENE{i}" for i in range(n_genes)]),
    )
    ad.obs_names = [f"cell{i}" for i in range(n)]
    ad.obsm["X_pca"] = pca
    return ad


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--genes", type=int, default=2_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="cProfile one colour change")
    args = ap.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    import napari_tsne

    def pump(seconds=0.0):
        t0 = time.perf_counter()
        QApplication.processEvents()
        while time.perf_counter() - t0 < seconds:
            QApplication.processEvents()
            time.sleep(0.01)

    adata = make_cells(args.cells, args.genes)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    t0 = time.perf_counter()
    _, w = napari_tsne.view(
        adata, viewer=viewer, use_rep="X_pca", run=True, n_iter=20, early_exaggeration_iter=30
    )
    while w.is_running:
        pump(0.2)
    pump(0.5)
    print(f"map of {args.cells:,} cells made in {time.perf_counter() - t0:.0f} s")
    canvas = viewer.window._qt_viewer.canvas

    def timed(action) -> float:
        t = time.perf_counter()
        action()
        canvas.native.repaint()
        QApplication.processEvents()
        return time.perf_counter() - t

    def untimed_draw(action) -> float:  # the widget's work alone, then the draw apart
        t = time.perf_counter()
        action()
        spent = time.perf_counter() - t
        canvas.native.repaint()
        QApplication.processEvents()
        return spent

    genes = [f"GENE{i}" for i in range(0, args.genes, max(1, args.genes // args.repeats))]
    change = [timed(lambda g=g: w.colour_with(g)) for g in genes[: args.repeats]]
    work = [untimed_draw(lambda g=g: w.colour_with(g)) for g in genes[1 : args.repeats + 1]]
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        w.colour_with(genes[-1])
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    to_column = [timed(lambda: setattr(w.colour_by, "value", "group")) for _ in range(1)]
    draw = [timed(lambda: None) for _ in range(5)]
    coords = np.asarray(w.layer.data)

    def live_updates(k=10):
        times = []
        for i in range(k):
            update = coords * (1 + 0.01 * (i % 5))
            times.append(timed(lambda u=update: w._move_points(u)))
        return statistics.median(times)

    w.colour_with(genes[0])
    live_gene = live_updates()
    w.colour_by.value = "(single colour)"
    live_plain = live_updates()
    print(f"\n{args.cells:,} cells x {args.genes:,} genes (sparse), main-thread seconds:")
    print("| action | median s |")
    print("|---|---|")
    print(f"| colour by a gene (read the column, colours, napari, repaint) | "
          f"{statistics.median(change):.3f} |")  # fmt: skip
    print(f"| of which the widget's work (no repaint) | {statistics.median(work):.3f} |")
    print(f"| a repaint alone (OpenGL of the machine) | {statistics.median(draw):.3f} |")
    print(f"| colour by an obs column (categories, legend) | {to_column[0]:.3f} |")
    print(f"| live update, map coloured by a gene | {live_gene:.3f} |")
    print(f"| live update, single colour | {live_plain:.3f} |")
    viewer.close()


if __name__ == "__main__":
    main()
