"""The t-SNE dock widget for napari.

``TSNEWidget`` is a magicgui ``Container``. A run happens in a napari
``thread_worker`` generator: the engine (:class:`TSNERun`, GUI-free) optimises the
map in chunks of ``update interval`` iterations and yields a copy of the
coordinates after each chunk; the output Points layer is changed only in the
worker's ``yielded``/``returned`` slots, i.e. in the main thread. Between chunks the
worker reads the live values (exaggeration, update interval) that the main thread
sets from the widget, and the stop flag.
"""

from __future__ import annotations

import collections
import math
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)
from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info

from ._options import PREFERRED_COLOUR_COLUMNS, WIDGET_OPTIONS, tsne_kwargs
from ._reader import point_size
from ._sources import (
    ANNDATA_FILE,
    OUTPUT_MARK,
    FeatureSource,
    SourceError,
    check_source,
    colour_columns,
    count_nonfinite_rows,
    layer_adata,
    layer_representations,
    load_anndata_file,
    obs_from_features,
    points_features,
    source_from_anndata,
    source_from_layer,
    usable_layers,
)
from .engine import TSNE, TSNEInputError
from .engine._validation import METRICS
from .engine.neighbors import pynndescent_compiled, uses_pynndescent

if TYPE_CHECKING:
    import napari

__all__ = ["TSNEWidget", "TSNERun", "LiveValues", "Update", "warm_up_kernels"]

#: serialises engine work between the warm-up thread and the run workers (numba's
#: workqueue threading layer must not run parallel kernels from two threads at once)
ENGINE_LOCK = threading.RLock()
NO_COLOUR = "(single colour)"
DEFAULT_COLOUR = "#4f9bd9"
#: iterations of the early-exaggeration phase of the full map after subsample-and-extend
FULL_EE_ITER = 125


# =============================================================================== engine


@dataclass
class Phase:
    name: str
    remaining: int
    exaggeration: float | None  # None: read the live value before every chunk
    momentum: float


@dataclass
class Update:
    """What the worker yields: a status text, or new coordinates."""

    kind: str  # "stage" or "coords"
    text: str = ""
    seq: int = 0  # number of coordinate updates made by the run so far
    coords: np.ndarray | None = None
    rows: np.ndarray | None = None  # rows of X the coordinates belong to (None: all)
    iteration: int = 0  # iterations of the current map so far
    done: int = 0  # iterations done in this run (for the progress bar)
    total: int = 0  # iterations planned for this run
    phase: str = ""
    kl: float = float("nan")
    exaggeration: float = float("nan")


@dataclass
class Result:
    stopped: bool = False
    error: str | None = None
    iterations: int = 0


@dataclass
class LiveValues:
    """Values the main thread may change while a run goes on (read between chunks)."""

    exaggeration: float = 1.0
    update_interval: int = 10
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, **values):
        with self._lock:
            for k, v in values.items():
                setattr(self, k, v)

    def get(self) -> tuple[float, int]:
        with self._lock:
            return float(self.exaggeration), max(1, int(self.update_interval))


def kernels_need_compiling() -> bool:
    """True if numba has no on-disk cache of the main kernels yet (first run)."""
    try:
        from .engine import optimizer
        from .engine.gradients import attractive, exact

        for disp in (optimizer._step, attractive.attractive_forces, exact.repulsive_exact):
            if disp.signatures:
                continue
            cache = getattr(disp, "_cache", None)
            index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
            if index is None or not os.path.exists(index):
                return True
        return False
    except Exception:  # pragma: no cover - numba internals changed
        return False


