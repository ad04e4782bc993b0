"""The t-SNE job: the run schedule that every front end drives.

A :class:`TSNEJob` holds the data and the estimator's parameters and runs

1. **prepare**: nearest neighbours, affinities P, the initial map;
2. **the phase plan** (:func:`plan_phases`): early exaggeration, then the
   optimisation at the user's exaggeration; each phase runs in chunks of the live
   update interval (or whole, when there is none), and between chunks the job reads
   the live values (exaggeration, interval) and the stop flag;
3. with a sample (**subsample-and-extend**, Kobak & Berens 2019): the plan runs on
   the sample, the other samples are placed into the sample map
   (:func:`~napari_tsne.engine.subsample.extend`), and all samples are optimised
   together from that layout with :data:`FULL_EARLY_EXAGGERATION_ITER` iterations of
   early exaggeration.

:meth:`TSNEJob.steps` is a generator yielding an :class:`Update` (a stage text or a
copy of the coordinates) after each step and returning a :class:`Result`; the napari
widget runs it in a worker thread and draws the updates. :meth:`TSNEJob.run` runs it
to the end in the calling thread: that is what ``TSNE.fit``, the command line and
the headless demo use. :meth:`TSNEJob.more` plans more iterations (Continue), and
:meth:`TSNEJob.add_samples` places new samples into the finished map.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._threads import ENGINE_LOCK
from ._validation import TSNEInputError, check_data, check_precomputed
from .autostop import (
    CHECK_EVERY,
    PeakRule,
    StoppingRule,
    ThresholdRule,
    parse_schedule,
    phase_report,
)
from .embedding import TSNEEmbedding, _as_callbacks
from .eta import TimeLeft
from .neighbors import pynndescent_compiled, uses_pynndescent
from .optimizer import OptimizerState
from .precompile import compile_in_background, groups_for, kernels_need_compiling
from .preparation import StageLog, prepare_embedding
from .subsample import combine_layout, extend, sample_indices

#: early-exaggeration iterations of the map of all samples after subsample-and-extend.
#: The layout already has its structure, so the early phase only re-forms the clusters
#: at full size. On 12,000 Fashion-MNIST images with a 3,000 sample, 0 / 125 / 250
#: early iterations gave the same 10-NN accuracy as a full run (0.816 vs 0.815) and KL
#: 1.577 / 1.576 / 1.576 (full run 1.579); early iterations are cheap, so 125 are kept.
FULL_EARLY_EXAGGERATION_ITER = 125
#: the stages of subsample-and-extend, in order (``phase_callback`` gets these names)
STAGES = ("sample", "extend", "full")

PhaseCallback = Callable[[str, np.ndarray], None]


# ---------------------------------------------------------------------- records
@dataclass
class Phase:
    """One phase of the plan: ``remaining`` iterations at a fixed ``exaggeration``
    (None: the live value, read before every chunk). With a ``rule`` (an automatic
    phase) ``remaining`` is the maximum and the rule may end the phase sooner."""

    name: str
    remaining: int
    exaggeration: float | None
    momentum: float
    started: bool = False
    rule: StoppingRule | None = None
    #: the exaggeration of the previous chunk (a change restarts the rule)
    last_exaggeration: float | None = None


@dataclass
class Update:
    """What a job yields: a status text, or new coordinates."""

    kind: str  # "stage" or "coords"
    text: str = ""
    seq: int = 0  # number of coordinate updates made by the job so far
    coords: np.ndarray | None = None
    rows: np.ndarray | None = None  # rows of X the coordinates belong to (None: all)
    iteration: int = 0  # iterations of the current map so far
    done: int = 0  # iterations done in this run (for a progress bar)
    total: int = 0  # iterations planned for this run
    phase: str = ""
    kl: float = float("nan")
    exaggeration: float = float("nan")
    #: seconds the run's planned iterations still take (NaN: not known yet), see .eta
    seconds_left: float = float("nan")


@dataclass
class Result:
    """How a run of :meth:`TSNEJob.steps` ended."""

    stopped: bool = False
    error: str | None = None
    iterations: int = 0
    #: the run ended because the optimisation converged (``n_iter="auto"``)
    converged: bool = False


@dataclass
class LiveValues:
    """Values another thread may change while a job runs (read between chunks).

    ``update_interval=None`` runs each phase in one piece (no live updates).
    """

    exaggeration: float = 1.0
    update_interval: int | None = 10
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, **values) -> None:
        with self._lock:
            for k, v in values.items():
                setattr(self, k, v)

    def get(self) -> tuple[float, int | None]:
        with self._lock:
            interval = self.update_interval
            return float(self.exaggeration), None if interval is None else max(1, int(interval))


def plan_phases(params: Mapping[str, Any], early_exaggeration_iter: int | None = None):
    """The plan of a map: early exaggeration (if any), then the optimisation at the
    live exaggeration; a phase given as "auto" ends by its stopping rule
    (:mod:`~napari_tsne.engine.autostop`). ``early_exaggeration_iter`` overrides the
    parameter's (a fixed number)."""
    if early_exaggeration_iter is None:
        ee, ee_auto = parse_schedule(params["early_exaggeration_iter"], "early_exaggeration_iter")
    else:
        ee, ee_auto = int(early_exaggeration_iter), False
    n_iter, auto = parse_schedule(params["n_iter"], "n_iter")
    plan = []
    if ee:
        plan.append(
            Phase(
                "early exaggeration",
                ee,
                float(params["early_exaggeration"]),
                float(params["early_momentum"]),
                rule=PeakRule() if ee_auto else None,
            )
        )
    plan.append(
        Phase(
            "optimisation",
            n_iter,
            None,
            float(params["momentum"]),
            rule=ThresholdRule() if auto else None,
        )
    )
    return plan


