"""Colour the map by anything: a column of the map's features (obs columns, a layer's
measurements, groups) picked from "colour by", or any gene of an AnnData source
found by typing a few letters in "find" (a completer over every name: thousands of
genes never fill a list). Numbers get a colour map over a readable range (min - max
or the 1st - 99th percentile, as scanpy's ``vmin="p1"``, ``vmax="p99"``) and a
colour bar over the map's canvas with the variable's name and range; categories get the legend
(:mod:`.legend`); missing values are grey.

The colours are computed by :func:`napari_tsne.colouring.colour_values` and the
values read by :mod:`napari_tsne.variables` (a gene one column at a time).
"""

from __future__ import annotations

import numpy as np

from ..._options import PREFERRED_COLOUR_COLUMNS
from ...colouring import COLOUR_MAPS, colour_values
from ...variables import (
    UnknownVariableError,
    gene_values,
    unknown_variable,
    value_sources,
    variable_names,
)
from ..sources import ID_COLUMNS, colour_columns
from .groups import ANNOTATION, UNASSIGNED

NO_COLOUR = "(single colour)"
DEFAULT_COLOUR = "#4f9bd9"
#: the ranges offered for numbers: label -> (vmin, vmax) in scanpy's terms
RANGES = {"min – max": (None, None), "1st – 99th percentile": ("p1", "p99")}


class ColourBar:
    """The colour map, its range and the variable's name, drawn over the corner of the
    canvas the map is in (a Qt widget on top of napari's canvas: napari 0.9 has a
    colour bar overlay for images only), so that it is in view with the map."""

    #: pixels between the bar and the canvas's corner, and the bar's width
    MARGIN, WIDTH = 10, 230

    def __init__(self):
        from qtpy.QtCore import QObject, Qt
        from qtpy.QtWidgets import QGridLayout, QLabel, QWidget

        self.widget = QWidget()
        self.widget.setObjectName("tsneColourBar")
        self.widget.setStyleSheet(
            "#tsneColourBar { background: rgba(20, 20, 24, 200); border-radius: 4px; }"
            " QLabel { color: #e8e8e8; background: transparent; }"
        )
        self.widget.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.widget.setFixedWidth(self.WIDTH)
        grid = QGridLayout(self.widget)
        grid.setContentsMargins(8, 4, 8, 4)
        grid.setVerticalSpacing(1)
        self.name = QLabel("")
        self.bar = QLabel()
        self.bar.setFixedHeight(12)
        self.low, self.high = QLabel(""), QLabel("")
        self.high.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.note = QLabel("")
        grid.addWidget(self.name, 0, 0, 1, 2)
        grid.addWidget(self.bar, 1, 0, 1, 2)
        grid.addWidget(self.low, 2, 0)
        grid.addWidget(self.high, 2, 1)
        grid.addWidget(self.note, 3, 0, 1, 2)
        self.widget.setVisible(False)
        bar = self

        class _Follow(QObject):  # keeps the bar in the corner when the canvas resizes
            def eventFilter(self, obj, event):
                if event.type() == event.Type.Resize:
                    bar._place()
                return False

        self._follow = _Follow()
        self._canvas = None

    def attach(self, canvas) -> None:
        """Draw over the Qt widget *canvas* (the map's canvas), bottom left."""
        if canvas is self._canvas or canvas is None:
            return
        if self._canvas is not None:
            try:
                self._canvas.removeEventFilter(self._follow)
            except RuntimeError:  # the old canvas is gone
                pass
        self._canvas = canvas
        self.widget.setParent(canvas)
        canvas.installEventFilter(self._follow)
        self._place()

    def _place(self) -> None:
        canvas = self._canvas
        if canvas is None:
            return
        self.widget.adjustSize()
        self.widget.move(self.MARGIN, canvas.height() - self.widget.height() - self.MARGIN)
        self.widget.raise_()

    def show(self, name: str, colouring) -> None:
        """Show the scale of a continuous *colouring* of variable *name*."""
        import matplotlib

        # the colour map as a style-sheet gradient of 17 stops (exact at the stops)
        stops = np.linspace(0.0, 1.0, 17)
        ramp = np.round(matplotlib.colormaps[colouring.cmap](stops)[:, :3] * 255).astype(int)
        gradient = ", ".join(
            f"stop:{t:.4f} rgb({r}, {g}, {b})" for t, (r, g, b) in zip(stops, ramp, strict=True)
        )
        self.bar.setStyleSheet(
            f"background: qlineargradient(x1:0, y1:0, x2:1, y2:0, {gradient}); border-radius: 2px;"
        )
        self.name.setText(f"<b>{name}</b> ({colouring.cmap})")
        self.low.setText(_number(colouring.vmin))
        self.high.setText(_number(colouring.vmax))
        missing = colouring.n_missing
        self.note.setText(f"{missing:,} without a value (grey)" if missing else "")
        self.note.setVisible(bool(missing))
        self.widget.setVisible(self._canvas is not None)
        self._place()

    def hide(self) -> None:
        self.widget.setVisible(False)

    def texts(self) -> tuple[str, str, str]:
        """(name, low end, high end) as shown."""
        return self.name.text(), self.low.text(), self.high.text()


