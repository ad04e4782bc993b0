"""A third sentence-embedding set for the embeddings study (docs/embeddings-study.md):
the first paragraph of the docstrings of the modules, classes and functions of the
Python packages installed next to napari-tsne (site-packages of the running Python),
embedded with all-MiniLM-L6-v2 as datasets.py embeds the other two sets; labels: the
top-level package. A seeded subset of 16,873 items (the size of the set in issue #26).
Written to ``results/study/data/docstrings.{npy,labels.npy,json}``.

    python benchmarks/study_docstrings.py
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from datasets import EMBED_SCRIPT, emb_python  # noqa: E402

OUT = HERE / "results" / "study" / "data"
SIZE = 16_873


def texts():
    site = Path(sysconfig.get_paths()["purelib"])
    rows = []
    for path in sorted(site.rglob("*.py")):
        rel = path.relative_to(site)
        top = rel.parts[0]
        if top.endswith((".dist-info", ".egg-info")) or top.startswith(("_", "test")):
            continue
        if any(p in ("tests", "test", "testing") for p in rel.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                para = re.split(r"\n\s*\n", doc.strip())[0]
                text = " ".join(para.split())
                if len(text) >= 20 and re.search(r"[A-Za-z]{3}", text):
                    rows.append((f"{rel}:{getattr(node, 'name', '')}", top.split(".")[0], text))
    seen, unique = set(), []
    for r in rows:
        if r[2] not in seen:
            seen.add(r[2])
            unique.append(r)
    keep = np.sort(np.random.default_rng(0).choice(len(unique), SIZE, replace=False))
    chosen = [unique[i] for i in keep]
    names = sorted({r[1] for r in chosen})
    return chosen, names, {"items": len(rows), "unique": len(unique), "site": str(site)}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    chosen, names, source = texts()
    meta = {
        "texts": [r[2] for r in chosen],
        "ids": [r[0] for r in chosen],
        "label_names": names,
        "source": source,
    }
    tmp = OUT / "docstrings.tmp.json"
    tmp.write_text(json.dumps(meta))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [emb_python(), "-I", "-c", EMBED_SCRIPT, str(tmp), str(OUT / "docstrings.npy"), "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(OUT),
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    meta["embedding"] = json.loads(out.stdout.strip().splitlines()[-1])
    index = {n: i for i, n in enumerate(names)}
    np.save(OUT / "docstrings.labels.npy", np.array([index[r[1]] for r in chosen]))
    (OUT / "docstrings.json").write_text(json.dumps(meta))
    tmp.unlink()
    print(source, len(chosen), len(names), meta["embedding"])


if __name__ == "__main__":
    main()
