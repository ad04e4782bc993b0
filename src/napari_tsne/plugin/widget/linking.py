"""Link the map to its source: the points selected on the map are shown in the layer
the map was made from (an image stack steps to the sample or shows the selected images
as their own stack, a Labels layer's selected objects get a Labels layer of their own,
Points / Shapes items are selected), and items selected in a Points / Shapes source
select their points on the map.

Map points are rows of the source through the map layer's ``metadata["rows"]``
(None: the same rows); points added with Add samples (after the map's own points)
have no item in the source and are skipped. The functions at the top are Qt-free.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sources import is_tsne_output

#: columns of a Labels layer's features that give each row's label value
LABEL_COLUMNS = ("label", "index")
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
    """Shows the map's selection in the source layer and back (part of
    :class:`TSNEWidget`)."""

    def _source_layer(self):
        """The viewer's layer that the map was made from, found by its name and checked
        by its number of samples (None: a file, removed, renamed or changed)."""
        src = self._source
        if src is None or self._layer is None:
            return None
        for layer in self._viewer.layers:
            if layer.name == src.name and layer is not self._layer and not is_tsne_output(layer):
                return layer if n_items(layer) == src.n_original else None
        return None

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

    def _step_to(self, layer, row: int) -> None:
        """Move the viewer's slider of the stack's first axis to the image *row*."""
        dims = self._viewer.dims
        axis = dims.ndim - layer.ndim
        position = np.zeros(layer.ndim)
        position[0] = row
        dims.set_point(axis, float(np.asarray(layer.data_to_world(position))[0]))

    def _linked_layers(self) -> dict:
        if not hasattr(self, "_linked"):
            self._linked = {}
        return self._linked

    def _show_linked(self, source, kind: str, data: np.ndarray, rows) -> None:
        """Put *data* (the selected images / objects) into the derived layer of
        *source*, made on demand; the active layer stays the active one."""
        linked = self._linked_layers()
        derived = linked.get(kind)
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
            derived = self._viewer.add_labels(data, **common)
        linked[kind] = derived
        if active is not None and active in self._viewer.layers:
            self._viewer.layers.selection.active = active

    def _clear_linked_labels(self) -> None:
        derived = self._linked_layers().get("Labels")
        if derived is not None and derived in self._viewer.layers:
            derived.data = np.zeros_like(np.asarray(derived.data))