def warm_up_kernels() -> None:
    """Compile (or load from numba's cache) the kernels of a run on tiny data."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    with ENGINE_LOCK:
        for method in ("exact", "bh"):
            tsne = TSNE(
                perplexity=5,
                n_iter=2,
                early_exaggeration_iter=2,
                random_state=0,
                negative_gradient_method=method,
            )
            emb = tsne.prepare(X)
            tsne.run_phases(emb)
            emb.transform(X[:3], n_iter=2)


class TSNERun:
    """A t-SNE job that the widget (or the headless demo) runs in chunks.

    ``steps(live, stop)`` is a generator: it prepares the map (neighbours,
    affinities, initialisation), then runs the planned phases in chunks of
    ``live.update_interval`` iterations, yielding an :class:`Update` with a copy of
    the coordinates after each chunk, and returns a :class:`Result`. With a
    ``sample_size`` it runs subsample-and-extend: a map of the sample (shown live),
    the other samples placed into it, then all samples optimised together.
    ``more(n_iter)`` plans more iterations for the next ``steps`` call (Continue).
    """

    def __init__(self, X, params: dict[str, Any], *, sample_size: int | None = None):
        self.X = X
        self.params = dict(params)
        self.params.pop("subsample", None)
        self.tsne = TSNE(**self.params)
        self.n = int(X.shape[0])
        self.learning_rate = self.params.get("learning_rate", "auto")
        self.sample_idx = None
        if sample_size is not None and 4 <= int(sample_size) < self.n:
            from .engine.subsample import sample_indices

            self.sample_idx = sample_indices(
                self.n, int(sample_size), self.params.get("random_state")
            )
        self.stage = "sample" if self.sample_idx is not None else "map"
        self.emb = None
        self.total_iterations = 0
        self.plan: list[Phase] = self._phases(int(self.tsne.early_exaggeration_iter))
        self._done_in_run = 0
        self._total_in_run = 0
        #: sequence number of the latest coordinate update (read by the main thread to
        #: skip drawing updates that a newer one has already replaced)
        self.seq = 0

    # ------------------------------------------------------------------ helpers
    def _phases(self, early_exaggeration_iter: int) -> list[Phase]:
        """The plan of a map: early exaggeration (if any), then the optimisation."""
        plan = []
        if early_exaggeration_iter:
            plan.append(
                Phase(
                    "early exaggeration",
                    early_exaggeration_iter,
                    float(self.tsne.early_exaggeration),
                    float(self.tsne.early_momentum),
                )
            )
        plan.append(Phase("optimisation", int(self.tsne.n_iter), None, float(self.tsne.momentum)))
        return plan

    @property
    def rows(self) -> np.ndarray | None:
        """Rows of X that the current map holds (None: all, in order)."""
        return self.sample_idx if self.stage == "sample" else None

    @property
    def coordinates(self) -> np.ndarray | None:
        return None if self.emb is None else self.emb.coordinates

    def planned(self) -> int:
        total = sum(p.remaining for p in self.plan)
        if self.stage == "sample":
            total += min(FULL_EE_ITER, int(self.tsne.early_exaggeration_iter))
            total += int(self.tsne.n_iter)
        return total

    def more(self, n_iter: int) -> None:
        """Plan ``n_iter`` more iterations (unless a stopped run still has a plan)."""
        if not self.plan and (self.stage == "map" or self.emb is None):
            self.plan.append(Phase("optimisation", int(n_iter), None, float(self.tsne.momentum)))

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
        )

    def _optimise_plan(self, live: LiveValues, stop: threading.Event):
        while self.plan and not stop.is_set():
            phase = self.plan[0]
            exg_live, interval = live.get()
            k = min(interval, phase.remaining)
            exg = phase.exaggeration if phase.exaggeration is not None else exg_live
            with ENGINE_LOCK:
                self.emb.optimize(
                    k, exaggeration=exg, learning_rate=self.learning_rate, momentum=phase.momentum
                )
            phase.remaining -= k
            self._done_in_run += k
            self.total_iterations += k
            if phase.remaining <= 0:
                self.plan.pop(0)
            name = phase.name if self.stage == "map" else f"sample: {phase.name}"
            yield self._coords(name, exg)

    def _compiles_neighbour_search(self, n_samples: int) -> bool:
        """Whether preparing a map of ``n_samples`` points will first compile
        pynndescent's search (once per process)."""
        return (
            self.tsne.metric != "precomputed"
            and uses_pynndescent(str(self.tsne.neighbors), n_samples, metric=self.tsne.metric)
            and not pynndescent_compiled()
        )

    # --------------------------------------------------------------------- run
    def steps(self, live: LiveValues, stop: threading.Event):
        self._done_in_run = 0
        self._total_in_run = self.planned()
        try:
            if self.emb is None:
                if kernels_need_compiling():
                    yield Update("stage", "compiling (first run only) …")
                X_fit = self.X if self.sample_idx is None else self.X[self.sample_idx]
                what = "the sample" if self.sample_idx is not None else "all samples"
                text = f"nearest neighbours and affinities of {what}"
                if self._compiles_neighbour_search(X_fit.shape[0]):
                    text += " (first large map of this session: compiling the search, ~1 min)"
                yield Update("stage", f"{text} …")
                with ENGINE_LOCK:
                    self.emb = self.tsne.prepare(X_fit)
                yield self._coords("initialisation")
            yield from self._optimise_plan(live, stop)
            if stop.is_set():
                return Result(stopped=True, iterations=self._done_in_run)
            if self.stage == "sample":
                yield from self._extend_and_full(live, stop)
                if stop.is_set():
                    return Result(stopped=True, iterations=self._done_in_run)
            return Result(stopped=False, iterations=self._done_in_run)
        except (TSNEInputError, ValueError, MemoryError) as err:
            return Result(error=str(err), iterations=self._done_in_run)
        except Exception as err:  # shown to the user instead of a traceback
            return Result(error=f"{type(err).__name__}: {err}", iterations=self._done_in_run)

    def _extend_and_full(self, live: LiveValues, stop: threading.Event):
        from .engine.subsample import combine_layout, extend

        idx = self.sample_idx
        rest = np.setdiff1d(np.arange(self.n), idx, assume_unique=True)
        yield Update("stage", f"placing the other {len(rest):,} samples into the sample map …")
        with ENGINE_LOCK:
            Y_rest = extend(
                self.emb,
                self.X[rest],
                callbacks=[lambda it, kl, Y: stop.is_set()],
                callback_every=10,
            )
        if stop.is_set():
            return
        init = combine_layout(self.n, idx, self.emb.coordinates, Y_rest)
        yield Update("stage", f"nearest neighbours and affinities of all {self.n:,} samples …")
        ee = min(FULL_EE_ITER, int(self.tsne.early_exaggeration_iter))
        full = TSNE(**{**self.params, "init": init, "early_exaggeration_iter": ee})
        with ENGINE_LOCK:
            emb = full.prepare(self.X)
        self.emb = emb
        self.stage = "map"
        self.plan = self._phases(ee)
        yield self._coords("all samples: initialisation")
        yield from self._optimise_plan(live, stop)

    def result_params(self) -> dict[str, Any]:
        """Parameters to store with the map (``uns["tsne"]["params"]``)."""
        p = {k: v for k, v in self.params.items() if k not in ("callbacks", "init")}
        init = self.params.get("init", "pca")
        p["init"] = init if isinstance(init, str) else "array"
        p["n_iter_total"] = int(self.emb.n_iter) if self.emb is not None else 0
        p["kl_divergence"] = float(self.emb.kl_divergence) if self.emb is not None else None
        if self.sample_idx is not None:
            p["subsample"] = int(len(self.sample_idx))
        return p


#: niceness added to the engine's thread while it runs, so that the GUI thread gets
#: the CPU first when both want it (Linux schedules threads separately)
WORKER_NICENESS = 10


class _background_priority:
    """Lower the calling thread's CPU priority (Linux) for the duration of a block.

    The engine then only uses CPU time the GUI thread does not need, which keeps
    the viewer responsive on machines with few cores. Afterwards the priority is
    restored if the system allows it (raising priority back may need privileges;
    then the pool thread simply stays at the lower priority).
    """

    def __enter__(self):
        self.tid = None
        if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
            return self
        try:
            self.tid = threading.get_native_id()
            self.old = os.getpriority(os.PRIO_PROCESS, self.tid)
            os.setpriority(os.PRIO_PROCESS, self.tid, min(19, self.old + WORKER_NICENESS))
        except OSError:
            self.tid = None
        return self

    def __exit__(self, *exc):
        if self.tid is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, self.tid, self.old)
            except OSError:
                pass
        return False


@thread_worker(start_thread=False, ignore_errors=True)
def _run_worker(run: TSNERun, live: LiveValues, stop: threading.Event):
    with _background_priority():
        return (yield from run.steps(live, stop))


@thread_worker(start_thread=False, ignore_errors=True)
def _transform_worker(emb, X_new, n_jobs):
    try:
        with _background_priority(), ENGINE_LOCK:
            return emb.transform(X_new, n_jobs=n_jobs)
    except Exception as err:  # reported in the widget
        return err


# =============================================================================== widget