def _number(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "–"


class ColourMixin:
    """Colour by, find, colour map, range and the colour bar (part of :class:`TSNEWidget`)."""

    #: the annotation column or gene to colour a new map by, when it has one (``view``)
    colour_preference: str | None = None

    def _build_colour_form(self):
        """The controls (placed in the form by ``FormMixin``)."""
        from magicgui.widgets import ComboBox, LineEdit

        from .form import _box as box

        #: genes picked in "find" (offered in "colour by" once picked)
        self._picked: list[str] = []
        self.colour_by = ComboBox(label="colour by", choices=self._colour_choices)
        self.colour_search = LineEdit(label="find")
        self.colour_search.native.setPlaceholderText("type a gene or column, e.g. CD3E")
        self.colour_search.tooltip = (
            "Colour by any variable: a column of the map's features or a gene of the "
            "AnnData (var_names and raw.var_names); type a few letters and pick one"
        )
        self.gene_source = ComboBox(
            label="gene values",
            choices=self._gene_source_choices,
            tooltip="Read genes from X, a layer, or raw",
        )
        self.colour_map = ComboBox(label="colour map", choices=list(COLOUR_MAPS), value="viridis")
        self.colour_range = ComboBox(label="range", choices=list(RANGES), value="min – max")
        return box(
            [
                self.colour_by,
                self.colour_search,
                self.gene_source,
                self.colour_map,
                self.colour_range,
            ]
        )

    def _init_colour(self) -> None:
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QCompleter

        self.colour_bar = ColourBar()
        completer = QCompleter([], self.colour_search.native)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setMaxVisibleItems(12)
        completer.activated[str].connect(self.colour_with)
        self.colour_search.native.setCompleter(completer)
        self.colour_search.native.returnPressed.connect(
            lambda: self._colour_from_search(self.colour_search.value)
        )
        self._completer = completer
        self.colour_by.changed.connect(self._apply_colour)
        for control in (self.gene_source, self.colour_map, self.colour_range):
            control.changed.connect(self._apply_colour)
        self._sync_colour_controls()

    # ----------------------------------------------------------- names, values

    def _map_adata(self):
        """The AnnData behind the map's own points (None: not an AnnData source)."""
        src = self._source
        return None if src is None else src.adata

    def _all_variables(self) -> list[str]:
        feats = self._layer.features if self._map_shown() else None
        return variable_names(feats, self._map_adata())

    def _colour_choices(self, widget=None):
        cols = colour_columns(self._layer.features) if self._map_shown() else []
        picked = [g for g in self._picked if g not in cols]
        return [NO_COLOUR, *cols, *picked]

    def _gene_source_choices(self, widget=None):
        adata = self._map_adata()
        return ["X"] if adata is None else value_sources(adata)

    def colour_with(self, name: str) -> bool:
        """Colour the map by *name*: a column of its features or a gene (also before
        the map exists: then the next map is coloured by it). False (and a message with
        the closest names) when there is no such variable."""
        name = str(name).strip()
        if not name:
            return False
        if self._map_shown() or self._source is not None:
            names = self._all_variables()
            if name not in names:
                self._error(str(unknown_variable(name, names)))
                return False
        self.colour_preference = name
        if not self._map_shown():
            return True
        if name not in colour_columns(self._layer.features) and name not in self._picked:
            self._picked.append(name)
        self.colour_by.reset_choices()
        if self.colour_by.value != name:
            self.colour_by.value = name  # colours the map (changed)
        else:
            self._apply_colour()
        self.colour_search.value = ""
        return True

    def _colour_from_search(self, text: str) -> None:
        """Enter in "find": the name typed (in any case), else the first name the
        completer offers for it, else a message with the closest names."""
        text = str(text).strip()
        if not text:
            return
        names = self._all_variables() if self._map_shown() else []
        exact = [n for n in names if n.lower() == text.lower()]
        if not exact:
            self._completer.setCompletionPrefix(text)
            if self._completer.completionCount() > 0:
                exact = [self._completer.currentCompletion()]
        self.colour_with(exact[0] if exact else text)

    def _values_for_map(self, name: str):
        """The values of *name* for every point of the map: a features column, or a
        gene read for the reference cells and for each set of added cells (NaN where a
        set has no such gene)."""
        feats = self._layer.features
        if name in feats.columns:
            return feats[name]  # its type decides categories or numbers
        meta_rows, n_ref = self._map_link()
        source = self.gene_source.value or "X"
        parts = [(self._map_adata(), meta_rows, n_ref)]
        parts += [(a.get("adata"), a.get("rows"), None) for a in self._added]
        out = []
        for adata, rows, n in parts:
            if n is None:
                n = len(rows) if rows is not None else (adata.n_obs if adata is not None else 0)
            try:
                values = gene_values(adata, name, source=source, rows=rows)[:n]
            except (UnknownVariableError, AttributeError, TypeError, ValueError):
                values = np.full(n, np.nan)
            out.append(values)
        values = np.concatenate(out) if out else np.zeros(0)
        if len(values) != len(self._layer.data):
            raise ValueError("the map's points and its data do not match; press Run")
        return values

    # ----------------------------------------------------------- applying

    def _reset_colour_choices(self):
        current = self.colour_by.value
        self.colour_by.reset_choices()
        self.gene_source.reset_choices()
        self._completer.model().setStringList(self._all_variables() if self._map_shown() else [])
        choices = list(self.colour_by.choices)
        if current in choices and current != NO_COLOUR:
            value = current
        else:
            pref = self.colour_preference
            if pref is not None and pref not in choices and pref in self._all_variables():
                self._picked.append(pref)  # a gene asked for before the map existed
                self.colour_by.reset_choices()
                choices = list(self.colour_by.choices)
            preferred = [c for c in choices if c == pref]
            # an object's "label" in a measurements table is its id, not a class
            ids = ID_COLUMNS if self._source is not None and self._source.kind == "features" else ()
            preferred += [
                c for c in choices if c.lower() in PREFERRED_COLOUR_COLUMNS and c.lower() not in ids
            ]
            value = preferred[0] if preferred else NO_COLOUR
        if self.colour_by.value != value:
            self.colour_by.value = value  # triggers _apply_colour
        else:
            self._apply_colour()

    def _apply_colour(self, *args):
        """Colour the map by the chosen variable; napari gets the colours directly, so
        the map, the legend, the colour bar and the source's objects agree."""
        if not self._map_shown():
            return
        layer = self._layer
        col = self.colour_by.value
        colouring = values = None
        if col not in (None, NO_COLOUR):
            try:
                neutral = (UNASSIGNED,) if col == ANNOTATION else ()
                vmin, vmax = RANGES.get(self.colour_range.value, (None, None))
                values = self._values_for_map(col)
                colouring = colour_values(
                    values,
                    cmap=self.colour_map.value or "viridis",
                    vmin=vmin,
                    vmax=vmax,
                    neutral=neutral,
                    # a gene is a number, however few values it takes (as in scanpy)
                    categorical=None if col in layer.features.columns else False,
                )
            except (ValueError, KeyError) as err:
                self._info(f"Cannot colour by {col!r}: {err}")
        layer.face_color = DEFAULT_COLOUR if colouring is None else colouring.rgba
        self._colouring = colouring
        categorical = colouring is not None and colouring.kind == "categorical"
        self._update_legend(col if categorical else None, values if categorical else None)
        if colouring is not None and colouring.kind == "continuous":
            self.colour_bar.attach(self._map_canvas_widget())
            self.colour_bar.show(str(col), colouring)
        else:
            self.colour_bar.hide()
        self._sync_colour_controls()
        self._colour_source_like_map()

    def _map_canvas_widget(self):
        """The Qt widget of the canvas the map is drawn on."""
        view = self._map_view
        if view is not None and not view.closed:
            return view.qt_viewer.canvas.native
        return self._viewer.window._qt_viewer.canvas.native

    def _point_colours(self) -> np.ndarray:
        """The points' colours as coloured (RGBA), before any fading or hiding."""
        if self._colouring is not None and len(self._colouring.rgba) == len(self._layer.data):
            return self._colouring.rgba
        from napari.utils.colormaps.standardize_color import transform_color

        return np.tile(transform_color(DEFAULT_COLOUR)[0], (len(self._layer.data), 1))

    def _sync_colour_controls(self) -> None:
        """Show the controls that apply: colour map and range for numbers, gene values
        for an AnnData source."""
        continuous = self._colouring is not None and self._colouring.kind == "continuous"
        self.colour_map.visible = continuous
        self.colour_range.visible = continuous
        self.gene_source.visible = self._map_adata() is not None
        self.colour_search.visible = self._map_shown()
