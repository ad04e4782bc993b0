"""``TSNE``: the scikit-learn-style front door to the engine.

``fit`` runs the whole pipeline -- validation, kNN, affinities, initialisation,
early exaggeration, then the normal phase -- and keeps the resulting
:class:`~napari_tsne.engine.embedding.TSNEEmbedding` so the map can be continued
(``tsne_embedding_.optimize``) or extended with new samples.
"""

from __future__ import annotations

import inspect
import sys
import time
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
from .embedding import TSNEEmbedding
from .gradients import RepulsionParams, resolve_method
from .initialization import initialize
from .neighbors import compute_neighbors, neighbors_from_precomputed


class TSNE:
    """t-distributed Stochastic Neighbour Embedding.

    Parameters
    ----------
    n_components : 1, 2 or 3
    perplexity : float or list of floats
        Effective number of neighbours. A list gives multiscale affinities. Values above
        ``(n_samples - 1) / 3`` are lowered with a warning.
    early_exaggeration, early_exaggeration_iter :
        Exaggeration of the attractive forces during the first phase (default 12 for 250
        iterations) that lets clusters form.
    n_iter : int
        Iterations of the normal phase after early exaggeration (default 500).
    exaggeration : float
        Exaggeration during the normal phase (1 = plain t-SNE; ~4 separates clusters in
        large data sets).
    learning_rate : float or "auto"
        "auto" uses ``n_samples / exaggeration`` in each phase (openTSNE's convention).
    metric : str
        euclidean, sqeuclidean, cosine, manhattan, correlation, chebyshev or "precomputed"
        (a square distance matrix, or a sparse kNN distance graph such as the output of
        scikit-learn's ``KNeighborsTransformer(mode="distance")``).
    neighbors : "auto", "exact" or "pynndescent"
    affinities : "perplexity", "multiscale" or "uniform"
    init : "pca", "spectral", "random" or an array (n_samples, n_components)
    dof : float
        Degrees of freedom of the t kernel: 1 is standard t-SNE, < 1 gives heavier tails
        and finer clusters.
    negative_gradient_method : "auto", "exact", "bh" or "fft"
    theta : float
        Barnes-Hut accuracy (0 = exact).
    n_interpolation_points, min_num_intervals, ints_in_interval :
        FFT interpolation grid settings.
    max_step_norm : float or None
        Largest distance a point may move in one step, so that no point shoots off.
    momentum, early_momentum : float
    random_state : int, numpy Generator or None
    n_jobs : int or None
        Threads for numba kernels (None or -1 = all cores).
    subsample : int, float or None
        Subsample-and-extend for large data: ``fit`` embeds this many samples (or this
        fraction) with full t-SNE, places the rest into that map, and optimises all
        points starting from that layout (see :mod:`napari_tsne.engine.subsample`).
        None (default) embeds all samples directly.
    callbacks : callable or list of callables
        ``f(iteration, kl_divergence, coordinates)``; return True to stop the run.
    callback_every : int
        Call the callbacks (and evaluate the KL) every this many iterations.
    verbose : bool
        Print the time of each stage and the KL divergence as the run goes.
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        perplexity: float | list[float] = 30.0,
        early_exaggeration: float = 12.0,
        early_exaggeration_iter: int = 250,
        n_iter: int = 500,
        exaggeration: float = 1.0,
        learning_rate: float | str = "auto",
        metric: str = "euclidean",
        neighbors: str = "auto",
        affinities: str = "perplexity",
        init: str | np.ndarray = "pca",
        dof: float = 1.0,
        negative_gradient_method: str = "auto",
        theta: float = 0.5,
        n_interpolation_points: int = 3,
        min_num_intervals: int = 50,
        ints_in_interval: float = 1.0,
        max_step_norm: float | None = 5.0,
        momentum: float = 0.8,
        early_momentum: float = 0.5,
        random_state: int | np.random.Generator | None = None,
        n_jobs: int | None = None,
        subsample: int | float | None = None,
        callbacks=None,
        callback_every: int = 50,
        verbose: bool = False,
    ):
        self.n_components = n_components
        self.perplexity = perplexity
        self.early_exaggeration = early_exaggeration
        self.early_exaggeration_iter = early_exaggeration_iter
        self.n_iter = n_iter
        self.exaggeration = exaggeration
        self.learning_rate = learning_rate
        self.metric = metric
        self.neighbors = neighbors
        self.affinities = affinities
        self.init = init
        self.dof = dof
        self.negative_gradient_method = negative_gradient_method
        self.theta = theta
        self.n_interpolation_points = n_interpolation_points
        self.min_num_intervals = min_num_intervals
        self.ints_in_interval = ints_in_interval
        self.max_step_norm = max_step_norm
        self.momentum = momentum
        self.early_momentum = early_momentum
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.subsample = subsample
        self.callbacks = callbacks
        self.callback_every = callback_every
        self.verbose = verbose

    # ------------------------------------------------------- scikit-learn protocol
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> TSNE:
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for TSNE; valid parameters are "
                    f"{', '.join(sorted(valid))}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            k: v.default for k, v in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = []
        for k in self._param_names():
            v = getattr(self, k)
            d = defaults.get(k)
            same = v is d or (
                not isinstance(v, np.ndarray) and not isinstance(d, np.ndarray) and v == d
            )
            if not same:
                changed.append(f"{k}={v!r}" if not isinstance(v, np.ndarray) else f"{k}=<array>")
        return f"TSNE({', '.join(changed)})"

    def __sklearn_tags__(self):  # scikit-learn >= 1.6 asks estimators for their tags
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        tags = Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
            input_tags=InputTags(sparse=True, pairwise=self.metric == "precomputed"),
        )
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------- fitting
    def _validated_params(self, n_samples: int) -> dict[str, Any]:
        n_components = check_n_components(self.n_components)
        metric = check_metric(self.metric)
        perplexity = check_perplexity(self.perplexity, n_samples)
        check_positive(self.early_exaggeration, "early_exaggeration")
        check_positive(
            self.early_exaggeration_iter, "early_exaggeration_iter", integer=True, allow_zero=True
        )
        check_positive(self.n_iter, "n_iter", integer=True, allow_zero=True)
        check_positive(self.exaggeration, "exaggeration")
        check_positive(self.dof, "dof")
        check_positive(self.theta, "theta", allow_zero=True)
        check_positive(self.n_interpolation_points, "n_interpolation_points", integer=True)
        check_positive(self.min_num_intervals, "min_num_intervals", integer=True)
        check_positive(self.ints_in_interval, "ints_in_interval")
        check_positive(self.callback_every, "callback_every", integer=True)
        if not (isinstance(self.learning_rate, str) and self.learning_rate == "auto"):
            check_positive(self.learning_rate, "learning_rate")
        if self.affinities not in ("perplexity", "multiscale", "uniform"):
            raise TSNEInputError(
                f"Unknown affinities {self.affinities!r}; use 'perplexity', 'multiscale' or "
                f"'uniform'."
            )
        method = resolve_method(self.negative_gradient_method, n_samples, n_components)
        return {
            "n_components": n_components,
            "metric": metric,
            "perplexity": perplexity,
            "method": method,
        }

    def prepare(self, X) -> TSNEEmbedding:
        """Validate, find neighbours, compute P and the initial map (no optimisation)."""
        log = _Log(self.verbose)
        if self.metric == "precomputed":
            D = check_precomputed(X)
            X_feat = None
        else:
            X_feat = check_data(X)
        n = (X_feat if X_feat is not None else D).shape[0]
        p = self._validated_params(n)
        rng = np.random.default_rng(self.random_state)
        perps = np.atleast_1d(p["perplexity"])
        k = int(min(n - 1, max(3 * np.max(perps), 1)))
        if self.affinities == "uniform":
            k = int(min(n - 1, max(np.max(perps), 1)))  # perplexity = number of neighbours
        with log.stage("nearest neighbours"):
            if X_feat is None:
                knn = neighbors_from_precomputed(D, k)
            else:
                knn = compute_neighbors(
                    X_feat,
                    k,
                    metric=p["metric"],
                    method=self.neighbors,
                    random_state=int(rng.integers(2**31 - 1)),
                    n_jobs=self.n_jobs,
                    verbose=False,
                )
        with log.stage("affinities"):
            method = "multiscale" if np.ndim(p["perplexity"]) > 0 else self.affinities
            P = affinities_from_knn(
                knn.indices,
                knn.distances,
                method=method,
                perplexity=p["perplexity"],
                n_jobs=self.n_jobs,
            )
        with log.stage("initialisation"), numba_threads(self.n_jobs):
            init = (
                self.init
                if not isinstance(self.init, str) or X_feat is not None
                else ("spectral" if self.init == "pca" else self.init)
            )
            Y0 = initialize(init, X_feat, P, p["n_components"], rng)
        emb = TSNEEmbedding(
            Y0,
            P,
            knn=knn,
            dof=self.dof,
            negative_gradient_method=self.negative_gradient_method,
            repulsion_params=RepulsionParams(
                theta=self.theta,
                n_interpolation_points=self.n_interpolation_points,
                min_num_intervals=self.min_num_intervals,
                ints_in_interval=self.ints_in_interval,
            ),
            n_jobs=self.n_jobs,
            max_step_norm=self.max_step_norm,
            params=self.get_params(),
            n_features_in=(X_feat if X_feat is not None else D).shape[1],
        )
        emb.timings.update(log.timings)
        return emb

    def run_phases(self, emb: TSNEEmbedding) -> TSNEEmbedding:
        """Early exaggeration, then the normal phase (stops early if a callback says so)."""
        log = _Log(self.verbose)
        cbs = list(_callbacks(self.callbacks))
        if self.verbose:
            cbs.append(_print_progress)
        with log.stage(f"early exaggeration ({self.early_exaggeration_iter} iterations)"):
            emb.optimize(
                self.early_exaggeration_iter,
                exaggeration=self.early_exaggeration,
                learning_rate=self.learning_rate,
                momentum=self.early_momentum,
                callbacks=cbs,
                callback_every=self.callback_every,
            )
        if emb.stopped:
            return emb
        with log.stage(f"optimisation ({self.n_iter} iterations)"):
            emb.optimize(
                self.n_iter,
                exaggeration=self.exaggeration,
                learning_rate=self.learning_rate,
                momentum=self.momentum,
                callbacks=cbs,
                callback_every=self.callback_every,
            )
        emb.timings.update(log.timings)
        return emb

    def fit_embedding(self, X, *, stratify=None) -> TSNEEmbedding:
        """Run the whole pipeline and return the :class:`TSNEEmbedding`.

        With ``subsample`` set, runs subsample-and-extend; ``stratify`` (one label per
        sample) then draws the sample proportionally from each label.
        """
        if self.subsample is not None:
            from .subsample import fit_subsample_and_extend

            return fit_subsample_and_extend(self, X, self.subsample, stratify=stratify)
        if stratify is not None:
            raise TSNEInputError("stratify is only used with subsample=...; set subsample too.")
        return self.run_phases(self.prepare(X))

    def fit(self, X, y=None, *, stratify=None) -> TSNE:
        emb = self.fit_embedding(X, stratify=stratify)
        self.tsne_embedding_ = emb
        self.embedding_ = np.array(emb.coordinates)
        self.kl_divergence_ = emb.kl_divergence
        self.n_iter_ = emb.n_iter
        self.n_features_in_ = emb.n_features_in
        return self

    def fit_transform(self, X, y=None, *, stratify=None) -> np.ndarray:
        return self.fit(X, stratify=stratify).embedding_

    def transform(self, X, **kwargs) -> np.ndarray:
        """Place new samples into the fitted map (see :meth:`TSNEEmbedding.transform`
        for the keyword arguments); the fitted map is not changed."""
        emb = getattr(self, "tsne_embedding_", None)
        if emb is None:
            raise TSNEInputError(
                "This TSNE is not fitted yet; call fit(X) before transform(X_new)."
            )
        return emb.transform(X, **kwargs)


def _callbacks(callbacks):
    if callbacks is None:
        return []
    return [callbacks] if callable(callbacks) else list(callbacks)


def _print_progress(iteration, kl, Y):
    print(f"  iteration {iteration:5d}  KL divergence {kl:.4f}", file=sys.stderr, flush=True)


class _Log:
    """Times named stages; prints them when verbose."""

    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.timings: dict[str, float] = {}

    def stage(self, name: str):
        log = self

        class _Stage:
            def __enter__(self):
                self.t0 = time.perf_counter()
                if log.verbose:
                    print(f"[napari-tsne] {name} ...", file=sys.stderr, flush=True)

            def __exit__(self, *exc):
                dt = time.perf_counter() - self.t0
                key = name.split(" (")[0]
                log.timings[key] = log.timings.get(key, 0.0) + dt
                if log.verbose and exc[0] is None:
                    print(f"[napari-tsne] {name}: {dt:.2f} s", file=sys.stderr, flush=True)

        return _Stage()
