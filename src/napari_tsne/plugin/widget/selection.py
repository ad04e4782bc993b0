"""Select and annotate: pick points on the map (click, shift-click, a lasso / polygon /
rectangle / ellipse drawn in a Shapes layer, napari's own Points selection, or every
point with one value of a features column) and name the selection as a group. The
bookkeeping of groups is in :mod:`.groups`, the geometry of drawn shapes in
:mod:`.shapes`; the mixin here is the thin panel of :class:`TSNEWidget` that applies
them to the layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .clicks import is_left_button, modifier_names, wait_for_click
from .events import disconnect_all
from .groups import (
    ANNOTATION,
    UNASSIGNED,
    SelectionError,
    annotation_column,
    assign_group,
    carry_groups,
    category_columns,
    category_values,
    checked_group_name,
    group_counts,
    group_names,
    remove_group,
    rename_group,
    rows_where,
)
from .linking import source_rows
from .shapes import points_in_shape

#: name of the Shapes layer in which selections are drawn
DRAW_LAYER = "draw selection"


class SelectionMixin:
    """The Select and annotate panel (part of :class:`TSNEWidget`)."""

    def _build_selection_form(self):
        """The panel's controls (placed in the form by ``FormMixin``)."""
        from magicgui.widgets import CheckBox, ComboBox, Label, LineEdit, PushButton

        from .form import _box as box
        from .form import _compact

        self.selection_info = Label(value="no map yet")
        self.draw_button = PushButton(
            text="draw selection",
            tooltip="Draw a lasso (or polygon, rectangle, ellipse) around points on the map",
        )
        self.group_name = LineEdit(label="group name", value="group 1")
        self.assign_button = PushButton(
            text="assign to group", tooltip="Put the selected points into the named group"
        )
        self.group = ComboBox(label="group", choices=self._group_choices)
        self.select_group_button = PushButton(text="select")
        self.rename_button = PushButton(text="rename", tooltip="Rename it to the group name above")
        self.remove_button = PushButton(text="remove", tooltip="Its points become unassigned")
        self.select_column = ComboBox(label="where", choices=self._select_column_choices)
        self.select_value = ComboBox(label="is", choices=self._select_value_choices)
        self.select_where_button = PushButton(text="select where")
        self.link_source = CheckBox(
            text="show the selection in the source",
            value=True,
            tooltip="Step an image stack to the sample or show the selected images, "
            "outline Labels objects, select Points / Shapes items; click objects of a "
            "Labels source (shift-click: several) to select their points",
        )
        self.colour_source = CheckBox(
            text="colour the source's objects like the map",
            value=False,
            tooltip="Labels objects, Points or Shapes get their points' colours "
            "(groups, a measurement, any column); untick for their own colours",
        )
        self.groups_info = Label(value="")
        self.groups_info.native.setWordWrap(True)

        panel = box(
            [
                box([self.selection_info, self.draw_button], layout="horizontal", labels=False),
                box([self.group_name]),
                self.assign_button,
                box([self.group]),
                box(
                    [self.select_group_button, self.rename_button, self.remove_button],
                    layout="horizontal",
                    labels=False,
                ),
                self.groups_info,
                box([self.select_column, self.select_value]),
                self.select_where_button,
                self.link_source,
                self.colour_source,
            ],
            labels=False,
        )
        _compact(self.group, self.select_column, self.select_value)
        return panel

    def _init_selection(self) -> None:
        """Connect the panel and watch the viewer's Points / Shapes selections."""
        self._selection_slots: dict[int, tuple] = {}  # id(layer) -> (layer, slot)
        self._draw_layer = None
        self._syncing_selection = False
        self.draw_button.changed.connect(self.draw_selection)
        self.assign_button.changed.connect(lambda: self.assign_group())
        self.select_group_button.changed.connect(lambda: self.select_group())
        self.rename_button.changed.connect(lambda: self.rename_group())
        self.remove_button.changed.connect(lambda: self.remove_group())
        self.select_column.changed.connect(lambda: self.select_value.reset_choices())
        self.select_where_button.changed.connect(lambda: self.select_where())
        self.colour_source.changed.connect(self._colour_source_like_map)
        events = self._viewer.layers.events
        events.inserted.connect(self._watch_inserted)
        events.removed.connect(self._unwatch_removed)
        for layer in self._viewer.layers:
            self._watch_layer(layer)
        # a map drawn in the viewer itself (AnnData sources) is clicked there
        self._viewer.mouse_drag_callbacks.append(self._on_map_click)
        self._refresh_selection_panel()

    def _close_selection(self) -> None:
        events = self._viewer.layers.events
        disconnect_all(
            ((events.inserted, self._watch_inserted), (events.removed, self._unwatch_removed))
        )
        for layer, slots in list(self._selection_slots.values()):
            self._disconnect_layer(layer, slots)
        self._selection_slots.clear()

    # ----------------------------------------------------------- watching layers

    def _watch_inserted(self, event):
        self._watch_layer(event.value)
        from qtpy.QtCore import QTimer

        # a new map layer is known to the widget (``_layer``) only once it is added
        QTimer.singleShot(0, self._on_map_inserted)

    def _on_map_inserted(self) -> None:
        if not self._closed and self._map_features() is not None:
            self._on_map_features()

    def _unwatch_removed(self, event):
        layer = event.value
        got = self._selection_slots.pop(id(layer), None)
        if got is not None:
            self._disconnect_layer(*got)
        if layer is self._draw_layer:
            self._draw_layer = None
        if not self._closed:
            self._refresh_selection_panel()

    def _watch_layer(self, layer) -> None:
        """Points and Shapes layers report selection changes: the map's update the
        panel and the source, a source's select points on the map."""
        selection = getattr(layer, "selected_data", None)
        items_changed = getattr(getattr(selection, "events", None), "items_changed", None)
        if items_changed is None or id(layer) in self._selection_slots:
            return

        def on_selection(*args):
            self._on_layer_selection(layer)

        def on_features(*args):
            if layer is self._layer:
                self._on_map_features()

        items_changed.connect(on_selection)
        layer.events.features.connect(on_features)
        self._selection_slots[id(layer)] = (layer, (on_selection, on_features))

    @staticmethod
    def _disconnect_layer(layer, slots) -> None:
        on_selection, on_features = slots
        for emitter, slot in (
            (layer.selected_data.events.items_changed, on_selection),
            (layer.events.features, on_features),
        ):
            try:
                emitter.disconnect(slot)
            except Exception:  # pragma: no cover - already disconnected
                pass

    def _on_layer_selection(self, layer) -> None:
        if self._closed or self._syncing_selection:
            return
        self._syncing_selection = True
        try:
            if layer is self._layer:
                self._refresh_selection_info()
                if self.link_source.value:
                    self._show_in_source(self.selected_rows())
            elif self.link_source.value:
                self._select_from_source(layer)
        except Exception as err:  # never break napari's selection event
            self._error(f"Could not show the selection in the source: {err}")
        finally:
            self._syncing_selection = False

    def _on_map_features(self) -> None:
        """New features: points in no group (added samples, missing values of a
        source's own ``annotation``) become ``unassigned`` (napari cannot colour missing
        values), and a new map of the same source keeps the groups of its samples."""
        from qtpy.QtCore import QTimer

        feats = self._layer.features
        # not inside napari's features event (nor before the map's metadata follows):
        # the column is set just after it
        if ANNOTATION not in feats.columns:
            QTimer.singleShot(0, self._restore_groups)
        elif feats[ANNOTATION].isna().any():
            QTimer.singleShot(0, self._fill_unassigned)
        self._refresh_selection_panel()

    def _fill_unassigned(self) -> None:
        layer = self._layer
        if self._closed or layer is None or ANNOTATION not in layer.features.columns:
            return
        if layer.features[ANNOTATION].isna().any():
            try:
                self._set_annotation(annotation_column(layer.features, len(layer.data)))
            except SelectionError as err:
                self._error(str(err))

    # ----------------------------------------------------------- choices, texts

    def _map_features(self) -> pd.DataFrame | None:
        return self._layer.features if self._map_shown() else None

    def _group_choices(self, widget=None) -> list[str]:
        feats = self._map_features()
        if feats is None or ANNOTATION not in feats.columns:
            return []
        try:
            return group_names(annotation_column(feats, len(feats)))
        except SelectionError:
            return []

    def _select_column_choices(self, widget=None) -> list[str]:
        feats = self._map_features()
        return [] if feats is None else category_columns(feats)

    def _select_value_choices(self, widget=None) -> list[str]:
        feats = self._map_features()
        col = self.select_column.value
        return [] if feats is None or col is None else category_values(feats, col)

    def _refresh_selection_panel(self) -> None:
        for combo in (self.group, self.select_column, self.select_value):
            combo.reset_choices()
        self._refresh_selection_info()
        feats = self._map_features()
        text = ""
        if feats is not None and ANNOTATION in feats.columns:
            try:
                counts = group_counts(annotation_column(feats, len(feats)))
                text = ", ".join(f"{k}: {v:,}" for k, v in counts.items())
            except SelectionError as err:
                text = str(err)
        self.groups_info.value = text

    def _refresh_selection_info(self) -> None:
        if self._map_features() is None:
            self.selection_info.value = "no map yet"
            return
        n = len(self._layer.selected_data)
        self.selection_info.value = f"{n:,} of {len(self._layer.data):,} points selected"
        self._apply_shown()  # the selection stands out

    # ----------------------------------------------------------- actions

    def selected_rows(self) -> np.ndarray:
        """Indices of the map's selected points (sorted)."""
        if self._map_features() is None:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(sorted(self._layer.selected_data), dtype=np.int64)

    def select(self, rows) -> None:
        """Select the map points *rows* (napari's Points selection of the map layer)."""
        if self._map_features() is None:
            self._error("Make a map first (Run), then select points on it.")
            return
        self._layer.selected_data = {int(r) for r in rows}

    def _checked_map(self) -> bool:
        if self._map_features() is None:
            self._error("Make a map first (Run), then select points on it.")
            return False
        return True

    def _set_annotation(self, column: pd.Series) -> None:
        feats = self._layer.features.reset_index(drop=True).copy()
        feats[ANNOTATION] = column.array  # categorical, categories in group order
        self._layer.features = feats
        self._keep_groups(column)
        self._write_groups_to_source(column)
        self._reset_colour_choices()
        self._refresh_selection_panel()

    def _keep_groups(self, column: pd.Series) -> None:
        """Remember the groups by source row, for a new map of the same source."""
        meta_rows, n_ref = self._map_link()
        rows = source_rows(range(n_ref), meta_rows, n_ref)
        src = self._source
        self._kept_groups = (src.name, src.n_original, rows, column.iloc[: len(rows)])

    def _restore_groups(self) -> None:
        """A new map of the same source (Run) replaced the features: give its points
        the groups their samples had, instead of losing them."""
        kept = getattr(self, "_kept_groups", None)
        feats = self._map_features()
        if self._closed or kept is None or feats is None or ANNOTATION in feats.columns:
            return
        name, n_original, old_rows, old_groups = kept
        src = self._source
        if src is None or (src.name, src.n_original) != (name, n_original):
            return
        meta_rows, n_ref = self._map_link()
        new_rows = source_rows(range(n_ref), meta_rows, n_ref)
        column = carry_groups(old_rows, old_groups, new_rows, len(self._layer.data))
        if (column != UNASSIGNED).any():
            self._set_annotation(column)
            self._info("The new map keeps the groups of its samples.")

    def _group_column(self) -> pd.Series:
        return annotation_column(self._layer.features, len(self._layer.data))

    def assign_group(self, name: str | None = None) -> bool:
        """Put the selected points into group *name* (default: the group name field)."""
        if not self._checked_map():
            return False
        name = self.group_name.value if name is None else name
        try:
            column = assign_group(self._group_column(), self.selected_rows(), name)
        except SelectionError as err:
            self._error(str(err))
            return False
        self._set_annotation(column)
        self.group.value = checked_group_name(name)
        n = len(self._layer.selected_data)
        self._info(f"{n:,} points are in group {checked_group_name(name)!r}.")
        return True

    def rename_group(self, old: str | None = None, new: str | None = None) -> bool:
        """Rename group *old* (default: the chosen group) to *new* (the name field)."""
        if not self._checked_map():
            return False
        old = self.group.value if old is None else old
        new = self.group_name.value if new is None else new
        if old is None:
            self._error("There are no groups yet: select points and assign them to a group.")
            return False
        try:
            column = rename_group(self._group_column(), old, new)
        except SelectionError as err:
            self._error(str(err))
            return False
        self._set_annotation(column)
        self.group.value = checked_group_name(new)
        self._info(f"Group {old!r} is now {checked_group_name(new)!r}.")
        return True

    def remove_group(self, name: str | None = None) -> bool:
        """Remove group *name* (default: the chosen group); its points become unassigned."""
        if not self._checked_map():
            return False
        name = self.group.value if name is None else name
        if name is None:
            self._error("There are no groups to remove.")
            return False
        try:
            column = remove_group(self._group_column(), name)
        except SelectionError as err:
            self._error(str(err))
            return False
        self._set_annotation(column)
        self._info(f"Removed group {name!r}; its points are {UNASSIGNED}.")
        return True

    def select_group(self, name: str | None = None) -> bool:
        """Select the points of group *name* (default: the chosen group)."""
        return self.select_where(ANNOTATION, self.group.value if name is None else name)

    def select_where(self, column: str | None = None, value: str | None = None) -> bool:
        """Select every point whose features *column* has *value* (e.g. phase G2M)."""
        if not self._checked_map():
            return False
        column = self.select_column.value if column is None else column
        value = self.select_value.value if value is None else value
        if column is None or value is None:
            self._error("Choose a column and one of its values to select.")
            return False
        try:
            rows = rows_where(self._layer.features, column, value)
        except SelectionError as err:
            self._error(str(err))
            return False
        self.select(rows)
        self._info(f"Selected the {len(rows):,} points where {column} is {value!r}.")
        return True

    # ----------------------------------------------------------- drawing

    def draw_selection(self, *args) -> None:
        """Draw a lasso on the map: a Shapes layer in lasso mode, made on demand; the
        points inside each shape drawn there become the selection."""
        if not self._checked_map():
            return
        viewer = self.map_viewer
        layer = self._draw_layer
        if layer is None or layer not in viewer.layers:
            extent = float(np.ptp(np.asarray(self._layer.data), axis=0).max() or 1.0)
            layer = viewer.add_shapes(
                ndim=2,
                name=DRAW_LAYER,
                face_color=[1.0, 1.0, 1.0, 0.08],
                edge_color="#ffd54f",
                edge_width=extent / 300.0,
                scale=self._layer.scale[-2:],
                translate=self._layer.translate[-2:],
            )
            layer.events.data.connect(self._on_drawn)
            self._draw_layer = layer
        viewer.layers.selection.active = layer
        layer.mode = "add_polygon_lasso"

    def _on_drawn(self, event) -> None:
        if getattr(event, "action", None) == "added" and not self._closed:
            from qtpy.QtCore import QTimer

            # after napari has finished the drawing (this event comes from inside it)
            QTimer.singleShot(0, self._after_drawn)

    def _after_drawn(self) -> None:
        """Select the points inside the newest shape, keep only that shape, and make
        the map the active layer (napari highlights the active layer's selection only)."""
        shapes = self._draw_layer
        if self._closed or shapes is None or shapes not in self.map_viewer.layers:
            return
        if shapes.nshapes == 0 or self._map_features() is None:
            return
        coords = np.asarray(self._layer.data)
        try:
            mask = points_in_shape(coords[:, -2:], shapes.data[-1][:, -2:], shapes.shape_type[-1])
        except SelectionError as err:
            self._error(str(err))
            return
        if shapes.nshapes > 1:
            shapes.selected_data = set(range(shapes.nshapes - 1))
            shapes.remove_selected()
        shapes.selected_data = set()
        # pan / zoom, not napari's select tool, in which dragging selected points
        # moves them (the map's coordinates); clicks select (see _on_map_click)
        self.map_viewer.layers.selection.active = self._layer
        self._layer.mode = "pan_zoom"
        self.select(np.flatnonzero(mask))
        self._info(f"Selected the {int(mask.sum()):,} points inside the drawn shape.")

    # ----------------------------------------------------------- clicking

    def _on_map_click(self, viewer, event):
        """Click a point of the map to select it, shift-click to add or remove it, click
        where there is no point to select none; a drag pans as usual. Only in pan /
        zoom mode (napari's own select mode selects by itself)."""
        if self._closed or viewer is not self.map_viewer or not self._map_shown():
            return
        if str(self._layer.mode) != "pan_zoom" or not is_left_button(event):
            return
        active = viewer.layers.selection.active
        if active is not None and active is not self._layer:
            return
        yield from wait_for_click(event)
        if event.type != "mouse_release":
            return
        hit = self._layer.get_value(
            event.position,
            view_direction=event.view_direction,
            dims_displayed=list(event.dims_displayed),
            world=True,
        )
        rows = [] if hit is None else [int(hit)]
        self._select_clicked(rows, "Shift" in modifier_names(event))
