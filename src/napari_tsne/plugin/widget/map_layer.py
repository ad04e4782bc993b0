"""The map layer: the output Points layer, updated live in place while a run goes on,
its features (the source's annotations), colours by a feature, and the view fitted
to the map.

Where the map is drawn: a source with a view of its own in the viewer (an image
stack, a Labels, Points or Shapes layer with measurements) keeps that view, and the
map gets its own canvas beside it (:class:`.map_view.MapView`); an AnnData source
(a file, or the reader's stand-in layer of one) has nothing to look at in the
viewer, so its map is drawn there, over the hidden stand-in."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ...engine.job import Update
from ..reader import point_size
from ..sources import OUTPUT_MARK, is_tsne_output, points_features
from .colour import DEFAULT_COLOUR

#: the map is fitted again when its extent has grown by this factor since the last fit
#: (the fit leaves a 5 % margin each side, so a map a quarter larger is just cut off)
REFIT_GROWTH = 1.2


class MapLayerMixin:
    """The Points layer of the map (part of :class:`TSNEWidget`)."""

    @property
    def layer(self):
        """The output Points layer (None before the first run)."""
        return self._layer

    @property
    def map_viewer(self):
        """The viewer (model) the map is drawn in: the map view's, or napari's own."""
        view = self._map_view
        return view.model if view is not None and not view.closed else self._viewer

    def _map_shown(self) -> bool:
        """The map layer exists and is still in the viewer it is drawn in."""
        return self._layer is not None and self._layer in self.map_viewer.layers

    def _place_map(self, src) -> None:
        """Choose where the next map of *src* is drawn (see the module docstring); a
        map drawn elsewhere before is removed from there (the new map replaces it)."""
        own_canvas = src.kind != "anndata"
        before = self.map_viewer
        if own_canvas and (self._map_view is None or self._map_view.closed):
            self._open_map_view()
        elif not own_canvas and self._map_view is not None:
            self._close_map_view()
        if self._layer is not None and self.map_viewer is not before:
            layer, self._layer = self._layer, None
            if layer in before.layers:
                before.layers.remove(layer)

    def _open_map_view(self) -> None:
        from .map_view import MapView

        view = MapView(
            self._viewer,
            beside=self.native,
            on_closed=self._on_map_view_closed,
            on_resized=self._on_map_canvas_resized,
        )
        self._map_view = view
        events = view.model.layers.events
        events.inserted.connect(self._watch_inserted)
        events.removed.connect(self._unwatch_removed)
        events.removed.connect(self._on_layer_removed)
        view.model.mouse_drag_callbacks.append(self._on_map_click)
        view.lasso_button.clicked.connect(self.draw_selection)
        view.clear_button.clicked.connect(lambda: self.select([]))

    def _close_map_view(self) -> None:
        view, self._map_view = self._map_view, None
        if view is not None:
            view.close()

    def _on_map_view_closed(self) -> None:
        """The user closed the map's dock: the map goes with it (as a removed layer)."""
        view, self._map_view = self._map_view, None
        if self._closed or view is None:
            return
        if self._layer is not None and self._layer in view.model.layers:
            self._forget_map("The map view was closed")

    def _show_coords(self, update: Update):
        src = self._source
        coords = update.coords
        rows = update.rows
        new_rows = (rows is None) != (self._shown_rows is None) or (
            rows is not None
            and (len(rows) != len(self._shown_rows) or not np.array_equal(rows, self._shown_rows))
        )
        meta_rows = self._original_rows(rows)
        if not self._map_shown():
            feats = self._features_for(rows)
            self._layer = self.map_viewer.add_points(
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
            if self.map_viewer is self._viewer:
                self._hide_source_layers()
            else:
                self.map_viewer.layers.selection.active = self._layer
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

    def _hide_source_layers(self):
        """Hide the reader's layers of the map's own data (the same AnnData or file,
        drawn at other coordinates such as X_umap): two coordinate systems on top of
        each other mislead. :meth:`_show_source_layers` shows them again."""
        src = self._source
        path = os.path.realpath(src.path) if src.path else None
        for layer in self._viewer.layers:
            meta = layer.metadata if isinstance(layer.metadata, dict) else {}
            if layer is self._layer or is_tsne_output(layer) or type(layer).__name__ != "Points":
                continue
            same_data = src.adata is not None and meta.get("adata") is src.adata
            other = meta.get("source_path")
            same_file = path is not None and other and os.path.realpath(other) == path
            if (same_data or same_file) and layer.visible:
                layer.visible = False
                self._hidden_sources.append(layer)

    def _show_source_layers(self):
        """Show the layers :meth:`_hide_source_layers` hid (the map layer was removed)."""
        hidden, self._hidden_sources = self._hidden_sources, []
        for layer in hidden:
            if layer in self._viewer.layers:
                layer.visible = True

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
        if self._layer_stale and self._alive() and self._map_shown():
            self._layer_stale = False
            self._layer.data = np.array(self._layer.data)

    def _fit_view_if_shown(self, coords):
        if not self._closed and self._map_shown():
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
            "added": list(self._added),
            # the columns of the features that the map was made from (a features table)
            "measurement_columns": list(src.extra.get("columns", ())),
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
        """Fit the view (point size and camera) again when the map has outgrown it (by
        ``REFIT_GROWTH``: a map growing during a run stays in view) or shrunk to half."""
        if len(coords) < 2:
            return
        extent = float(np.ptp(coords, axis=0).max())
        if not np.isfinite(extent) or extent <= 0:
            return
        old = self._view_extent
        if old is None or extent > REFIT_GROWTH * old or extent < old / 2.0:
            self._view_extent = extent
            self._layer.size = point_size(coords)
            self._fit_camera(coords)

    def _fit_camera(self, coords, margin: float = 0.05):
        """Centre the camera on the map and zoom so that all of it fits the canvas in
        both directions. napari's ``reset_view`` fits the extent of every layer (hidden
        source layers included), and its ``fit_to_view(layers=[map])`` fails (napari
        0.9.2: IndexError) when another layer has more dimensions, e.g. the image stack
        the map was made from; so the camera is set here from the canvas size."""
        viewer = self.map_viewer
        canvas = np.asarray(getattr(getattr(viewer, "canvas", None), "size", ()), dtype=float)
        if coords.shape[1] != 2 or canvas.shape != (2,) or canvas.min() <= 0:
            viewer.reset_view()
            return
        lo, hi = np.nanmin(coords, axis=0), np.nanmax(coords, axis=0)
        span = np.maximum(hi - lo, 1e-12)
        scene = getattr(viewer, "scene", None)
        camera = scene.camera if scene is not None else viewer.camera  # napari < 0.9
        centre = list(camera.center)
        centre[-2:] = (lo + hi) / 2.0
        camera.center = tuple(centre)
        camera.zoom = float((1.0 - 2.0 * margin) * np.min(canvas / span))
        self._fitted = (tuple(camera.center), float(camera.zoom))

    def _on_map_canvas_resized(self) -> None:
        """The map's canvas changed size (its dock was resized): fit the map again,
        unless the user has moved the camera since the last fit."""
        if self._closed or not self._map_shown():
            return
        camera = self.map_viewer.camera
        if getattr(self, "_fitted", None) == (tuple(camera.center), float(camera.zoom)):
            self._fit_camera(np.asarray(self._layer.data))