# -------------------------------------------------------------------------- job
class TSNEJob:
    """A t-SNE run that can be driven step by step (see the module docstring).

    Parameters
    ----------
    X : the data (features, or distances with ``metric="precomputed"``); may be None
        when ``embedding`` is given.
    params : the estimator's parameters (``TSNE.get_params()``).
    sample_size : int, float or None
        Subsample-and-extend with a sample of this many rows (or this fraction).
    stratify : one label per row: the sample is drawn in proportion to each label.
    embedding : a prepared :class:`TSNEEmbedding` to optimise instead of preparing one.
    live : :class:`LiveValues` read between chunks (default: the parameters'
        exaggeration, phases in one piece).
    phase_callback : ``f(stage, rows)`` called before each stage of
        subsample-and-extend (:data:`STAGES`) with the rows of ``X`` it moves.
    extend_options : keyword arguments of :func:`~napari_tsne.engine.subsample.extend`
        (``optimize=False`` places the other samples without optimising them).
    full_early_exaggeration_iter : overrides :data:`FULL_EARLY_EXAGGERATION_ITER`
        (never more than the parameters' own ``early_exaggeration_iter``).
    """

    def __init__(
        self,
        X,
        params: Mapping[str, Any],
        *,
        sample_size: int | float | None = None,
        stratify=None,
        embedding: TSNEEmbedding | None = None,
        live: LiveValues | None = None,
        phase_callback: PhaseCallback | None = None,
        extend_options: Mapping[str, Any] | None = None,
        full_early_exaggeration_iter: int | None = None,
    ):
        self.params = dict(params)
        self.params["subsample"] = None  # the job does the subsampling itself
        self.live = live or LiveValues(
            exaggeration=float(self.params["exaggeration"]), update_interval=None
        )
        self.phase_callback = phase_callback
        self.extend_options = dict(extend_options or {})
        ee = parse_schedule(self.params["early_exaggeration_iter"], "early_exaggeration_iter")[0]
        full_ee = (
            FULL_EARLY_EXAGGERATION_ITER
            if full_early_exaggeration_iter is None
            else int(full_early_exaggeration_iter)
        )
        self.full_early_exaggeration_iter = min(full_ee, ee)
        self.log = StageLog(bool(self.params.get("verbose")))
        self.timings: dict[str, float] = {}
        self._watch = _StopWatch(_as_callbacks(self.params.get("callbacks")))
        self._converged_in_run = False
        if self.log.verbose:
            self._watch.callbacks.append(self._print_progress)
        self._event: threading.Event | None = None
        self.sample_idx: np.ndarray | None = None
        self.emb = embedding
        if embedding is not None:
            self.X = X
            self.n = embedding.shape[0]
        else:
            self.X = self._checked_data(X, sample_size is not None)
            self.n = int(self.X.shape[0])
            if sample_size is not None:
                self.sample_idx = sample_indices(
                    self.n, sample_size, self.params["random_state"], stratify
                )
            elif stratify is not None:
                raise TSNEInputError("stratify is only used with subsample=...; set subsample too.")
        #: "sample" (the map of the sample), "extend" (placing the others) or "map"
        self.stage = "sample" if self.subsampled else "map"
        self.plan: list[Phase] = plan_phases(self.params)
        self.total_iterations = 0
        #: (exaggeration, momentum) of the phase run last (see _fresh_optimiser_on_switch)
        self._phase_key: tuple | None = None
        #: samples placed into the finished map by :meth:`add_samples`
        self.n_added = 0
        self._done_in_run = 0
        self._total_in_run = 0
        #: sequence number of the latest coordinate update (a drawing thread can skip
        #: updates that a newer one has already replaced)
        self.seq = 0
        self._eta = TimeLeft()

    def _checked_data(self, X, subsampling: bool):
        if self.params["metric"] != "precomputed":
            return check_data(X)
        X = check_precomputed(X)
        if subsampling and sp.issparse(X):
            raise TSNEInputError(
                "Subsample-and-extend with metric='precomputed' needs a dense square "
                "distance matrix (the placed points need their distances to the sample)."
            )
        return X

    # ---------------------------------------------------------------- state
    @property
    def subsampled(self) -> bool:
        """Whether the job maps a sample first (a sample smaller than the data)."""
        return self.sample_idx is not None and len(self.sample_idx) < self.n

    @property
    def rows(self) -> np.ndarray | None:
        """Rows of X that the current map holds (None: all, in order)."""
        return self.sample_idx if self.stage == "sample" else None

    @property
    def coordinates(self) -> np.ndarray | None:
        return None if self.emb is None else self.emb.coordinates

    @property
    def stopped(self) -> bool:
        """Whether the stop flag is set or a callback asked to stop."""
        return self._watch.stopped or (self._event is not None and self._event.is_set())

    def planned(self) -> int:
        """Iterations that the plan still holds (all stages)."""
        total = sum(p.remaining for p in self.plan)
        if self.stage == "sample":
            n_iter = parse_schedule(self.params["n_iter"], "n_iter")[0]
            total += self.full_early_exaggeration_iter + n_iter
        return total

    def more(self, n_iter: int) -> None:
        """Plan ``n_iter`` more iterations at the live exaggeration (Continue), unless a
        stopped run still has a plan to finish."""
        if not self.plan and self.stage == "map":
            self.plan.append(
                Phase("optimisation", int(n_iter), None, float(self.params["momentum"]))
            )

    def add_samples(self, X_new, *, n_jobs: int | None | str = "default", **transform_kwargs):
        """Place new samples into the finished map, which does not move (see
        :meth:`~napari_tsne.TSNEEmbedding.transform`); returns their coordinates."""
        if self.emb is None or self.stage != "map":
            raise TSNEInputError(
                "There is no finished map to add samples to yet: run the job to its end "
                "(or continue it after a stop) first."
            )
        with ENGINE_LOCK:
            Y = self.emb.transform(X_new, n_jobs=n_jobs, **transform_kwargs)
        self.n_added += int(Y.shape[0])
        return Y

    def compiles_neighbour_search(self, n_samples: int) -> bool:
        """Whether preparing a map of ``n_samples`` points will first compile
        pynndescent's search (once per process)."""
        return (
            self.params["metric"] != "precomputed"
            and uses_pynndescent(
                str(self.params["neighbors"]),
                n_samples,
                metric=self.params["metric"],
                sparse=self.X is not None and sp.issparse(self.X),
            )
            and not pynndescent_compiled()
        )

    # ----------------------------------------------------------------- runs
    def run(self) -> TSNEEmbedding:
        """Run the job to its end in this thread and return the embedding of all rows.

        If a callback stops the map of the sample, the other samples are still placed
        (without optimisation) so that the result covers every row; its ``stopped`` is
        True.
        """
        gen = self.steps()
        while True:
            try:
                next(gen)
            except StopIteration:
                break
        if self.stage == "sample" and self.emb is not None:
            self._place_rest(optimize=False)
        self.emb.stopped = self.stopped
        self.emb.timings.update(self.timings)
        if self.sample_idx is not None:
            self.emb.sample_indices = self.sample_idx
        return self.emb

    def steps(self, stop: threading.Event | None = None):
        """Generator: prepare (if needed), then the plan, in chunks; yields
        :class:`Update` objects and returns a :class:`Result`. Setting ``stop`` ends
        it after the current chunk; the job can be continued with another call."""
        self._event = stop
        self._watch.stopped = False
        self._done_in_run = 0
        self._converged_in_run = False
        self._total_in_run = self.planned()
        if self.emb is None:
            background = None
            groups = self._kernel_groups()
            if kernels_need_compiling(groups):
                self.log.say(COMPILE_NOTICE)
                yield Update("stage", "compiling (first run only) …")
                # the optimisation's kernels in other processes, while this one finds
                # the neighbours and computes P (see .precompile)
                background = compile_in_background(groups)
            yield Update("stage", self._prepare_text())
            if self.stage == "sample":
                self._announce("sample", self.sample_idx)
                X_fit, params = self._sample_data()
            else:
                X_fit, params = self.X, self.params
            try:
                with self._timed(*(("sample",) if self.stage == "sample" else ())):
                    self.emb = prepare_embedding(X_fit, params)
            except BaseException:
                if background is not None:
                    background.stop()
                raise
            if background is not None:
                yield Update("stage", "compiling the optimisation (first run only) …")
                with self._timed("compiling"):
                    background.wait()
            yield self._coords("initialisation")
        yield from self._optimise_plan()
        if not self.stopped and self.stage == "sample":
            yield Update(
                "stage",
                f"placing the other {self.n - len(self.sample_idx):,} samples into the "
                "sample map …",
            )
            self._place_rest(**self.extend_options)
            yield self._coords("all samples: initialisation")
            if not self.stopped:
                yield from self._optimise_plan()
        return Result(
            stopped=self.stopped,
            iterations=self._done_in_run,
            converged=self._converged_in_run and not self.plan,
        )

    def _prepare_text(self) -> str:
        n_fit = len(self.sample_idx) if self.stage == "sample" else self.n
        what = "the sample" if self.stage == "sample" else "all samples"
        text = f"nearest neighbours and affinities of {what}"
        if self.compiles_neighbour_search(n_fit):
            text += " (first large map of this session: compiling the search, ~1 min)"
        return f"{text} …"

    def _sample_data(self):
        idx = self.sample_idx
        precomputed = self.params["metric"] == "precomputed"
        X_s = _rows(self.X, idx, idx if precomputed else None)
        params = dict(self.params)
        init = params["init"]
        if not isinstance(init, str):
            params["init"] = np.asarray(init)[idx]
        return X_s, params

    def _kernel_groups(self) -> list[str]:
        """The kernel groups this run's maps need (the sample's and the whole map's)."""
        sizes = {self.n} if self.stage != "sample" else {len(self.sample_idx), self.n}
        method = self.params["negative_gradient_method"]
        dims = int(self.params["n_components"])
        groups = [g for n in sorted(sizes) for g in groups_for(n, dims, method)]
        return list(dict.fromkeys(groups))

    def _optimise_plan(self):
        cbs = [self._watch] if self._watch.callbacks else []
        every = int(self.params["callback_every"])
        while self.plan and not self.stopped:
            phase = self.plan[0]
            exg_live, interval = self.live.get()
            k = phase.remaining if interval is None else min(interval, phase.remaining)
            exg = phase.exaggeration if phase.exaggeration is not None else exg_live
            if phase.rule is not None:
                k = min(k, CHECK_EVERY)  # the rule reads the KL of each chunk's end
                if phase.last_exaggeration is not None and exg != phase.last_exaggeration:
                    phase.rule.reset()  # a new objective: test its convergence afresh
                phase.last_exaggeration = exg
            keys = (phase.name,) if self.stage == "map" else ("sample",)
            if self.subsampled and self.stage == "map":
                keys += ("full",)
            if not phase.started:
                phase.started = True
                self._fresh_optimiser_on_switch(phase)
                self._eta.restart()  # another phase, another speed
                self.log.say(f"{phase.name} ({phase.remaining} iterations)")
            before = self.emb.n_iter
            with self._timed(*keys), ENGINE_LOCK:
                self.emb.optimize(
                    k,
                    exaggeration=exg,
                    learning_rate=self.params["learning_rate"],
                    momentum=phase.momentum,
                    callbacks=cbs,
                    callback_every=every,
                )
            done = self.emb.n_iter - before
            phase.remaining -= done
            self._done_in_run += done
            self._eta.add(self._done_in_run)  # the first chunk of a phase only starts the clock
            self.total_iterations += done
            runs = self.emb.phase_iterations
            runs[phase.name] = runs.get(phase.name, 0) + done
            converged = (
                phase.rule is not None
                and done > 0
                and phase.rule.update(self.emb.kl_divergence, done)
                and phase.remaining > 0
            )
            if converged:
                # the progress bar's total shrinks to what the run will now do
                self._total_in_run -= phase.remaining
                phase.remaining = 0
                self.emb.converged.append(phase.name)
                self._converged_in_run = phase.name == "optimisation"
            if phase.remaining <= 0:
                self.plan.pop(0)
                how = f"converged after {runs[phase.name]} iterations" if converged else "done"
                self.log.say(f"{phase.name}: {how}, KL divergence {self.emb.kl_divergence:.4f}")
            name = phase.name if self.stage == "map" else f"sample: {phase.name}"
            yield self._coords(name, exg)

    def _fresh_optimiser_on_switch(self, phase: Phase) -> None:
        """A phase with another objective or momentum than the one before (early
        exaggeration -> optimisation) starts with unit gains and no velocity, as
        scikit-learn's does. The gains and momentum grown under the exaggerated
        objective only slow the first steps of the new one: measured, 250 + 500
        iterations, KL under one common P: digits 0.7528 -> 0.7474, 8,032 word vectors
        2.4185 -> 2.4053, 20,000 Fashion-MNIST images 1.8371 -> 1.8376 (unchanged).
        A continued phase of the same kind (Stop, Continue; more iterations) keeps
        the state, so a chunked run equals an uninterrupted one."""
        key = (phase.exaggeration, phase.momentum)
        if self._phase_key is not None and key != self._phase_key and self.emb is not None:
            self.emb.state = OptimizerState.fresh(self.emb.coordinates.shape)
        self._phase_key = key

    def _place_rest(self, optimize: bool = True, **transform_kwargs) -> None:
        """Place the rows outside the sample into the sample map, then prepare the map of
        all rows from that layout (the ``extend`` and the start of the ``full`` stage)."""
        idx = self.sample_idx
        rest = np.setdiff1d(np.arange(self.n), idx, assume_unique=True)
        precomputed = self.params["metric"] == "precomputed"
        every = int(self.params["callback_every"]) if self._watch.callbacks else 10
        self.stage = "extend"
        try:
            self._announce("extend", rest)
            with self._timed("extend"), ENGINE_LOCK:
                Y_rest = extend(
                    self.emb,
                    _rows(self.X, rest, idx if precomputed else None),
                    optimize=optimize and not self.stopped,
                    callbacks=[self._watch_or_event],
                    callback_every=every,
                    **transform_kwargs,
                )
            init = combine_layout(self.n, idx, self.emb.coordinates, Y_rest)
            self._announce("full", np.arange(self.n))
            ee = self.full_early_exaggeration_iter
            params = {**self.params, "init": init, "early_exaggeration_iter": ee}
            with self._timed("full"), ENGINE_LOCK:
                full = prepare_embedding(self.X, params)
        except BaseException:
            self.stage = "sample"  # the sample map is still there to try again from
            raise
        self.emb = full
        self.stage = "map"
        self.plan = plan_phases(self.params, ee)

    def _print_progress(self, iteration, kl, Y) -> None:
        """The verbose progress line. Placing new points reports the sum of their own
        KL divergences (each has its own P row), so that phase shows the mean."""
        if self.stage == "extend":
            what = f"mean KL divergence of the placed points {kl / max(len(Y), 1):.4f}"
        else:
            what = f"KL divergence {kl:.4f}"
        print(f"  iteration {iteration:5d}  {what}", file=sys.stderr, flush=True)

    def _watch_or_event(self, iteration, kl, Y) -> bool:
        stop = self._watch(iteration, kl, Y) if self._watch.callbacks else False
        return stop or self.stopped

    def _seconds_left(self) -> float:
        """The time the planned iterations still take (see :mod:`.eta`): the current
        phase at its speed; the optimisation after early exaggeration at ``LATER_COST``
        times early exaggeration's."""
        if not self.plan:
            return 0.0
        current, rest = self.plan[0], self.plan[1:]
        if current.name == "early exaggeration":
            return self._eta.estimate(current.remaining, sum(p.remaining for p in rest))
        return self._eta.estimate(current.remaining + sum(p.remaining for p in rest))

    def _coords(self, phase: str, exaggeration: float = float("nan")) -> Update:
        emb = self.emb
        self.seq += 1
        return Update(
            seq=self.seq,
            kind="coords",
            coords=emb.coordinates.copy(),
            rows=None if self.rows is None else self.rows.copy(),
            iteration=int(emb.n_iter),
            done=self._done_in_run,
            total=self._total_in_run,
            phase=phase,
            kl=float(emb.kl_divergence),
            exaggeration=exaggeration,
            seconds_left=self._seconds_left() if self.stage == "map" else float("nan"),
        )

    def _announce(self, stage: str, rows) -> None:
        if not self.subsampled:
            return
        self.log.say(f"subsample-and-extend: {stage} ({len(rows)} points)")
        for cb in self._watch.callbacks:
            if hasattr(cb, "phase"):
                try:
                    cb.phase = stage
                except AttributeError:
                    pass
        if self.phase_callback is not None:
            self.phase_callback(stage, rows)

    def _timed(self, *keys: str):
        """Adds the time of a block under each of ``keys``: the stages of
        subsample-and-extend (:data:`STAGES`) to the job's ``timings`` as
        ``subsample: <stage>``, phase names to the current embedding's ``timings``."""
        return _Timer(self, keys)

    def result_params(self) -> dict[str, Any]:
        """Parameters to store with the map (``uns["tsne"]["params"]``)."""
        skip = ("callbacks", "init", "verbose", "callback_every")
        p = {k: v for k, v in self.params.items() if k not in skip}
        init = self.params.get("init", "pca")
        p["init"] = init if isinstance(init, str) else "array"
        p["subsample"] = int(len(self.sample_idx)) if self.sample_idx is not None else None
        p["n_iter_total"] = int(self.emb.n_iter) if self.emb is not None else 0
        p["kl_divergence"] = float(self.emb.kl_divergence) if self.emb is not None else None
        if self.emb is not None:
            p.update(phase_report(self.emb))
        return p


