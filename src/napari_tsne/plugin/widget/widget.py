"""The t-SNE dock widget for napari, assembled from its parts: the form
(:mod:`.form`), the run controller (:mod:`.run_controller`), the map layer
(:mod:`.map_layer`) and its own canvas (:mod:`.map_view`), and the add-samples,
export, selection and linking parts. The engine's job runs in a napari
``thread_worker``; layer attributes change only in the worker's ``yielded`` /
``returned`` slots, i.e. in the main thread.

napari hands a widget opened from the Plugins menu a proxy of its viewer
(``PublicOnlyProxy``), whose methods return proxies of layers while napari's events
carry the layers themselves, so the same layer is two objects (``is`` and ``id()``
disagree). The widget therefore works with napari's objects themselves: the viewer
is unwrapped once, here (:func:`napari_object`), and every layer the widget holds
or compares comes from it or from napari's events."""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container
from napari.utils.notifications import show_error

from ...engine.job import LiveValues, TSNEJob
from ...engine.precompile import GROUPS, compile_in_background, kernels_need_compiling
from ..sources import ANNDATA_FILE, FeatureSource
from .add_samples import AddSamplesMixin
from .colour import ColourMixin
from .events import disconnect_all
from .export import ExportMixin
from .form import FormMixin
from .legend import LegendMixin
from .linking import LinkingMixin
from .map_layer import MapLayerMixin
from .measuring import MeasuringMixin
from .run_controller import RunControllerMixin
from .selection import SelectionMixin

if TYPE_CHECKING:
    import napari


def napari_object(obj):
    """The napari object behind a plugin proxy (``PublicOnlyProxy``), or *obj* itself.

    Layers, layer lists and events then compare by identity as napari's own do."""
    return getattr(obj, "__wrapped__", obj)


class TSNEWidget(
    FormMixin,
    RunControllerMixin,
    MapLayerMixin,
    ColourMixin,
    LegendMixin,
    AddSamplesMixin,
    ExportMixin,
    SelectionMixin,
    LinkingMixin,
    MeasuringMixin,
    Container,
):
    """Dock widget: compute a live t-SNE map of a layer or an AnnData file.

    Public attributes for scripting: ``layer`` (the output Points layer),
    ``map_viewer`` (the viewer model it is drawn in), ``embedding`` (the engine's
    :class:`~napari_tsne.engine.TSNEEmbedding`), ``adata`` (an AnnData with the map in
    ``obsm``), ``measure_objects()``, ``run()``, ``stop()``, ``continue_run()``,
    ``add_samples()``, ``export(path)``; selection and groups: ``selected_rows()``,
    ``select(rows)``, ``assign_group(name)``, ``rename_group(old, new)``,
    ``remove_group(name)``, ``select_where(column, value)``, ``draw_selection()``.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, *, warmup: bool = True):
        super().__init__(labels=False)
        self._viewer = napari_object(napari_viewer)
        #: the map's own canvas (None: the map is drawn in the viewer, see map_layer)
        self._map_view = None
        self._live = LiveValues()
        self._stop_event = threading.Event()
        self._worker = None
        self._add_worker = None
        self._pbar = None
        self._run: TSNEJob | None = None  # the job of the current map
        self._source: FeatureSource | None = None
        self._layer = None
        #: the colours of the map's points (None: one colour), see ..colouring
        self._colouring = None
        #: the layer's array was changed in place since its data was last set
        self._layer_stale = False
        self._view_extent = None
        self._shown_rows = None
        self._n_added = 0
        #: the sets of samples added to the map (see ``_writer.map_parts``)
        self._added: list[dict] = []
        #: the reader's layers of the map's data, hidden while the map is shown
        self._hidden_sources: list = []
        self._closed = False
        self._cancelled = False
        self._run_ended = True
        self._file_cache: dict[str, Any] = {}
        self._add_cache: dict[str, Any] = {}
        self._memory_adata = None
        #: the helper processes compiling the kernels on a first run (None: cached)
        self.warmup = None
        #: coordinate updates drawn / skipped (replaced by a newer one before drawing)
        self.n_updates = 0
        self.n_skipped = 0
        #: seconds between redraws of the map during a run
        self.min_draw_interval = 0.2
        #: the main thread's time of each live draw (seconds), and their running mean
        self.draw_costs: list[float] = []
        self._draw_cost = 0.0
        self._last_draw = 0.0
        self._pending_coords = None
        #: the newest coordinates of the run (all points; a live draw may show fewer)
        self._latest_full = None
        #: the live subset of a large map: (the map's number of points, the rows kept)
        self._live_pick = None
        self._draw_scheduled = False
        #: seconds between updates of napari's progress bar
        self.progress_interval = 1.0
        self._progress_last = 0.0
        self._slot_queue: collections.deque = collections.deque()
        self._dispatching = False
        self._build_form()
        self._build_legend()
        self._init_colour()

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
        self._init_linking()
        self._init_selection()
        self._on_source_changed()
        self._on_add_source_changed()
        if warmup and kernels_need_compiling():
            # in helper processes, not a thread here: compiling holds a process's GIL
            # (the window would stutter), and two cores compile in half the time; a
            # Run pressed meanwhile waits for them (see engine.precompile)
            self.warmup = compile_in_background(GROUPS)

    @property
    def embedding(self):
        """The engine's ``TSNEEmbedding`` of the current map (None before a run)."""
        return None if self._run is None else self._run.emb

    def _alive(self) -> bool:
        """False once the widget or the viewer's window has been closed."""
        if self._closed:
            return False
        # Window.close() deletes its `_qt_window` (napari has no public "closed" state)
        return hasattr(self._viewer.window, "_qt_window")

    def _error(self, text: str) -> None:
        self.message.value = f"<span style='color:#e8553e'>⚠ {text}</span>"
        if self._alive():
            show_error(text)

    def _info(self, text: str) -> None:
        self.message.value = text

    def _on_layers_changed(self, event=None):
        if self._closed:
            return
        was_file = self.source.value == ANNDATA_FILE and self._path_of(self.file.value) is None
        self.source.reset_choices()
        self.add_source.reset_choices()
        self.measure_labels.reset_choices()
        self.measure_images.reset_choices()
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
            self._forget_map("The map layer was removed")
        self._on_layers_changed()

    def _forget_map(self, why: str) -> None:
        """The map layer is gone (removed, or its view closed): a run making it stops."""
        self._layer = None
        self._shown_rows = None
        self._show_source_layers()
        if self.is_running:
            self._cancelled = True
            self._stop_event.set()
            self._info(f"{why}; the run was cancelled.")
        self._sync_enabled()

    def _on_destroyed(self, *args):
        self._closed = True
        self._stop_event.set()
        self._close_selection()
        events = self._viewer.layers.events
        disconnect_all(
            (
                (events.inserted, self._on_layers_changed),
                (events.removed, self._on_layer_removed),
                (events.reordered, self._on_layers_changed),
            )
        )
        self._close_linking()
        self._close_map_view()
        for w in (self._worker, self._add_worker, self._measure_worker):
            if w is not None:
                try:
                    w.quit()
                except RuntimeError:
                    pass
