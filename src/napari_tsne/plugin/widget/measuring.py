"""Measure objects: per-object measurements of a Labels layer (optionally with
intensity images) computed in a worker thread by :mod:`..measure` and stored as the
layer's ``features`` (a ``label`` column, one row per object), ready to map.

Columns the layer's features already had and the new table has not (groups made on a
map, a user's own notes) are kept, matched by label; measurements of the same name
are replaced. Bad input (no objects, shapes that differ, a float image chosen as
labels) gives a message and changes nothing.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from napari.qt.threading import thread_worker

from ..measure import MeasureError, labels_layer_features, measure_steps
from .run_controller import _background_priority, _close_progress


def merge_measurements(old: pd.DataFrame | None, table: pd.DataFrame) -> pd.DataFrame:
    """*table* (one row per object, ``label`` first) plus the columns of *old* that it
    lacks, matched by ``label`` (objects *old* did not have get missing values)."""
    if old is None or len(old.columns) == 0 or "label" not in old.columns:
        return table
    if "index" in old.columns and "index" not in table.columns:  # napari's row lookup
        old = old.drop(columns="index")
    keep = [c for c in old.columns if c not in table.columns]
    if not keep:
        return table
    extra = old[["label", *keep]].drop_duplicates("label").set_index("label")
    joined = extra.reindex(table["label"].to_numpy())
    out = table.copy()
    for c in keep:
        out[c] = (
            joined[c].to_numpy()
            if not isinstance(extra[c].dtype, pd.CategoricalDtype)
            else (pd.Categorical(joined[c], categories=extra[c].cat.categories))
        )
    return out


def intensity_choices(labels_layer, layers) -> list:
    """Image layers that can be measured in the objects of *labels_layer*: the same
    shape, or an RGB(A) image of that shape."""
    if labels_layer is None:
        return []
    shape = tuple(np.shape(labels_layer.data))
    out = []
    for layer in layers:
        if type(layer).__name__ != "Image" or getattr(layer, "multiscale", False):
            continue
        ishape = tuple(np.shape(layer.data))
        if ishape == shape or (getattr(layer, "rgb", False) and ishape[:-1] == shape):
            out.append(layer)
    return out


@thread_worker(start_thread=False, ignore_errors=True)
def _measure_worker(labels, images):
    try:
        with _background_priority():
            return (yield from measure_steps(labels, images))
    except MeasureError as err:
        return err
    except MemoryError:
        return MeasureError("Not enough memory to measure these objects.")


class MeasuringMixin:
    """The Measure objects panel (part of :class:`TSNEWidget`)."""

    def _build_measure_form(self):
        from magicgui.widgets import ComboBox, PushButton, Select

        from .form import _box as box
        from .form import _compact

        self.measure_labels = ComboBox(
            label="objects",
            choices=self._labels_choices,
            tooltip="A Labels layer: one integer label per object",
        )
        self.measure_images = Select(
            label="intensities",
            choices=self._intensity_choices,
            tooltip="Image layers of the same shape to measure in the objects "
            "(ctrl-click for several; none: size and shape only)",
        )
        self.measure_images.native.setMaximumHeight(70)
        self.measure_button = PushButton(
            text="Measure objects",
            tooltip="Size, shape, position and intensities of every object, stored as the "
            "Labels layer's features (a 'label' column, one row per object)",
        )
        self.measure_labels.changed.connect(lambda *a: self.measure_images.reset_choices())
        self.measure_button.changed.connect(self.measure_objects)
        self._measure_worker = None
        _compact(self.measure_labels)
        return box([self.measure_labels, self.measure_images, self.measure_button])

    def _labels_choices(self, widget=None):
        if self._closed:
            return []
        return [
            (layer.name, layer) for layer in self._viewer.layers if type(layer).__name__ == "Labels"
        ]

    def _intensity_choices(self, widget=None):
        if self._closed:
            return []
        chosen = self.measure_labels.value
        layers = intensity_choices(chosen, self._viewer.layers)
        return [(layer.name, layer) for layer in layers]

    @property
    def is_measuring(self) -> bool:
        return self._measure_worker is not None

    def measure_objects(self, *args) -> None:
        """Measure the chosen Labels layer's objects in a worker thread (the button)."""
        if self.is_measuring:
            self._info("Objects are being measured already.")
            return
        labels = self.measure_labels.value
        if labels is None or labels not in self._viewer.layers:
            self._error("Choose a Labels layer to measure (segment the image first).")
            return
        images = {layer.name: layer.data for layer in self.measure_images.value}
        worker = _measure_worker(labels.data, images)
        self._measure_worker = worker
        self._measure_started = time.perf_counter()
        try:
            from napari.utils import progress

            self._measure_pbar = progress(total=0, desc=f"measuring {labels.name}")
        except Exception:  # pragma: no cover - progress display is optional
            self._measure_pbar = None
        worker.yielded.connect(lambda p: self._dispatch(self._on_measure_progress, p))
        worker.returned.connect(lambda r: self._dispatch(self._on_measured, labels, r))
        worker.finished.connect(lambda: self._dispatch(self._on_measure_finished))
        self.measure_button.enabled = False
        self._info(f"Measuring the objects of {labels.name!r} …")
        worker.start()

    def _on_measure_progress(self, step) -> None:
        done, total, text = step
        pbar = self._measure_pbar
        if pbar is None or self._closed:
            return
        try:
            if total and pbar.total != total:
                pbar.total = total
            if done > pbar.n:
                pbar.update(done - pbar.n)
            pbar.set_description(f"measuring: {text}")
        except Exception:  # pragma: no cover - display only
            pass

    def _on_measured(self, labels, result) -> None:
        if self._closed:
            return
        if isinstance(result, Exception) or result is None:
            self._error(str(result) if result is not None else "Measuring was cancelled.")
            return
        if labels not in self._viewer.layers:
            self._error("The Labels layer was removed while it was measured; nothing stored.")
            return
        old = labels.features if len(labels.features.columns) else None
        labels.features = labels_layer_features(merge_measurements(old, result))
        seconds = time.perf_counter() - self._measure_started
        n_cols = len(result.columns) - 1
        self._info(
            f"Measured {len(result):,} objects of {labels.name!r} ({n_cols} measurements, "
            f"{seconds:.1f} s); they are its features now. Press Run to map them."
        )
        # ready to map: the layer, its measurements
        self.source.reset_choices()
        self.source.value = labels
        self._on_source_changed()

    def _on_measure_finished(self) -> None:
        self._measure_worker = None
        _close_progress(self._measure_pbar)
        self._measure_pbar = None
        if not self._closed:
            self.measure_button.enabled = True
