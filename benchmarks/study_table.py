"""Print the study's runs (results/study/runs/*.json) as a table: exact KL at chosen
iterations, final exact and kNN-P KL, recall, extent, wall time.

    python benchmarks/study_table.py debian fortunes --tags base sklearn lrmain12
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "results" / "study" / "runs"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--tags", nargs="*")
    ap.add_argument("--at", nargs="*", type=int, default=[300, 400, 500, 750])
    a = ap.parse_args()
    head = "| set | run | " + " | ".join(f"KL@{i}" for i in a.at)
    print(head + " | KL exact @1000 | KL kNN P | recall | extent | time s |")
    print("|---|---|" + "---:|" * (len(a.at) + 5))
    for s in a.sets:
        files = sorted(RUNS.glob(f"{s}--*.json"), key=lambda p: p.stat().st_mtime)
        runs = {json.loads(f.read_text())["tag"]: json.loads(f.read_text()) for f in files}
        tags = a.tags or list(runs)
        for t in tags:
            if t not in runs:
                continue
            r = runs[t]
            tr = r["traj"]
            cells = [f"{tr[str(i)]:.4f}" if str(i) in tr else "" for i in a.at]
            print(
                f"| {s} | {t} | " + " | ".join(cells) + f" | {r['kl_exact']:.4f} | "
                f"{r['kl_knn']:.4f} | {r['recall']:.4f} | {r['extent']:.0f} | {r['wall']:.0f} |"
            )


if __name__ == "__main__":
    main()
