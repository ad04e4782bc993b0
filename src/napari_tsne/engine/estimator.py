"""``TSNE``: the scikit-learn-style front door to the engine.

It stores the parameters (scikit-learn's estimator contract); ``fit`` hands them to
the :class:`~napari_tsne.engine.job.TSNEJob` that runs the pipeline -- validation,
kNN, affinities, initialisation, early exaggeration, then the normal phase -- and
keeps the resulting
:class:`~napari_tsne.engine.embedding.TSNEEmbedding` so the map can be continued
(``tsne_embedding_.optimize``) or extended with new samples.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ._validation import TSNEInputError
from .embedding import TSNEEmbedding
from .job import LiveValues, TSNEJob
from .preparation import prepare_embedding, validated_params


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
        iterations) that lets clusters form. ``early_exaggeration_iter="auto"`` ends
        the phase when the KL divergence's rate of change has peaked (opt-SNE; at most
        500 iterations, ``"auto:N"``: at most N); see :mod:`napari_tsne.engine.autostop`.
    n_iter : int or "auto"
        Iterations of the normal phase after early exaggeration (default 750: 1,000 in
        all, as scikit-learn, scanpy and FIt-SNE run).
        ``"auto"`` stops when the KL improves by less than KL/12000 per iteration (at
        most 2000, ``"auto:N"``: at most N). ``n_iter_`` is the number of iterations
        run, ``tsne_embedding_.phase_iterations`` those of each phase.
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
        Barnes-Hut accuracy (0 = exact). 0.4, not the usual 0.5: the criterion here
        uses each cell's tight bounding box, which can summarise more cells at the same
        theta than the cell side other tools use; at 0.4 the map of 6,000 Fashion-MNIST
        images reaches KL 1.281 (common P) against openTSNE's 1.289 (0.5 here: 1.300).
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
        early_exaggeration_iter: int | str = 250,
        n_iter: int | str = 750,
        exaggeration: float = 1.0,
        learning_rate: float | str = "auto",
        metric: str = "euclidean",
        neighbors: str = "auto",
        affinities: str = "perplexity",
        init: str | np.ndarray = "pca",
        dof: float = 1.0,
        negative_gradient_method: str = "auto",
        theta: float = 0.4,
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
        return validated_params(self.get_params(), n_samples)

    def job(self, X, *, stratify=None, live: LiveValues | None = None, **options) -> TSNEJob:
        """The :class:`~napari_tsne.engine.job.TSNEJob` that fits ``X`` with these
        parameters (a sample first when ``subsample`` is set): run it with ``.run()``
        or step through it with ``.steps()`` (live maps). ``options`` go to the job."""
        return TSNEJob(
            X,
            self.get_params(),
            sample_size=self.subsample,
            stratify=stratify,
            live=live,
            **options,
        )

    def prepare(self, X) -> TSNEEmbedding:
        """Validate, find neighbours, compute P and the initial map (no optimisation)."""
        return prepare_embedding(X, self.get_params())

    def run_phases(self, emb: TSNEEmbedding) -> TSNEEmbedding:
        """Early exaggeration, then the normal phase, on a prepared ``emb`` (stops early
        if a callback says so)."""
        return TSNEJob(None, self.get_params(), embedding=emb).run()

    def fit_embedding(self, X, *, stratify=None) -> TSNEEmbedding:
        """Run the whole pipeline and return the :class:`TSNEEmbedding`.

        With ``subsample`` set, runs subsample-and-extend; ``stratify`` (one label per
        sample) then draws the sample proportionally from each label.
        """
        return self.job(X, stratify=stratify).run()

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
