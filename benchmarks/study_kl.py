"""Tools of the embeddings study (docs/embeddings-study.md): the exact all-pairs P of a
data set kept on disk as a dense float32 matrix, and a fast numba evaluation of the KL
of any map under it, so that whole KL trajectories (a map every 50 iterations) can be
scored under the exact objective.

The dense P is ``quality.ExactAffinities.joint_block`` written row block by row block
(the same calibration as ``quality.exact_kl``), so ``kl(Y)`` equals
``quality.exact_kl(None, Y, affinities=...)`` up to float32 rounding of P (checked by
``python benchmarks/study_kl.py check``).

    python benchmarks/study_kl.py build debian fortunes fm20k digits
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import prange

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

STUDY_DIR = HERE / "results" / "study"
SETS = ("debian", "fortunes", "fm20k", "digits")


def load_set(name: str):
    """``(X, labels)`` of ``name``, or with ``name:N`` a seeded subset of N rows of it."""
    if ":" in name:
        base, size = name.split(":")
        X, y = load_set(base)
        rows = np.sort(np.random.default_rng(1).choice(len(X), int(size), replace=False))
        return X[rows], y[rows]
    return _load_set(name)


def _load_set(name: str):
    """``(X float32, labels)`` of a study set: the sentence sets as cached, Fashion-MNIST
    20,000 (PCA-50, the benchmark's seeded subset), scikit-learn's digits."""
    if name in ("debian", "fortunes"):
        from datasets import load_sentence_set

        X, y = load_sentence_set(name, build=False)
        return np.ascontiguousarray(X, dtype=np.float32), np.asarray(y)
    if name == "fm20k":
        import tempfile

        from bench_process import make_data

        with tempfile.TemporaryDirectory() as tmp:
            _, X, y = make_data("fm20k", Path(tmp))
        return np.ascontiguousarray(X, dtype=np.float32), y
    if name == "docstrings":
        data = HERE / "results" / "study" / "data"
        return (
            np.load(data / "docstrings.npy").astype(np.float32),
            np.load(data / "docstrings.labels.npy"),
        )
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X.astype(np.float32), y
    raise ValueError(name)


@numba.njit(nogil=True, cache=True, parallel=True, fastmath=True)
def _plogw_z(P, Y):
    """``(sum_ij p_ij log w_ij, sum_{i != j} w_ij)`` with ``w = 1 / (1 + |y_i - y_j|^2)``."""
    n = Y.shape[0]
    s = np.zeros(n)
    z = np.zeros(n)
    for i in prange(n):
        y0 = Y[i, 0]
        y1 = Y[i, 1]
        a = 0.0
        b = 0.0
        for j in range(n):
            if j == i:
                continue
            d0 = y0 - Y[j, 0]
            d1 = y1 - Y[j, 1]
            w = 1.0 / (1.0 + d0 * d0 + d1 * d1)
            b += w
            a += P[i, j] * np.log(w)
        s[i] = a
        z[i] = b
    return s.sum(), z.sum()


@numba.njit(nogil=True, cache=True, parallel=True)
def _plogp(P):
    n = P.shape[0]
    s = np.zeros(n)
    t = np.zeros(n)
    for i in prange(n):
        a = 0.0
        b = 0.0
        for j in range(n):
            p = np.float64(P[i, j])
            if p > 0:
                a += p * np.log(p)
                b += p
        s[i] = a
        t[i] = b
    return s.sum(), t.sum()


class DenseP:
    """The exact all-pairs P of one set (float32 memmap) and its constant KL terms."""

    def __init__(self, name: str):
        self.name = name
        stem = name.replace(":", "-")
        self.P = np.load(STUDY_DIR / f"{stem}-P.npy", mmap_mode="r")
        consts = np.load(STUDY_DIR / f"{stem}-P-consts.npy")
        self.plogp, self.psum = float(consts[0]), float(consts[1])

    @property
    def n(self) -> int:
        return self.P.shape[0]

    def kl(self, Y) -> float:
        Y = np.ascontiguousarray(Y, dtype=np.float64)
        plogw, z = _plogw_z(self.P, Y)
        return float(self.plogp / self.psum - np.log(self.psum) - plogw / self.psum + np.log(z))

    def csr(self, k: int | None = None):
        """P as CSR: all entries (``k=None``) or each row's ``k`` largest, symmetrised
        by union and renormalised to sum 1 (a denser or exact P to optimise on)."""
        import scipy.sparse as sp

        P = np.asarray(self.P)
        n = len(P)
        if k is None:
            M = sp.csr_matrix(P)
        else:
            idx = np.argpartition(-P, k, axis=1)[:, :k]
            rows = np.repeat(np.arange(n), k)
            M = sp.csr_matrix((P[rows, idx.ravel()], (rows, idx.ravel())), shape=(n, n))
            M = M.maximum(M.T).tocsr()
        M.sort_indices()
        M.data = (M.data / M.data.sum()).astype(np.float32)
        M.indices = M.indices.astype(np.int32)
        return M


def build(name: str) -> None:
    from quality import exact_affinities

    STUDY_DIR.mkdir(parents=True, exist_ok=True)
    X, _ = load_set(name)
    t0 = time.perf_counter()
    A = exact_affinities(X, 30.0)
    t1 = time.perf_counter()
    n = A.n
    path = STUDY_DIR / f"{name.replace(':', '-')}-P.npy"
    out = np.lib.format.open_memmap(
        str(path) + ".tmp.npy", mode="w+", dtype=np.float32, shape=(n, n)
    )
    for s in range(0, n, A.block_rows):
        e = min(s + A.block_rows, n)
        out[s:e] = A.joint_block(s, e)
    out.flush()
    plogp, psum = _plogp(out)
    del out
    Path(str(path) + ".tmp.npy").replace(path)
    np.save(STUDY_DIR / f"{name.replace(':', '-')}-P-consts.npy", np.array([plogp, psum]))
    print(
        f"{name}: n={n}, calibration {t1 - t0:.0f} s, P written in "
        f"{time.perf_counter() - t1:.0f} s, sum P = {psum:.6f}",
        flush=True,
    )


def check(name: str) -> None:
    """This dense evaluation against quality.exact_kl on a random map and a PCA map."""
    from quality import exact_kl

    X, _ = load_set(name)
    D = DenseP(name)
    rng = np.random.default_rng(0)
    for Y in (rng.normal(size=(D.n, 2)) * 10, X[:, :2].astype(np.float64) * 50):
        t0 = time.perf_counter()
        a = D.kl(Y)
        t1 = time.perf_counter()
        b = exact_kl(X, Y)
        t2 = time.perf_counter()
        print(
            f"{name}: dense {a:.6f} ({t1 - t0:.1f} s), quality.exact_kl {b:.6f} "
            f"({t2 - t1:.1f} s), diff {a - b:.2e}",
            flush=True,
        )


if __name__ == "__main__":
    cmd, names = sys.argv[1], sys.argv[2:]
    for nm in names:
        {"build": build, "check": check}[cmd](nm)
