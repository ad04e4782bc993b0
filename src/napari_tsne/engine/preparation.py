"""Everything before the first gradient step: validated parameters, nearest
neighbours, the affinities P and the initial map, assembled into a
:class:`~napari_tsne.engine.embedding.TSNEEmbedding`.

Kept apart from the estimator (which stores parameters) and the job (which runs
the phases) so that both can call it without importing each other.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._threads import numba_threads
from ._validation import (
    TSNEInputError,
    check_data,
    check_metric,
    check_n_components,
    check_perplexity,
    check_positive,
    check_precomputed,
)
from .affinities import affinities_from_knn
from .autostop import parse_schedule
from .embedding import TSNEEmbedding
from .gradients import RepulsionParams, resolve_method
from .initialization import initialize
from .neighbors import compute_neighbors, neighbors_from_precomputed

AFFINITIES = ("perplexity", "multiscale", "uniform")


def validated_params(params: Mapping[str, Any], n_samples: int) -> dict[str, Any]:
    """Check the estimator parameters ``params`` (``TSNE.get_params()``) for a map of
    ``n_samples`` points; returns the normalised values the pipeline needs."""
    n_components = check_n_components(params["n_components"])
    metric = check_metric(params["metric"])
    perplexity = check_perplexity(params["perplexity"], n_samples)
    check_positive(params["early_exaggeration"], "early_exaggeration")
    for name in ("early_exaggeration_iter", "n_iter"):
        parse_schedule(params[name], name)  # a number of iterations, "auto" or "auto:N"
    for name in ("exaggeration", "dof", "ints_in_interval"):
        check_positive(params[name], name)
    check_positive(params["theta"], "theta", allow_zero=True)
    for name in ("n_interpolation_points", "min_num_intervals", "callback_every"):
        check_positive(params[name], name, integer=True)
    lr = params["learning_rate"]
    if not (isinstance(lr, str) and lr == "auto"):
        check_positive(lr, "learning_rate")
    if params["affinities"] not in AFFINITIES:
        raise TSNEInputError(
            f"Unknown affinities {params['affinities']!r}; use 'perplexity', 'multiscale' "
            f"or 'uniform'."
        )
    method = resolve_method(params["negative_gradient_method"], n_samples, n_components)
    return {
        "n_components": n_components,
        "metric": metric,
        "perplexity": perplexity,
        "method": method,
    }


def prepare_embedding(X, params: Mapping[str, Any]) -> TSNEEmbedding:
    """Validate ``X`` and ``params``, find neighbours, compute P and the initial map
    (no optimisation); stage timings go into the embedding's ``timings``."""
    log = StageLog(bool(params.get("verbose")))
    if params["metric"] == "precomputed":
        D = check_precomputed(X)
        X_feat = None
    else:
        X_feat = check_data(X)
    data = X_feat if X_feat is not None else D
    n = data.shape[0]
    p = validated_params(params, n)
    n_jobs = params["n_jobs"]
    rng = np.random.default_rng(params["random_state"])
    perps = np.atleast_1d(p["perplexity"])
    k = int(min(n - 1, max(3 * np.max(perps), 1)))
    if params["affinities"] == "uniform":
        k = int(min(n - 1, max(np.max(perps), 1)))  # perplexity = number of neighbours
    with log.stage("nearest neighbours"):
        if X_feat is None:
            knn = neighbors_from_precomputed(D, k)
        else:
            knn = compute_neighbors(
                X_feat,
                k,
                metric=p["metric"],
                method=params["neighbors"],
                random_state=int(rng.integers(2**31 - 1)),
                n_jobs=n_jobs,
                verbose=False,
            )
    with log.stage("affinities"):
        method = "multiscale" if np.ndim(p["perplexity"]) > 0 else params["affinities"]
        P = affinities_from_knn(
            knn.indices, knn.distances, method=method, perplexity=p["perplexity"], n_jobs=n_jobs
        )
    with log.stage("initialisation"), numba_threads(n_jobs):
        init = params["init"]
        if isinstance(init, str) and X_feat is None and init == "pca":
            init = "spectral"  # distances only: no features to take components of
        Y0 = initialize(init, X_feat, P, p["n_components"], rng)
    emb = TSNEEmbedding(
        Y0,
        P,
        knn=knn,
        dof=params["dof"],
        negative_gradient_method=params["negative_gradient_method"],
        repulsion_params=RepulsionParams(
            theta=params["theta"],
            n_interpolation_points=params["n_interpolation_points"],
            min_num_intervals=params["min_num_intervals"],
            ints_in_interval=params["ints_in_interval"],
        ),
        n_jobs=n_jobs,
        max_step_norm=params["max_step_norm"],
        params=dict(params),
        n_features_in=data.shape[1],
    )
    emb.timings.update(log.timings)
    return emb


class StageLog:
    """Times named stages (``with log.stage("name"): ...``); prints them when verbose."""

    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.timings: dict[str, float] = {}

    def stage(self, name: str, key: str | None = None):
        """A context manager timing ``name``; the time is added to ``timings[key]``
        (default: ``name`` without a parenthesised remark)."""
        return _Stage(self, name, key if key is not None else name.split(" (")[0])

    def say(self, text: str) -> None:
        if self.verbose:
            print(f"[napari-tsne] {text}", file=sys.stderr, flush=True)


class _Stage:
    def __init__(self, log: StageLog, name: str, key: str):
        self.log, self.name, self.key = log, name, key

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.log.say(f"{self.name} ...")
        return self

    def __exit__(self, *exc):
        dt = time.perf_counter() - self.t0
        self.log.timings[self.key] = self.log.timings.get(self.key, 0.0) + dt
        if exc[0] is None:
            self.log.say(f"{self.name}: {dt:.2f} s")
        return False