class _Timer:
    def __init__(self, job: TSNEJob, keys: tuple[str, ...]):
        self.job, self.keys = job, keys

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        dt = time.perf_counter() - self.t0
        for key in self.keys:
            if key in STAGES:
                table, key = self.job.timings, f"subsample: {key}"
            else:
                table = self.job.emb.timings
            table[key] = table.get(key, 0.0) + dt
        return False


class _StopWatch:
    """Calls the user's callbacks and remembers whether one of them asked to stop; once
    stopped, every later call says stop at once so that the remaining stages end."""

    def __init__(self, callbacks: list):
        self.callbacks = list(callbacks)
        self.stopped = False

    def __call__(self, iteration, kl, Y) -> bool:
        if self.stopped:
            return True
        stop = False
        for cb in self.callbacks:
            stop = bool(cb(iteration, kl, Y)) or stop
        self.stopped = stop
        return stop


def _rows(X, rows, cols=None):
    """``X[rows]`` (or ``X[rows][:, cols]`` for distance matrices), dense or CSR."""
    if cols is None:
        return X[rows]
    return X[np.ix_(rows, cols)] if not sp.issparse(X) else X[rows][:, cols]


# ------------------------------------------------------------------ composed
def fit_subsample_and_extend(
    tsne,
    X,
    sample_size: int | float,
    *,
    stratify=None,
    extend_optimize: bool = True,
    callbacks=None,
    phase_callback: PhaseCallback | None = None,
    full_early_exaggeration_iter: int | None = None,
    **transform_kwargs,
) -> TSNEEmbedding:
    """Subsample-and-extend with the parameters of ``tsne`` (a :class:`~napari_tsne.TSNE`);
    returns the embedding of all rows of ``X`` in their original order.

    ``callbacks`` default to ``tsne.callbacks``; they get ``(iteration, kl,
    coordinates)`` of the points each stage moves (the iteration count restarts in
    each stage), and a callback object with a ``phase`` attribute gets it set to the
    stage's name. If one returns True the current stage stops and later stages run no
    iterations: the result is still a complete, continuable embedding with
    ``stopped = True``. ``transform_kwargs`` go to
    :meth:`~napari_tsne.TSNEEmbedding.transform` in the extend stage.
    """
    params = tsne.get_params()
    if callbacks is not None:
        params["callbacks"] = callbacks
    job = TSNEJob(
        X,
        params,
        sample_size=sample_size,
        stratify=stratify,
        phase_callback=phase_callback,
        extend_options={"optimize": extend_optimize, **transform_kwargs},
        full_early_exaggeration_iter=full_early_exaggeration_iter,
    )
    return job.run()


# ----------------------------------------------------------------- compiling
#: what a front end says when a run must first compile (measured on this project's
#: 2-core machine: 25-45 s of a first 20,000-point map, none on later runs)
COMPILE_NOTICE = (
    "first run after installation: compiling the numerical kernels, about 5-20 s "
    "(once; later runs reuse them)"
)