def categorical_palette(n: int) -> np.ndarray:
    """``n`` distinguishable RGBA colours (tab10, tab20, then evenly spaced hues)."""
    import matplotlib

    n = max(int(n), 1)
    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return np.array([cmap(i) for i in range(n)])
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        order = list(range(0, 20, 2)) + list(range(1, 20, 2))  # strong colours first
        return np.array([cmap(i) for i in order[:n]])
    hsv = matplotlib.colormaps["hsv"]
    return np.array([hsv(i / n) for i in range(n)])


#: widget class and value type of each kind of option (see ``_options.Option.widget``)
_WIDGET_TYPES = {"float": FloatSpinBox, "int": SpinBox, "choice": ComboBox}
_VALUE_TYPES = {"float": float, "int": int, "choice": str}
#: choices that come from the engine (``_options`` does not import it)
_ENGINE_CHOICES = {"metric": list(METRICS)}


def _option_widget(name: str):
    """The control of the t-SNE option ``name`` (label, default, range from _options)."""
    opt = WIDGET_OPTIONS[name]
    kwargs = opt.widget_kwargs()
    if name in _ENGINE_CHOICES:
        kwargs["choices"] = _ENGINE_CHOICES[name]
    return _WIDGET_TYPES[opt.widget["kind"]](**kwargs)


def _header(text: str) -> Label:
    lab = Label(value=f"<b>{text}</b>")
    return lab


