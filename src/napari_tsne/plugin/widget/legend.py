"""The legend of a categorical colouring, in the dock under "colour by": one row per
category (colour swatch, name, number of points); clicking a row hides that
category's points on the map, clicking again shows them.

napari draws no legend for ``face_color=<feature>`` (0.9), so the rows are built here
from the colours napari assigned to the points. Hidden points are set in
``layer.shown`` and also made fully transparent: napari 0.9.2 ignores ``shown`` when
every dimension of a Points layer is displayed (its slicing returns all points). The
same opacity fades the points that are not selected while some are."""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt

#: at most this many rows are listed (more categories do not make a readable legend)
MAX_ROWS = 60
#: opacity of the points that are not selected while some are
UNSELECTED_OPACITY = 0.25
_HIDDEN_TEXT = "#808080"
_ROLE = Qt.ItemDataRole.UserRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole


class LegendMixin:
    """The category legend (part of :class:`TSNEWidget`)."""

    def _build_legend(self) -> None:
        from qtpy.QtWidgets import QAbstractItemView, QListWidget

        legend = QListWidget()
        legend.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        legend.setToolTip("Click a category to hide or show its points")
        legend.setVisible(False)
        legend.itemClicked.connect(self._on_legend_clicked)
        self.legend = legend
        #: the categories of the legend's column whose points are hidden
        self._hidden_categories: set = set()
        self._legend_column = None
        self._legend_values: list = []
        # full width, right under the "colour by" row of the dock
        content = self._content.native
        row, layout = self.colour_by.native, content.layout()
        while row.parentWidget() is not None and row.parentWidget() is not content:
            row = row.parentWidget()
        layout.insertWidget(layout.indexOf(row) + 1, legend)

    def legend_rows(self) -> list[tuple[str, str, int, bool]]:
        """The legend's rows: (category, colour as ``#rrggbb``, count, shown)."""
        rows = []
        for i in range(self.legend.count()):
            cat, colour, count = self.legend.item(i).data(_ROLE)
            rows.append((str(cat), colour, count, cat not in self._hidden_categories))
        return rows

    def _update_legend(self, column, values=None) -> None:
        """Rebuild the legend for the map coloured by *column* with one of *values* per
        point (None: no legend)."""
        layer = self._layer
        if column != self._legend_column:
            self._hidden_categories = set()
        self._legend_column = column
        self.legend.clear()
        self._legend_values = []
        if layer is None or column is None or values is None:
            self._legend_column = None
            self.legend.setVisible(False)
            self._apply_shown()
            return
        values = pd.Series(values).reset_index(drop=True)
        self._legend_values = values.to_numpy()
        cats, palette = self._colouring.categories, self._colouring.colours
        self._hidden_categories &= set(cats)
        codes = values.to_numpy()
        for cat, rgba in zip(cats[:MAX_ROWS], palette, strict=False):
            count = int(np.count_nonzero(codes == cat))
            self._add_legend_row(
                cat, "#{:02x}{:02x}{:02x}".format(*np.round(rgba[:3] * 255).astype(int)), count
            )
        rows = min(len(cats), MAX_ROWS)
        self.legend.setFixedHeight(min(rows, 8) * self.legend.sizeHintForRow(0) + 6 if rows else 0)
        self.legend.setVisible(rows > 0)
        self._apply_shown()

    def _add_legend_row(self, cat, colour: str, count: int) -> None:
        from qtpy.QtGui import QColor, QIcon, QPixmap
        from qtpy.QtWidgets import QListWidgetItem

        item = QListWidgetItem(f"{cat}  ({count:,})")
        pix = QPixmap(14, 14)
        pix.fill(QColor(colour))
        item.setIcon(QIcon(pix))
        item.setData(_ROLE, (cat, colour, int(count)))
        self.legend.addItem(item)
        self._style_row(item)

    def _style_row(self, item) -> None:
        from qtpy.QtGui import QBrush, QColor

        cat = item.data(_ROLE)[0]
        hidden = cat in self._hidden_categories
        font = item.font()
        font.setStrikeOut(hidden)
        item.setFont(font)
        if hidden:
            item.setForeground(QBrush(QColor(_HIDDEN_TEXT)))
        else:
            item.setData(_FOREGROUND, None)  # the theme's text colour

    def _on_legend_clicked(self, item) -> None:
        cat = item.data(_ROLE)[0]
        self._hidden_categories ^= {cat}
        self._style_row(item)
        self._apply_shown()

    def _apply_shown(self) -> None:
        """Show the map's points except those of hidden categories, and, while some
        points are selected, fade the others (napari's own outline of selected points
        is a hairline on a dense map). Opacity is the one thing changed: the colours
        stay the colouring's."""
        layer = self._layer
        if not self._map_shown():
            return
        values = self._legend_values
        n = len(layer.data)
        if self._hidden_categories and len(values) == n:
            shown = ~pd.Series(values).isin(self._hidden_categories).to_numpy()
        else:
            shown = np.ones(n, dtype=bool)
        if not np.array_equal(np.asarray(layer.shown), shown):
            layer.shown = shown
        alpha = shown.astype(float)
        selected = np.fromiter((int(i) for i in layer.selected_data if 0 <= i < n), dtype=np.int64)
        if selected.size:
            emphasis = np.full(n, UNSELECTED_OPACITY)
            emphasis[selected] = 1.0
            alpha *= emphasis
        for name in ("face_color", "border_color"):
            colours = np.asarray(getattr(layer, name))
            if len(colours) == n and not np.array_equal(colours[:, 3], alpha):
                colours = colours.copy()
                colours[:, 3] = alpha
                setattr(layer, name, colours)
