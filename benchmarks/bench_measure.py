"""Measuring objects: ``measure_objects`` on synthetic 2-D label images of 10,000 and
100,000 objects with one intensity image (issue 24).

The label image is a seeded grid of cells of ``--cell`` pixels, each holding one
filled ellipse of random size (semi-axes 1 to cell/2 pixels), elongation and angle,
so the objects vary in area, shape and orientation like segmented nuclei; the
intensity image is seeded noise plus a brightness per object. Each size is measured
``--repeats`` times and the median reported, with the time of each stage (finding the
objects and the moment-based shape columns; solidity and perimeter object by object;
the intensity statistics) from the progress steps of the last repeat.
``--regionprops`` also times plain ``skimage.measure.regionprops_table`` with the same
properties once per size, for comparison.

    python benchmarks/bench_measure.py                      # 10,000 and 100,000 objects
    python benchmarks/bench_measure.py --sizes 10000 --regionprops
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import numpy as np

from napari_tsne.plugin.measure import measure_objects, measure_steps


def synthetic_labels(n_objects: int, cell: int = 12, seed: int = 0) -> np.ndarray:
    """A 2-D label image (int32) with *n_objects* filled ellipses, one per grid cell."""
    rng = np.random.default_rng(seed)
    rows = int(np.ceil(np.sqrt(n_objects)))
    cols = -(-n_objects // rows)
    n = rows * cols
    a = rng.uniform(1.5, cell / 2 - 0.5, n)
    b = np.maximum(a * rng.uniform(0.3, 1.0, n), 1.0)
    angle = rng.uniform(0, np.pi, n)
    cy = cell / 2 - 0.5 + rng.uniform(-1, 1, n)
    cx = cell / 2 - 0.5 + rng.uniform(-1, 1, n)
    yy, xx = np.mgrid[0:cell, 0:cell].astype(np.float32)
    dy = yy[None] - cy[:, None, None].astype(np.float32)
    dx = xx[None] - cx[:, None, None].astype(np.float32)
    cos = np.cos(angle)[:, None, None].astype(np.float32)
    sin = np.sin(angle)[:, None, None].astype(np.float32)
    u = (dx * cos + dy * sin) / a[:, None, None].astype(np.float32)
    v = (dy * cos - dx * sin) / b[:, None, None].astype(np.float32)
    ids = np.arange(1, n + 1, dtype=np.int32)
    ids[n_objects:] = 0  # the last row's spare cells stay empty
    tiles = np.where(u * u + v * v <= 1.0, ids[:, None, None], 0)
    return tiles.reshape(rows, cols, cell, cell).transpose(0, 2, 1, 3).reshape(rows * cell, -1)


def synthetic_intensity(labels: np.ndarray, seed: int = 1) -> np.ndarray:
    """uint16 noise plus one random brightness per object (0 in the background)."""
    rng = np.random.default_rng(seed)
    brightness = rng.integers(200, 2000, labels.max() + 1).astype(np.uint16)
    brightness[0] = 0
    return brightness[labels] + rng.integers(0, 100, labels.shape, dtype=np.uint16)


def stage_times(labels, images) -> dict[str, float]:
    """Seconds per stage, read from the progress steps' texts."""
    stages: dict[str, float] = {}
    steps = measure_steps(labels, images)
    t0 = time.perf_counter()
    current = "find objects"
    while True:
        try:
            _, _, text = next(steps)
        except StopIteration:
            break
        now = time.perf_counter()
        stages[current] = stages.get(current, 0.0) + now - t0
        t0 = now
        if text.startswith("Measuring size"):
            current = "moments (area, axes, centroid, extent)"
        elif text.startswith("Measuring solidity"):
            current = "solidity + perimeter"
        elif text.startswith("Measuring intensity"):
            current = "intensity"
    return stages


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cell", type=int, default=12, help="grid cell size in pixels")
    p.add_argument("--regionprops", action="store_true", help="also time regionprops_table")
    args = p.parse_args(argv)

    rows = []
    for n in args.sizes:
        labels = synthetic_labels(n, args.cell)
        images = {"intensity": synthetic_intensity(labels)}
        times = []
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            table = measure_objects(labels, images)
            times.append(time.perf_counter() - t0)
        assert len(table) == n
        stages = stage_times(labels, images)
        ref = None
        if args.regionprops:
            from skimage.measure import regionprops_table

            props = [c for c in table.columns if not c.startswith(("centroid", "intensity"))]
            props += ["centroid", "intensity_mean", "intensity_min", "intensity_max"]
            props += ["intensity_std"]
            t0 = time.perf_counter()
            regionprops_table(labels, images["intensity"], properties=props)
            ref = time.perf_counter() - t0
        rows.append((n, labels.shape, float(np.median(times)), stages, ref))
        print(f"{n:,} objects: {np.median(times):.2f} s", file=sys.stderr)

    print("\n" + " ".join(["python", *map(shlex.quote, sys.argv)]) + "\n")
    head = "| objects | image | measure_objects (median) | stages (last run) |"
    line = "|---:|---|---:|---|"
    if args.regionprops:
        head += " regionprops_table |"
        line += "---:|"
    print(head)
    print(line)
    for n, shape, t, stages, ref in rows:
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in stages.items())
        row = f"| {n:,} | {shape[0]} x {shape[1]} | {t:.2f} s | {parts} |"
        if args.regionprops:
            row += f" {ref:.2f} s |"
        print(row)


if __name__ == "__main__":
    main()
