"""What the first run after installation compiles: a ``napari-tsne embed`` of
Fashion-MNIST (PCA-50, default 6,000 points) in a fresh process with an empty numba
cache, every compilation timed (numba's ``numba:compile`` events), then the same run
again with the cache filled.

    python benchmarks/bench_first_run.py [--n 6000] [--threads 2]

Prints the whole run's wall time, cold and warm, and a table of the kernels compiled
in the run's own process (name, signatures, seconds, share of the run), largest first;
the gradient kernels that a first run compiles in helper processes meanwhile
(``engine/precompile.py``) are not in the table, their time is in the whole run's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: runs in the child: the CLI's main with a listener on numba's compile events
CHILD = r"""
import json, sys, time
from numba.core import event

records = []

class Listener(event.Listener):
    def on_start(self, ev):
        self._t0 = getattr(self, "_t0", {})
        self._t0[id(ev.data["dispatcher"])] = time.perf_counter()

    def on_end(self, ev):
        d = ev.data["dispatcher"]
        t0 = self._t0.pop(id(d), None)
        if t0 is not None:
            name = f"{d.py_func.__module__}.{d.py_func.__qualname__}"
            records.append((name, str(ev.data.get("args")), time.perf_counter() - t0))

listener = Listener()
event.register("numba:compile", listener)
t0 = time.perf_counter()
from napari_tsne.cli import main
rc = main(sys.argv[1:])
wall = time.perf_counter() - t0
print("@@" + json.dumps({"rc": rc, "wall": wall, "compiles": records}))
"""


def run(args_cli, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args_cli], capture_output=True, text=True, env=env
    )
    process = time.perf_counter() - t0
    line = next((x for x in out.stdout.splitlines() if x.startswith("@@")), None)
    if line is None:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    got = json.loads(line[2:])
    if got["rc"] != 0:
        raise RuntimeError(f"the run failed (exit {got['rc']}): {out.stderr[-2000:]}")
    got["process"] = process
    return got


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from datasets import load_fashion_mnist, pca

    X, _, _ = load_fashion_mnist()
    Z = pca(X[: args.n].astype(np.float64), 50).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "x.npy", Path(tmp) / "y.npy"
        np.save(data, Z)
        cli = ["embed", str(data), "-o", str(out), "--threads", str(args.threads), "-q"]
        cache = str(Path(tmp) / "numba-cache")
        cold = run(cli, cache)
        out.unlink()  # the CLI overwrites nothing without --overwrite: a new file
        warm = run(cli, cache)
    total = sum(t for _, _, t in cold["compiles"])
    by_name: dict[str, list] = {}
    for name, sig, t in cold["compiles"]:
        by_name.setdefault(name, []).append((sig, t))
    print(f"\n{args.n:,} points, --threads {args.threads}: whole process cold "
          f"{cold['process']:.1f} s, warm {warm['process']:.1f} s; compiling "
          f"{total:.1f} s in {len(cold['compiles'])} compilations of "
          f"{len(by_name)} kernels")  # fmt: skip
    print("\n| kernel | signatures | seconds | share of the cold run |")
    print("|---|---:|---:|---:|")
    rows = sorted(by_name.items(), key=lambda kv: -sum(t for _, t in kv[1]))
    for name, sigs in rows:
        t = sum(x for _, x in sigs)
        print(f"| {name.removeprefix('napari_tsne.')} | {len(sigs)} | {t:.2f} | "
              f"{t / cold['process']:.0%} |")  # fmt: skip
    warm_compiles = len(warm["compiles"])
    print(f"\nwarm run compilations: {warm_compiles} (0 expected: all from the cache)")


if __name__ == "__main__":
    main()
