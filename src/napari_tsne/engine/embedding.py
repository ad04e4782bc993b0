"""A t-SNE map that remembers how it was made: coordinates, affinities P, the kNN
index and the optimiser state. It can be optimised further (``optimize``), with any
exaggeration, and gives identical results whether a run is done in one call or in
pieces -- which is what the napari widget uses for live updates, Stop and Continue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._threads import numba_threads
from ._validation import TSNEInputError, check_positive
from .gradients import RepulsionParams, kl_gradient, resolve_method
from .gradients.attractive import LOCALITY_MIN_N, MapOrder, p_log_p
from .neighbors import KNNGraph
from .optimizer import Callback, OptimizerState, gradient_descent


class TSNEEmbedding:
    """Coordinates of a t-SNE map plus everything needed to continue or extend it.

    ``np.asarray(embedding)`` gives the ``(n_samples, n_components)`` coordinates.
    """

    def __init__(
        self,
        coordinates: np.ndarray,
        P: sp.csr_matrix,
        *,
        knn: KNNGraph | None = None,
        dof: float = 1.0,
        negative_gradient_method: str = "auto",
        repulsion_params: RepulsionParams | None = None,
        n_jobs: int | None = None,
        max_step_norm: float | None = 5.0,
        params: dict[str, Any] | None = None,
        n_features_in: int | None = None,
    ):
        self.coordinates = np.ascontiguousarray(coordinates, dtype=np.float64)
        self.P = P
        self.knn = knn
        self.dof = float(dof)
        self.negative_gradient_method = negative_gradient_method
        self.repulsion_params = repulsion_params or RepulsionParams()
        self.n_jobs = n_jobs
        self.max_step_norm = max_step_norm
        self.params = dict(params or {})
        #: number of features of the data the map was made from (checked by ``transform``)
        self.n_features_in = None if n_features_in is None else int(n_features_in)
        self.state = OptimizerState.fresh(self.coordinates.shape)
        self.n_iter = 0
        self.kl_divergence = float("nan")
        #: True if the last ``optimize`` call was stopped by a callback
        self.stopped = False
        #: timings of the optimisation calls, in seconds
        self.timings: dict[str, float] = {}
        #: iterations run in each phase of a job's plan ("early exaggeration", ...)
        self.phase_iterations: dict[str, int] = {}
        #: the phases that a stopping rule ended (``n_iter="auto"`` and the like)
        self.converged: list[str] = []
        self._order: tuple[Any, MapOrder] | None = None
        self._p_terms: tuple[Any, tuple[float, np.ndarray]] | None = None

    #: the caches derived from ``P`` (rebuilt when ``P`` is replaced; not pickled)
    _P_CACHES = ("_order", "_p_terms")

    def _for_P(self, attr: str, build: Callable[[Any], Any]):
        """``build(P)``, kept in ``attr`` until ``P`` is replaced."""
        cached = getattr(self, attr, None)  # absent in maps pickled before it existed
        if cached is None or cached[0] is not self.P:
            cached = (self.P, build(self.P))
            setattr(self, attr, cached)
        return cached[1]

    def _locality_order(self) -> MapOrder | None:
        """The cache-friendly order of ``P`` for large maps."""
        if self.shape[0] < LOCALITY_MIN_N:
            return None
        return self._for_P("_order", MapOrder)

    def _kl_p_terms(self) -> tuple[float, np.ndarray]:
        """``sum p log p`` and the row sums of ``P``: the constant part of every KL
        evaluation, which an automatic stopping rule or a live view asks for every 10
        iterations."""
        return self._for_P("_p_terms", lambda P: p_log_p(P.indptr, P.data))

    def __setstate__(self, state):
        state.setdefault("phase_iterations", {})  # maps pickled before these existed
        state.setdefault("converged", [])
        self.__dict__.update(state)

    def __getstate__(self):
        state = self.__dict__.copy()
        for attr in self._P_CACHES:  # caches of P's size, rebuilt when needed
            state[attr] = None
        return state

    # ------------------------------------------------------------------ array-like
    def __array__(self, dtype=None, copy=None):
        return self.coordinates if dtype is None else self.coordinates.astype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return self.coordinates.shape

    def __len__(self) -> int:
        return self.coordinates.shape[0]

    def __repr__(self) -> str:
        return (
            f"TSNEEmbedding(n_samples={self.shape[0]}, n_components={self.shape[1]}, "
            f"n_iter={self.n_iter}, kl_divergence={self.kl_divergence:.4f})"
        )

    # --------------------------------------------------------------- optimisation
    def optimize(
        self,
        n_iter: int,
        *,
        exaggeration: float = 1.0,
        learning_rate: float | str = "auto",
        momentum: float = 0.8,
        callbacks: Callback | Sequence[Callback] | None = None,
        callback_every: int = 50,
        negative_gradient_method: str | None = None,
        max_step_norm: float | None | str = "default",
        n_jobs: int | None | str = "default",
    ) -> TSNEEmbedding:
        """Run ``n_iter`` more iterations in place and return ``self``.

        ``learning_rate="auto"`` is ``n_samples / exaggeration`` (Belkina et al. 2019),
        in openTSNE's convention (scikit-learn's learning rate is 4x smaller for the
        same step). A callback ``f(iteration, kl, coordinates)`` is called every
        ``callback_every`` iterations; returning True stops the run (``self.stopped``).
        """
        check_positive(n_iter, "n_iter", integer=True, allow_zero=True)
        check_positive(exaggeration, "exaggeration")
        check_positive(momentum, "momentum", allow_zero=True)
        check_positive(callback_every, "callback_every", integer=True)
        n = self.shape[0]
        lr = self._learning_rate(learning_rate, exaggeration)
        method = resolve_method(
            negative_gradient_method or self.negative_gradient_method, n, self.shape[1]
        )
        step_clip = self.max_step_norm if max_step_norm == "default" else max_step_norm
        jobs = self.n_jobs if n_jobs == "default" else n_jobs
        cbs = _as_callbacks(callbacks)
        params = self.repulsion_params
        with numba_threads(jobs):
            order = self._locality_order()

        def grad_fn(Y, compute_kl):
            return kl_gradient(
                Y,
                self.P,
                method=method,
                dof=self.dof,
                exaggeration=exaggeration,
                params=params,
                compute_kl=compute_kl,
                order=order,
                p_terms=self._kl_p_terms() if compute_kl else None,
            )

        self.stopped = False
        if n_iter == 0:
            return self
        t0 = time.perf_counter()
        start = self.state.iterations
        kl, stopped = float("nan"), False
        try:
            with numba_threads(jobs):
                kl, _, stopped = gradient_descent(
                    self.coordinates,
                    grad_fn,
                    int(n_iter),
                    self.state,
                    learning_rate=lr / 4.0,  # the gradient carries the factor 4; see docstring
                    momentum=float(momentum),
                    max_step_norm=step_clip,
                    callbacks=cbs,
                    callback_every=int(callback_every),
                    start_iter=self.n_iter,
                )
        finally:
            # an exception (Ctrl-C, a failing callback) still leaves a consistent record:
            # the steps that were applied are counted; the KL is unknown (NaN)
            dt = time.perf_counter() - t0
            self.timings["optimize"] = self.timings.get("optimize", 0.0) + dt
            self.n_iter += self.state.iterations - start
            self.kl_divergence = kl
            self.stopped = stopped
        return self

    # ---------------------------------------------------------------- new samples
    def transform(
        self,
        X_new=None,
        *,
        perplexity: float = 5.0,
        k: int | None = None,
        init: str | np.ndarray = "median",
        n_iter: int = 250,
        early_exaggeration: float = 4.0,
        early_exaggeration_iter: int = 0,
        exaggeration: float = 1.5,
        learning_rate: float = 0.1,
        momentum: float = 0.8,
        max_grad_norm: float | None = 0.25,
        max_step_norm: float | None = None,
        negative_gradient_method: str | None = None,
        callbacks: Callback | Sequence[Callback] | None = None,
        callback_every: int = 50,
        knn: tuple[np.ndarray, np.ndarray] | None = None,
        n_jobs: int | None | str = "default",
    ) -> np.ndarray:
        """Place new samples into this map and return their ``(n_new, n_components)``
        coordinates; the map itself (coordinates, P, optimiser state) is not changed.

        Each new point gets Gaussian affinities (``perplexity``) to its ``k`` nearest
        reference samples (default ``3 * perplexity``), starts at the ``init`` position
        ("median", "weighted" or "nearest" of those neighbours' map positions, or an
        array) and is optimised for ``early_exaggeration_iter + n_iter`` iterations
        against the fixed map only (new points do not interact). ``learning_rate`` and
        ``max_grad_norm`` (per-point gradient clip) are in openTSNE's units; the
        defaults are openTSNE's. ``n_iter=0`` gives the initial placement only.

        ``X_new`` must have the reference's features (for a map made from
        ``metric="precomputed"``: the distances to the reference samples, shape
        ``(n_new, n_ref)``). ``knn=(indices, distances)``, each ``(n_new, k)``, gives
        the neighbours of the new samples among the reference samples instead of
        searching them (``X_new`` may then be None). Callbacks get
        ``(iteration, kl, new_coordinates)`` and may return True to stop early.
        """
        from .transform import TransformParams, transform_embedding

        schedule = TransformParams(
            perplexity=perplexity,
            k=k,
            init=init,
            n_iter=n_iter,
            early_exaggeration=early_exaggeration,
            early_exaggeration_iter=early_exaggeration_iter,
            exaggeration=exaggeration,
            learning_rate=learning_rate,
            momentum=momentum,
            max_grad_norm=max_grad_norm,
            max_step_norm=max_step_norm,
        )
        Y, _ = transform_embedding(
            self,
            X_new,
            schedule,
            knn=knn,
            negative_gradient_method=negative_gradient_method,
            callbacks=_as_callbacks(callbacks),
            callback_every=callback_every,
            n_jobs=self.n_jobs if n_jobs == "default" else n_jobs,
        )
        return Y

    def _learning_rate(self, learning_rate, exaggeration) -> float:
        if isinstance(learning_rate, str):
            if learning_rate != "auto":
                raise TSNEInputError(
                    f"learning_rate must be a positive number or 'auto'; got {learning_rate!r}."
                )
            return max(self.shape[0] / exaggeration, 1.0)
        return float(check_positive(learning_rate, "learning_rate"))


def _as_callbacks(callbacks) -> list[Callable]:
    if callbacks is None:
        return []
    if callable(callbacks):
        return [callbacks]
    cbs = list(callbacks)
    for cb in cbs:
        if not callable(cb):
            raise TSNEInputError(f"callbacks must be callables; got {cb!r}.")
    return cbs