class TSNEWidget(Container):
    """Dock widget: compute a live t-SNE map of a layer or an AnnData file.

    Public attributes for scripting: ``layer`` (the output Points layer),
    ``embedding`` (the engine's :class:`~napari_tsne.engine.TSNEEmbedding`), ``adata``
    (an AnnData with the map in ``obsm``), ``run()``, ``stop()``, ``continue_run()``,
    ``add_samples()``, ``export(path)``.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, *, warmup: bool = True):
        super().__init__(labels=False)
        self._viewer = napari_viewer
        self._live = LiveValues()
        self._stop_event = threading.Event()
        self._worker = None
        self._add_worker = None
        self._pbar = None
        self._run: TSNERun | None = None
        self._source: FeatureSource | None = None
        self._layer = None
        #: the layer's array was changed in place since its data was last set
        self._layer_stale = False
        self._view_extent = None
        self._shown_rows = None
        self._n_added = 0
        self._closed = False
        self._cancelled = False
        self._run_ended = True
        self._file_cache: dict[str, Any] = {}
        self._add_cache: dict[str, Any] = {}
        self._memory_adata = None
        self.warmup_thread = None
        #: coordinate updates drawn / skipped (replaced by a newer one before drawing)
        self.n_updates = 0
        self.n_skipped = 0
        #: seconds between redraws of the map during a run
        self.min_draw_interval = 0.2
        self._last_draw = 0.0
        self._pending_coords = None
        self._draw_scheduled = False
        #: seconds between updates of napari's progress bar
        self.progress_interval = 1.0
        self._progress_last = 0.0
        self._slot_queue: collections.deque = collections.deque()
        self._dispatching = False

        # ---------------------------------------------------------------- data
        self.source = ComboBox(
            label="source",
            choices=self._source_choices,
            nullable=False,
            tooltip="A layer (image stack, layer with a features table, "
            "opened .h5ad) or an AnnData file",
        )
        self.file = FileEdit(label="AnnData file", mode="r", filter="*.h5ad", visible=False)
        self.representation = ComboBox(
            label="representation",
            choices=self._representation_choices,
            tooltip="X, an obsm entry (e.g. X_pca) or a layers entry",
        )
        self.drop_nonfinite = CheckBox(text="drop rows with NaN/inf", value=False)
        self.source_info = Label(value="")

        # ------------------------------------------------------------ settings
        # the t-SNE parameters: one control per widget option of _options.EMBED_OPTIONS
        for name in WIDGET_OPTIONS:
            setattr(self, name, _option_widget(name))
        self.auto_learning_rate = CheckBox(
            text="automatic learning rate", value=True, tooltip="n / exaggeration (recommended)"
        )
        self.n_jobs = SpinBox(
            label="threads (0 = all)", value=0, min=0, max=max(1, os.cpu_count() or 1)
        )
        self.update_interval = SpinBox(
            label="live update every",
            value=10,
            min=1,
            max=1000,
            tooltip="Iterations between updates of the map",
        )
        self.subsample = CheckBox(
            text="subsample and extend, sample size",
            value=False,
            tooltip="For large data: map a random sample, place the "
            "other samples into it, then optimise all",
        )
        self.sample_size = SpinBox(
            label="sample size", value=5000, min=10, max=100_000_000, step=1000, enabled=False
        )

        # --------------------------------------------------------------- run
        self.run_button = PushButton(text="Run")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.continue_button = PushButton(text="Continue", enabled=False)
        self.status = Label(value="Choose a source and press Run.")
        self.colour_by = ComboBox(label="colour by", choices=self._colour_choices)

        # ------------------------------------------------------- add samples
        self.add_source = ComboBox(
            label="new samples", choices=self._add_source_choices, nullable=False
        )
        self.add_file = FileEdit(label="AnnData file", mode="r", filter="*.h5ad", visible=False)
        self.add_representation = ComboBox(
            label="representation", choices=self._add_representation_choices
        )
        self.batch_name = LineEdit(label="batch name", value="new")
        self.add_button = PushButton(text="Add samples", enabled=False)

        # ------------------------------------------------------------ export
        self.export_path = FileEdit(label="save to", mode="w", filter="*.h5ad")
        self.export_key = LineEdit(label="obsm key", value="X_tsne")
        self.export_button = PushButton(text="Export", enabled=False)

        self.message = Label(value="")
        from qtpy.QtWidgets import QSizePolicy

        for lab in (self.message, self.source_info, self.status):
            lab.native.setWordWrap(True)
            lab.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.show_advanced = CheckBox(text="show advanced settings", value=False)

        def box(widgets, **kw):
            c = Container(widgets=widgets, labels=kw.pop("labels", True), **kw)
            c.margins = (0, 0, 0, 0)
            return c

        self._advanced = box(
            [
                self.auto_learning_rate,
                box([self.learning_rate, self.metric, self.init, self.seed, self.n_jobs]),
            ],
            labels=False,
        )
        self._advanced.visible = False
        buttons = box(
            [self.run_button, self.stop_button, self.continue_button],
            layout="horizontal",
            labels=False,
        )
        self.extend(
            [
                _header("Data"),
                box([self.source, self.file, self.representation]),
                self.drop_nonfinite,
                self.source_info,
                _header("t-SNE"),
                box(
                    [
                        self.perplexity,
                        self.n_iter,
                        self.early_exaggeration,
                        self.early_exaggeration_iter,
                        self.exaggeration,
                        self.update_interval,
                    ]
                ),
                self.show_advanced,
                self._advanced,
                box([self.subsample, self.sample_size], layout="horizontal", labels=False),
                buttons,
                self.status,
                box([self.colour_by]),
                _header("Add samples"),
                box([self.add_source, self.add_file, self.add_representation, self.batch_name]),
                self.add_button,
                _header("Export"),
                box([self.export_path, self.export_key]),
                self.export_button,
                self.message,
            ]
        )
        # long choices (layer names, representations) must not widen the dock
        from qtpy.QtWidgets import QComboBox

        for combo in (
            self.source,
            self.representation,
            self.metric,
            self.init,
            self.colour_by,
            self.add_source,
            self.add_representation,
        ):
            combo.native.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.native.setMinimumContentsLength(8)
        self._locked_while_running = [
            self.source,
            self.file,
            self.representation,
            self.drop_nonfinite,
            self.perplexity,
            self.n_iter,
            self.early_exaggeration,
            self.early_exaggeration_iter,
            self.auto_learning_rate,
            self.learning_rate,
            self.metric,
            self.init,
            self.seed,
            self.n_jobs,
            self.subsample,
            self.sample_size,
            self.run_button,
            self.continue_button,
            self.add_source,
            self.add_file,
            self.add_representation,
            self.batch_name,
            self.add_button,
            self.export_path,
            self.export_key,
            self.export_button,
        ]

        # ----------------------------------------------------------- signals
        self.source.changed.connect(self._on_source_changed)
        self.file.changed.connect(self._on_file_changed)
        self.representation.changed.connect(self._update_source_info)
        self.drop_nonfinite.changed.connect(self._update_source_info)
        self.exaggeration.changed.connect(lambda v: self._live.set(exaggeration=float(v)))
        self.update_interval.changed.connect(lambda v: self._live.set(update_interval=int(v)))
        self.auto_learning_rate.changed.connect(self._sync_enabled)
        self.subsample.changed.connect(self._sync_enabled)
        self.show_advanced.changed.connect(lambda v: setattr(self._advanced, "visible", bool(v)))
        self.run_button.changed.connect(self.run)
        self.stop_button.changed.connect(self.stop)
        self.continue_button.changed.connect(self.continue_run)
        self.colour_by.changed.connect(self._apply_colour)
        self.add_source.changed.connect(self._on_add_source_changed)
        self.add_file.changed.connect(self._on_add_file_changed)
        self.add_button.changed.connect(self.add_samples)
        self.export_button.changed.connect(self.export)

        layers_events = self._viewer.layers.events
        layers_events.inserted.connect(self._on_layers_changed)
        layers_events.removed.connect(self._on_layer_removed)
        layers_events.reordered.connect(self._on_layers_changed)
        self.native.destroyed.connect(self._on_destroyed)

        self._live.set(
            exaggeration=float(self.exaggeration.value),
            update_interval=int(self.update_interval.value),
        )
        self._on_source_changed()
        self._on_add_source_changed()
        if warmup and kernels_need_compiling():
            self.warmup_thread = threading.Thread(
                target=self._warm_up, daemon=True, name="napari-tsne warm-up"
            )
            self.warmup_thread.start()

    # ================================================================ state
    @property
    def is_running(self) -> bool:
        return self._worker is not None

    @property
    def worker(self):
        return self._worker

    @property
    def layer(self):
        """The output Points layer (None before the first run)."""
        return self._layer

    @property
    def embedding(self):
        """The engine's ``TSNEEmbedding`` of the current map (None before a run)."""
        return None if self._run is None else self._run.emb

    @property
    def adata(self):
        """An AnnData with the current map in ``obsm[<obsm key>]`` and the parameters in
        ``uns``: the source AnnData itself (filled in place) when the map was made from
        one, otherwise a new AnnData with the layer's features as ``obs``."""
        if self._layer is None or self._run is None:
            return None
        return self._fill_memory_adata()

    def _fill_memory_adata(self):
        import anndata

        from ._writer import full_coordinates
        from .io import sanitize_params, uns_key_for

        key = self.export_key.value.strip() or "X_tsne"
        coords = np.asarray(self._layer.data)
        meta = self._layer.metadata
        params = sanitize_params(meta.get("tsne_params") or {})
        src = self._source
        if src is not None and src.adata is not None and self._n_added == 0:
            ad = src.adata
            rows = meta.get("rows")
            if (len(rows) if rows is not None else ad.n_obs) == len(coords):
                ad.obsm[key] = full_coordinates(coords, ad.n_obs, rows)
                ad.uns[uns_key_for(key)] = {"params": params}
                return ad
        ad = anndata.AnnData(obs=obs_from_features(self._layer.features, len(coords)))
        ad.obsm[key] = coords.copy()
        ad.uns[uns_key_for(key)] = {"params": params}
        self._memory_adata = ad
        return ad

    def _warm_up(self):
        try:
            warm_up_kernels()
        except Exception:  # pragma: no cover - the run reports real problems
            pass

    # ============================================================ messages
    def _alive(self) -> bool:
        """False once the widget or the viewer's window has been closed."""
        if self._closed:
            return False
        # napari hands plugins a proxy that warns on private attributes: look at the
        # real viewer; Window.close() deletes its `_qt_window`
        viewer = getattr(self._viewer, "__wrapped__", self._viewer)
        return hasattr(viewer.window, "_qt_window")

    def _error(self, text: str) -> None:
        self.message.value = f"<span style='color:#e8553e'>⚠ {text}</span>"
        if self._alive():
            show_error(text)

    def _info(self, text: str) -> None:
        self.message.value = text

    # ============================================================= choices
    def _source_choices(self, widget=None):
        layers = [] if self._closed else usable_layers(self._viewer.layers)
        return [(layer.name, layer) for layer in reversed(layers)] + [(ANNDATA_FILE, ANNDATA_FILE)]

    def _add_source_choices(self, widget=None):
        layers = [] if self._closed else usable_layers(self._viewer.layers)
        return [(layer.name, layer) for layer in reversed(layers)] + [(ANNDATA_FILE, ANNDATA_FILE)]

    def _representations_of(self, choice, file_value, cache) -> list[str]:
        if choice is None:
            return []
        if isinstance(choice, str) and choice == ANNDATA_FILE:
            adata = self._cached_file(file_value, cache, quiet=True)
            if adata is None:
                return []
            from .io import list_representations

            return list(list_representations(adata))
        try:
            return layer_representations(choice)
        except Exception:
            return []

    def _representation_choices(self, widget=None):
        return self._representations_of(self.source.value, self.file.value, self._file_cache)

    def _add_representation_choices(self, widget=None):
        return self._representations_of(self.add_source.value, self.add_file.value, self._add_cache)

    def _colour_choices(self, widget=None):
        cols = []
        if self._layer is not None:
            cols = colour_columns(self._layer.features)
        return [NO_COLOUR, *cols]

    @staticmethod
    def _path_of(value) -> str | None:
        text = "" if value is None else str(value)
        return None if text.strip() in ("", ".") else text

    def _cached_file(self, value, cache, *, quiet: bool):
        path = self._path_of(value)
        if path is None:
            return None
        key = str(Path(path).expanduser().resolve())
        if key not in cache:
            try:
                cache.clear()
                cache[key] = load_anndata_file(key)
            except SourceError as err:
                cache[key] = err
        got = cache[key]
        if isinstance(got, Exception):
            if not quiet:
                raise got
            return None
        return got

    @staticmethod
    def _preferred_representation(choices: list[str]) -> str | None:
        for name in ("obsm/X_pca", "X"):
            if name in choices:
                return name
        for name in choices:
            if not name.startswith(("obsm/X_tsne", "obsm/X_umap")):
                return name
        return choices[0] if choices else None

    # ============================================================== events
    def _on_layers_changed(self, event=None):
        if self._closed:
            return
        was_file = self.source.value == ANNDATA_FILE and self._path_of(self.file.value) is None
        self.source.reset_choices()
        self.add_source.reset_choices()
        if was_file and self.is_running is False:
            layers = self._source_choices()
            if len(layers) > 1:
                self.source.value = layers[0][1]
        self.representation.reset_choices()
        self.add_representation.reset_choices()

    def _on_layer_removed(self, event=None):
        if self._closed:
            return
        removed = getattr(event, "value", None)
        if removed is not None and removed is self._layer:
            self._layer = None
            self._shown_rows = None
            if self.is_running:
                self._cancelled = True
                self._stop_event.set()
                self._info("The map layer was removed; the run was cancelled.")
            self._sync_enabled()
        self._on_layers_changed()

    def _on_destroyed(self, *args):
        self._closed = True
        self._stop_event.set()
        events = self._viewer.layers.events
        for emitter, slot in (
            (events.inserted, self._on_layers_changed),
            (events.removed, self._on_layer_removed),
            (events.reordered, self._on_layers_changed),
        ):
            try:
                emitter.disconnect(slot)
            except Exception:  # pragma: no cover - already disconnected
                pass
        for w in (self._worker, self._add_worker):
            if w is not None:
                try:
                    w.quit()
                except RuntimeError:
                    pass

    def _on_source_changed(self, *args):
        self.file.visible = self.source.value == ANNDATA_FILE
        self._on_file_changed()

    def _on_file_changed(self, *args):
        """New representations to choose from: pick the preferred one."""
        self.representation.reset_choices()
        pref = self._preferred_representation(list(self.representation.choices))
        if pref is not None:
            self.representation.value = pref
        self._update_source_info()

    def _on_add_source_changed(self, *args):
        self.add_file.visible = self.add_source.value == ANNDATA_FILE
        self.add_representation.reset_choices()
        pref = self._preferred_representation(list(self.add_representation.choices))
        if self._source is not None and self._source.representation in list(
            self.add_representation.choices
        ):
            pref = self._source.representation
        if pref is not None:
            self.add_representation.value = pref

    def _on_add_file_changed(self, *args):
        self._on_add_source_changed()

    def _update_source_info(self, *args):
        try:
            src = self._build_source(
                self.source.value, self.file.value, self.representation.value, self._file_cache
            )
        except SourceError as err:
            self.source_info.value = f"<span style='color:#e8553e'>{err}</span>"
            return
        if src is None:
            self.source_info.value = ""
            return
        text = src.describe()
        n_bad = int(count_nonfinite_rows(src.X).sum())
        if n_bad:
            text += f"; {n_bad:,} rows with NaN/inf" + (
                " will be dropped"
                if self.drop_nonfinite.value
                else " (tick 'drop rows with NaN/inf')"
            )
        self.source_info.value = text

    def _sync_enabled(self, *args):
        running = self.is_running or self._add_worker is not None
        for w in self._locked_while_running:
            w.enabled = not running
        if not running:
            self.learning_rate.enabled = not self.auto_learning_rate.value
            self.sample_size.enabled = bool(self.subsample.value)
            has_map = (
                self._layer is not None and self._run is not None and self._run.emb is not None
            )
            self.continue_button.enabled = has_map and self._n_added == 0
            self.add_button.enabled = has_map
            self.export_button.enabled = self._layer is not None
        self.stop_button.enabled = self.is_running

    # ============================================================== sources
    def _build_source(self, choice, file_value, representation, cache) -> FeatureSource | None:
        if choice is None:
            return None
        if isinstance(choice, str) and choice == ANNDATA_FILE:
            path = self._path_of(file_value)
            if path is None:
                return None
            adata = self._cached_file(file_value, cache, quiet=False)
            return source_from_anndata(
                adata,
                representation or "X",
                name=Path(path).stem,
                path=str(Path(path).expanduser().resolve()),
            )
        if choice not in self._viewer.layers:
            raise SourceError("The chosen layer is no longer in the viewer.")
        if layer_adata(choice) is not None:
            return source_from_layer(choice, representation or "X")
        return source_from_layer(choice, representation)

    def _checked_source(self, choice, file_value, representation, cache) -> FeatureSource:
        if isinstance(choice, str) and choice == ANNDATA_FILE and self._path_of(file_value) is None:
            raise SourceError("Choose an AnnData (.h5ad) file first.")
        src = self._build_source(choice, file_value, representation, cache)
        if src is None:
            raise SourceError("Choose a source: a layer or an AnnData file.")
        return check_source(src, drop_nonfinite=bool(self.drop_nonfinite.value))

    def _params(self) -> dict[str, Any]:
        """TSNE keyword arguments from the controls."""
        values = {
            name: _VALUE_TYPES[opt.widget["kind"]](getattr(self, name).value)
            for name, opt in WIDGET_OPTIONS.items()
        }
        if self.auto_learning_rate.value:
            values["learning_rate"] = "auto"
        return tsne_kwargs(values, threads=int(self.n_jobs.value))

    # ================================================================= run
    def run(self, *args):
        """Start a new map (the Run button)."""
        if self.is_running:
            self._info("A run is already going: press Stop first (Run was ignored).")
            return
        if self._add_worker is not None:
            self._info("Samples are being added; wait until that has finished.")
            return
        try:
            src = self._checked_source(
                self.source.value, self.file.value, self.representation.value, self._file_cache
            )
        except SourceError as err:
            self._error(str(err))
            return
        params = self._params()
        sample = int(self.sample_size.value) if self.subsample.value else None
        if sample is not None and sample >= src.n_samples:
            sample = None  # the sample would be everything
        try:
            n_fit = sample if sample is not None else src.n_samples
            TSNE(**params)._validated_params(n_fit)
            run = TSNERun(src.X, params, sample_size=sample)
        except (TSNEInputError, ValueError) as err:
            self._error(str(err))
            return
        self._source = src
        self._run = run
        self._n_added = 0
        self._view_extent = None
        self._memory_adata = None
        msg = f"Running t-SNE of {src.describe()}."
        self._info(msg)
        self._start(run)

    def stop(self, *args):
        """Stop after the current chunk; the map keeps its last coordinates."""
        if not self.is_running:
            self._info("Nothing is running.")
            return
        self._stop_event.set()
        self.status.value = "stopping after the current update …"

    def continue_run(self, *args):
        """Continue the map: resume a stopped run, or run ``iterations`` more."""
        if self.is_running:
            self._info("A run is already going.")
            return
        if self._run is None or self._run.emb is None or self._layer is None:
            self._error("Nothing to continue: press Run to make a map first.")
            return
        if self._n_added:
            self._error(
                "Continue is not available after adding samples (the added samples "
                "are placed into a fixed map). Press Run to make a new map."
            )
            return
        self._run.more(int(self.n_iter.value))
        self._info("Continuing the map.")
        self._start(self._run)

    def _start(self, run: TSNERun):
        self._stop_event = threading.Event()
        self._run_ended = False
        self._cancelled = False
        self._pending_coords = None
        self._live.set(
            exaggeration=float(self.exaggeration.value),
            update_interval=int(self.update_interval.value),
        )
        worker = _run_worker(run, self._live, self._stop_event)
        self._worker = worker
        worker.yielded.connect(lambda u: self._dispatch(self._on_yielded, u))
        worker.returned.connect(lambda r: self._dispatch(self._on_returned, r))
        worker.errored.connect(lambda e: self._dispatch(self._on_errored, e))
        worker.aborted.connect(lambda: self._dispatch(self._on_aborted))
        worker.finished.connect(lambda: self._dispatch(self._on_finished))
        total = run.planned()
        try:
            self._pbar = progress(total=max(total, 1), desc="t-SNE: starting")
        except Exception:  # pragma: no cover - progress display is optional
            self._pbar = None
        self.status.value = "starting …"
        self._sync_enabled()
        worker.start()

    # --------------------------------------------------------------- slots
    def _dispatch(self, slot, *args):
        """Run worker slots one at a time, in order.

        napari's progress bar calls ``QApplication.processEvents()`` when it is
        updated, which would run the next queued worker signal *inside* the current
        slot; here such nested signals are queued and handled after the current one.
        """
        self._slot_queue.append((slot, args))
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._slot_queue:
                fn, fargs = self._slot_queue.popleft()
                fn(*fargs)
        finally:
            self._dispatching = False

    def _on_yielded(self, update: Update):
        if not self._alive() or self._cancelled:
            return
        if update.kind == "stage":
            self.status.value = update.text
            self._set_progress(None, update.text, now=True)
            return
        # Drawing (napari's layer update + repaint) can be slower than the engine, so
        # the map is redrawn at most every `min_draw_interval` seconds, always with the
        # newest coordinates; updates replaced by a newer one before they were drawn
        # are skipped (no backlog, and the main thread keeps time for the user).
        if self._pending_coords is not None:
            self.n_skipped += 1
        self._pending_coords = update
        now = time.perf_counter()
        due = self._last_draw + self.min_draw_interval
        structural = self._layer is None or len(self._layer.data) != len(update.coords)
        if structural or now >= due:
            self._flush_draw()
        elif not self._draw_scheduled:
            from qtpy.QtCore import QTimer

            self._draw_scheduled = True
            QTimer.singleShot(int((due - now) * 1000) + 1, self._scheduled_draw)

    def _scheduled_draw(self):
        self._draw_scheduled = False
        if self._dispatching:  # a worker slot is running: draw after it
            self._dispatch(self._flush_draw)
        else:
            self._flush_draw()

    def _flush_draw(self):
        update, self._pending_coords = self._pending_coords, None
        if update is None or not self._alive() or self._cancelled:
            return
        self._show_coords(update)
        self._last_draw = time.perf_counter()
        # texts and the progress bar are updated in a later turn of the event loop, so
        # that the map's repaint and theirs do not add up into one long pause
        from qtpy.QtCore import QTimer

        QTimer.singleShot(20, lambda: self._show_progress_text(update))

    def _show_progress_text(self, update: Update):
        if self._closed:
            return
        if not self.is_running or self._run_ended:  # the final status stays
            return
        kl = "" if math.isnan(update.kl) else f" — KL {update.kl:.3f}"
        try:
            self.status.value = f"{update.phase}: iteration {update.iteration}{kl}"
        except RuntimeError:  # widget deleted
            return
        self._set_progress(update, f"t-SNE: {update.phase}{kl}")

    def _set_progress(self, update: Update | None, text: str, *, now: bool = False):
        """Show progress in napari's activity dock.

        napari's progress bar repaints the window (``processEvents``) whenever it
        changes, so it is changed at most every `progress_interval` seconds, right
        after a map update (one repaint shows both), or at once for stage changes.
        """
        pbar = self._pbar
        if pbar is None:
            return
        t = time.perf_counter()
        if not now and t - self._progress_last < self.progress_interval:
            return
        self._progress_last = t
        try:
            if update is not None:
                if update.total and pbar.total != update.total:
                    pbar.total = max(update.total, 1)
                delta = update.done - pbar.n
                if delta > 0:
                    pbar.update(delta)
            if text != getattr(pbar, "desc", None):
                pbar.set_description(text)
        except Exception:  # pragma: no cover - display only
            pass

    def _show_coords(self, update: Update):
        src = self._source
        coords = update.coords
        rows = update.rows
        new_rows = (rows is None) != (self._shown_rows is None) or (
            rows is not None
            and (len(rows) != len(self._shown_rows) or not np.array_equal(rows, self._shown_rows))
        )
        meta_rows = self._original_rows(rows)
        if self._layer is None or self._layer not in self._viewer.layers:
            feats = self._features_for(rows)
            self._layer = self._viewer.add_points(
                coords,
                name=f"t-SNE {src.name}",
                features=feats,
                size=point_size(coords),
                border_width=0,
                face_color=DEFAULT_COLOUR,
                metadata={},
            )
            self._shown_rows = rows
            self._layer_stale = False
            self._reset_colour_choices()
        elif new_rows or len(self._layer.data) != len(coords):
            self._layer.data = coords
            self._layer.features = self._features_for(rows)
            self._shown_rows = rows
            self._layer_stale = False
            self._reset_colour_choices()
        else:
            self._move_points(coords)
        self._layer.metadata.update(self._layer_metadata(meta_rows))
        self.n_updates += 1
        # re-fitting the view (point size + camera) is a second layer refresh and
        # repaint: it runs in a later turn of the event loop, so that the two pauses
        # do not add up into one
        from qtpy.QtCore import QTimer

        QTimer.singleShot(10, lambda: self._fit_view_if_shown(coords))

    def _move_points(self, coords):
        """Same points at new positions, written into the layer's own array followed by
        ``layer.refresh()`` (napari's way to show an in-place change: new extent,
        new vertices, one repaint). Setting ``layer.data`` instead emits two ``data``
        events, each making the viewer re-validate its dimension ranges: 35-57 ms of
        the main thread per live update on a 2-core machine while the engine runs,
        for ranges that only matter for sliders a 2-D map does not have. The run's
        end sets ``layer.data`` once (:meth:`_sync_layer`) so the viewer follows."""
        data = self._layer.data
        if (
            isinstance(data, np.ndarray)
            and data.shape == coords.shape
            and data.dtype == coords.dtype
            and data.flags.writeable
        ):
            data[...] = coords
            self._layer.refresh()
            self._layer_stale = True
        else:
            self._layer.data = coords

    def _sync_layer(self):
        """Give the layer its data through the setter after live in-place updates, so
        that napari's data events fire and the viewer's ranges follow the final map."""
        if self._layer_stale and self._alive() and self._layer in self._viewer.layers:
            self._layer_stale = False
            self._layer.data = np.array(self._layer.data)

    def _fit_view_if_shown(self, coords):
        if not self._closed and self._layer is not None and self._layer in self._viewer.layers:
            self._fit_view(coords)

    def _original_rows(self, rows):
        """Rows of the original data (AnnData obs) that the displayed points are."""
        src = self._source
        if rows is None:
            return src.rows
        return rows if src.rows is None else src.rows[rows]

    def _features_for(self, rows) -> pd.DataFrame:
        ann = self._source.annotations
        if rows is not None:
            ann = ann.iloc[rows]
        return points_features(ann)

    def _layer_metadata(self, rows) -> dict:
        src = self._source
        return {
            OUTPUT_MARK: True,
            "adata": src.adata,
            "source_path": src.path,
            "source_name": src.name,
            "representation": src.representation,
            "rows": rows,
            "obsm_key": self.export_key.value.strip() or "X_tsne",
            "tsne_params": self._params_for_export(),
            "n_added": self._n_added,
        }

    def _params_for_export(self) -> dict:
        if self._run is None:
            return {}
        p = self._run.result_params()
        p["exaggeration"] = float(self._live.exaggeration)
        p["source"] = self._source.name
        p["representation"] = self._source.representation
        if self._source.dropped:
            p["dropped_nonfinite_rows"] = int(self._source.dropped)
        return p

    def _fit_view(self, coords):
        if len(coords) < 2:
            return
        extent = float(np.ptp(coords, axis=0).max())
        if not np.isfinite(extent) or extent <= 0:
            return
        old = self._view_extent
        if old is None or extent > 2.0 * old or extent < old / 2.0:
            self._view_extent = extent
            self._layer.size = point_size(coords)
            try:
                self._viewer.reset_view()
            except Exception:  # pragma: no cover
                pass

    def _reset_colour_choices(self):
        current = self.colour_by.value
        self.colour_by.reset_choices()
        choices = list(self.colour_by.choices)
        if current in choices and current != NO_COLOUR:
            value = current
        else:
            value = next((c for c in choices if c.lower() in PREFERRED_COLOUR_COLUMNS), NO_COLOUR)
        if self.colour_by.value != value:
            self.colour_by.value = value  # triggers _apply_colour
        else:
            self._apply_colour()

    def _apply_colour(self, *args):
        layer = self._layer
        if layer is None or layer not in self._viewer.layers:
            return
        col = self.colour_by.value
        try:
            if col in (None, NO_COLOUR) or col not in layer.features.columns:
                layer.face_color = DEFAULT_COLOUR
            else:
                s = layer.features[col]
                if pd.api.types.is_float_dtype(s.dtype) and s.nunique() > 16:
                    layer.face_colormap = "viridis"
                else:
                    n_cat = (
                        len(s.cat.categories)
                        if isinstance(s.dtype, pd.CategoricalDtype)
                        else s.nunique()
                    )
                    layer.face_color_cycle = categorical_palette(n_cat)
                with warnings.catch_warnings():
                    # napari notes that few integer values look categorical: intended
                    warnings.simplefilter("ignore", RuntimeWarning)
                    layer.face_color = col
        except Exception as err:  # e.g. a column napari cannot map to colours
            self._info(f"Cannot colour by {col!r}: {err}")

    def _on_returned(self, result: Result):
        if self._closed:
            return
        self._flush_draw()  # show the last coordinates now
        self._sync_layer()
        # the worker may signal `finished` only later (it runs at a lower priority):
        # progress texts still scheduled must not replace the final status meanwhile
        self._run_ended = True
        if result is None:
            return
        if result.error:
            self._error(f"The run failed: {result.error}")
            self.status.value = "failed"
            return
        if self._layer is not None and self._alive():
            self._layer.metadata.update(self._layer_metadata(self._original_rows(self._shown_rows)))
            if self._source.adata is not None:
                self._fill_memory_adata()
        if (
            self._source is not None
            and self._source.path
            and self._path_of(self.export_path.value) is None
        ):
            self.export_path.value = self._source.path
        emb = self._run.emb if self._run is not None else None
        kl = "" if emb is None or math.isnan(emb.kl_divergence) else f", KL {emb.kl_divergence:.3f}"
        if self.message.value.startswith(("Running t-SNE", "Continuing")):
            self.message.value = ""
        if result.stopped:
            if self._layer is None:
                self.status.value = "cancelled"
            else:
                self.status.value = f"stopped at iteration {emb.n_iter if emb else 0}{kl}"
        else:
            self.status.value = f"done: {emb.n_iter if emb else 0} iterations{kl}"

    def _on_errored(self, err):
        if not self._closed:
            self._error(f"The run failed: {err}")

    def _on_aborted(self, *args):
        if not self._closed:
            self.status.value = "cancelled"

    def _on_finished(self, *args):
        if not self._closed:
            self._flush_draw()
            self._sync_layer()
        self._worker = None
        pbar, self._pbar = self._pbar, None
        if pbar is not None:
            try:
                pbar.close()
            except Exception:  # pragma: no cover
                pass
        if self._closed:
            return
        try:
            self._sync_enabled()
        except RuntimeError:  # widgets already deleted
            pass

    # ========================================================== add samples
    def add_samples(self, *args):
        """Place the chosen new samples into the current map (map points stay put)."""
        if self.is_running or self._add_worker is not None:
            self._info("Wait for the current run to finish (or Stop it) first.")
            return
        if self._run is None or self._run.emb is None or self._layer is None:
            self._error("Make a map first (Run), then add samples to it.")
            return
        try:
            new = self._checked_source(
                self.add_source.value,
                self.add_file.value,
                self.add_representation.value,
                self._add_cache,
            )
        except SourceError as err:
            self._error(str(err))
            return
        emb = self._run.emb
        n_ref_features = self._source.n_features
        if new.n_features != n_ref_features:
            self._error(
                f"The new samples have {new.n_features:,} features but the map was made from "
                f"{n_ref_features:,} ({self._source.representation}). Choose data with the "
                "same features (e.g. the same genes or image size)."
            )
            return
        n_layer = len(self._layer.data)
        if n_layer != emb.coordinates.shape[0] + self._n_added:
            self._error("The map layer no longer matches the map; press Run to remake it.")
            return
        self._pending_new = new
        jobs = int(self.n_jobs.value)
        worker = _transform_worker(emb, new.X, None if jobs == 0 else jobs)
        self._add_worker = worker
        worker.returned.connect(lambda r: self._dispatch(self._on_added, r))
        worker.finished.connect(lambda: self._dispatch(self._on_add_finished))
        self.status.value = f"placing {new.n_samples:,} new samples into the map …"
        self._sync_enabled()
        worker.start()

    def _on_added(self, result):
        if not self._alive():
            return
        new = self._pending_new
        if isinstance(result, Exception):
            self._error(f"Adding samples failed: {result}")
            return
        layer = self._layer
        if layer is None or layer not in self._viewer.layers:
            self._error("The map layer was removed; the new samples were not added.")
            return
        Y_new = np.asarray(result, dtype=np.float64)
        old = np.asarray(layer.data)
        batch = self.batch_name.value.strip() or "new"
        old_feats = layer.features.reset_index(drop=True).copy()
        if "batch" not in old_feats.columns:
            old_feats["batch"] = self._source.name if self._n_added == 0 else "reference"
        new_feats = points_features(new.annotations)
        new_feats["batch"] = batch
        was_categorical = {
            c
            for df in (old_feats, new_feats)
            for c in df.columns
            if isinstance(df[c].dtype, pd.CategoricalDtype) or df[c].dtype == object
        }
        feats = pd.concat([old_feats, new_feats], ignore_index=True)
        for c in feats.columns:
            if c in was_categorical and not isinstance(feats[c].dtype, pd.CategoricalDtype):
                values = feats[c]
                if values.dtype == object:
                    values = values.astype(str)
                feats[c] = pd.Categorical(values)
        data = np.concatenate([old, Y_new], axis=0)
        layer.data = data
        layer.features = feats
        self._n_added += new.n_samples
        layer.metadata["n_added"] = self._n_added
        self._reset_colour_choices()
        if "batch" in list(self.colour_by.choices) and self.colour_by.value == NO_COLOUR:
            self.colour_by.value = "batch"
        self._info(f"Added {new.n_samples:,} samples (batch {batch!r}) to the map.")
        self.status.value = f"added {new.n_samples:,} samples"

    def _on_add_finished(self, *args):
        self._add_worker = None
        if not self._closed:
            try:
                self._sync_enabled()
            except RuntimeError:
                pass

    # ============================================================== export
    def export(self, *args, path: str | os.PathLike | None = None):
        """Save the map (the Export button); returns the path written or None."""
        from ._writer import export_map
        from .io import DataWriteError

        if self.is_running:
            self._info("Stop the run (or let it finish) before exporting.")
            return None
        if self._layer is None:
            self._error("There is no map to export yet: press Run first.")
            return None
        target = self._path_of(path if path is not None else self.export_path.value)
        if target is None:
            self._error("Choose a file to save to (an .h5ad file).")
            return None
        if not target.lower().endswith(".h5ad"):
            target += ".h5ad"
        key = self.export_key.value.strip() or "X_tsne"
        meta = dict(self._layer.metadata)
        meta["obsm_key"] = key
        try:
            written = export_map(
                target,
                np.asarray(self._layer.data),
                metadata=meta,
                features=self._layer.features,
                key=key,
            )
        except (DataWriteError, OSError, ValueError, TypeError) as err:
            self._error(str(err))
            return None
        self._fill_memory_adata()
        self._info(f"Saved the map to {written} (obsm[{key!r}]).")
        if self._alive():
            show_info(f"Saved the map to {written}")
        return written

    # ============================================================ teardown
    def wait(self, timeout: float = 60.0) -> bool:
        """Block (processing Qt events) until the current run/add has finished."""
        from qtpy.QtWidgets import QApplication

        t0 = time.perf_counter()
        while self.is_running or self._add_worker is not None:
            QApplication.processEvents()
            time.sleep(0.005)
            if time.perf_counter() - t0 > timeout:
                return False
        return True
