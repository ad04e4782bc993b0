"""The map's own canvas, docked beside napari's: a second napari ``ViewerModel`` drawn
by napari's ``QtViewer`` (the pattern of napari's own tests and of napari-plot), so
that a map and the image, labels or points it was made from are visible at the same
time, each fitted to its own view, each with its own zoom and pan.

Why not napari's grid mode: its cells share one camera, so a map a few tens of units
wide and a 1,000-pixel image cannot both be fitted, and zooming into one zooms the
other (docs/gui.md, "Where the map is drawn").

The view knows nothing of t-SNE: it holds the model, its canvas, a small tool row
(lasso, clear, fit) and a line showing what the cursor is over; the widget puts the
map layer into :attr:`MapView.model` and connects the buttons.
"""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

#: the dock's title (also its name in the Window menu)
TITLE = "t-SNE map view"
#: the map view's share of the width napari's canvas had before the view was docked
SHARE = 0.5
#: napari's canvas keeps at least this width (pixels) when the view is docked beside it
MIN_CANVAS = 320


def _dock_of(widget) -> QDockWidget | None:
    """The dock widget holding the Qt *widget* (None: not docked)."""
    parent = widget
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


class MapView:
    """A napari canvas for the map in a dock beside the viewer's canvas.

    ``model`` is a :class:`napari.components.ViewerModel` (its ``layers``, ``camera``,
    ``canvas.size``, ``mouse_drag_callbacks`` as in any viewer). ``on_closed`` is
    called once when the user closes the dock, ``on_resized`` after its canvas changed
    size.
    """

    def __init__(
        self,
        viewer,
        *,
        beside=None,
        on_closed: Callable[[], None] | None = None,
        on_resized: Callable[[], None] | None = None,
    ):
        from napari._qt.qt_viewer import QtViewer
        from napari.components import ViewerModel

        self._viewer = viewer
        self._on_closed = on_closed
        self.closed = False
        self.model = ViewerModel(title=TITLE)
        self.qt_viewer = QtViewer(self.model, show_welcome_screen=False)

        self.lasso_button = QPushButton("lasso")
        self.lasso_button.setToolTip(
            "Draw around points to select them (click a point to select it, "
            "shift-click to add or remove one)"
        )
        self.clear_button = QPushButton("clear")
        self.clear_button.setToolTip("Select no points")
        self.fit_button = QPushButton("fit")
        self.fit_button.setToolTip("Show the whole map")
        self.fit_button.clicked.connect(self.fit)
        tools = QHBoxLayout()
        tools.setContentsMargins(4, 2, 4, 2)
        for button in (self.lasso_button, self.clear_button, self.fit_button):
            tools.addWidget(button)
        tools.addStretch(1)
        self.status = QLabel("")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setMinimumWidth(50)
        self.model.events.status.connect(self._show_status)

        self.container = QWidget()
        layout = QVBoxLayout(self.container)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(tools)
        layout.addWidget(self.qt_viewer, stretch=1)
        layout.addWidget(self.status)
        self.container.setMinimumSize(240, 240)

        self.dock = viewer.window.add_dock_widget(
            self.container, name=TITLE, area="right", tabify=False
        )
        self._place_beside(beside)
        self.dock.destroyed.connect(self._dock_destroyed)
        if on_resized is not None:
            from qtpy.QtCore import QObject, QTimer

            class _Resized(QObject):  # after Qt has resized the canvas (and napari its model)
                def eventFilter(self, obj, event):
                    if event.type() == event.Type.Resize:
                        QTimer.singleShot(0, on_resized)
                    return False

            self._resized = _Resized()
            self.qt_viewer.canvas.native.installEventFilter(self._resized)
        self.container.destroyed.connect(self._dock_destroyed)

    def _place_beside(self, form) -> None:
        """Put the view between napari's canvas and the widget's dock (*form*), taking
        about half of the width the canvas had; in a window too narrow for that (the
        canvas would keep less than ``MIN_CANVAS`` pixels), above the form instead, in
        the form's column (the form scrolls), so that napari's canvas keeps its width."""
        form_dock = _dock_of(form) if form is not None else None
        window = self.dock.parentWidget()
        if form_dock is None or window is None or not hasattr(window, "splitDockWidget"):
            return
        if window.dockWidgetArea(form_dock) != window.dockWidgetArea(self.dock):
            return
        canvas_width = self._canvas_width(window, form_dock)
        beside = canvas_width * (1.0 - SHARE) >= MIN_CANVAS
        orientation = Qt.Orientation.Horizontal if beside else Qt.Orientation.Vertical
        window.splitDockWidget(form_dock, self.dock, orientation)
        # the map first (next to the canvas, or on top), then the form
        window.splitDockWidget(self.dock, form_dock, orientation)
        if beside:
            sizes = [max(int(canvas_width * SHARE), self.container.minimumWidth())]
        else:
            height = max(form_dock.height(), window.height() - 120)
            sizes = [int(height * 0.55)]

        def share():  # once Qt has laid the new dock out
            if not self.closed:
                other = form_dock.width() if beside else form_dock.height()
                window.resizeDocks([self.dock, form_dock], [sizes[0], other], orientation)

        share()
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, share)

    def _canvas_width(self, window, form_dock) -> int:
        """The width napari's canvas has next to the docks (laid out or not yet): the
        window less the left column and the form's column."""
        left = [
            d.width()
            for d in window.findChildren(QDockWidget)
            if d.isVisible()
            and not d.isFloating()
            and window.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea
        ]
        form = max(form_dock.width(), form_dock.minimumSizeHint().width())
        return max(0, window.width() - max(left, default=0) - form)

    def _show_status(self, event=None) -> None:
        status = self.model.status
        if isinstance(status, dict):  # napari >= 0.5: {"coordinates": ..., "layer_name": ...}
            status = status.get("coordinates", "")
        self.status.setText(str(status or ""))

    def fit(self, *args) -> None:
        """Fit the camera to the layers of the view (the map and any drawing)."""
        if not self.closed and len(self.model.layers):
            self.model.reset_view()

    def _dock_destroyed(self, *args) -> None:
        if self.closed:
            return
        self.closed = True
        self._release()
        if self._on_closed is not None:
            self._on_closed()

    def close(self) -> None:
        """Remove the dock (the widget closed or the map moved back to the viewer)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._viewer.window.remove_dock_widget(self.dock)
        except (RuntimeError, LookupError, AttributeError):  # the window is gone already
            pass
        self._release()

    def _release(self) -> None:
        """Close the canvas (its GL context and napari's bookkeeping of viewers) and drop
        the Qt objects, which Qt deletes with the dock."""
        qt_viewer, self.qt_viewer = self.qt_viewer, None
        if qt_viewer is not None:
            try:
                self.model.events.status.disconnect(self._show_status)
                qt_viewer.close()
            except RuntimeError:  # already deleted by Qt
                pass
        self.dock = self.container = None
        self.lasso_button = self.clear_button = self.fit_button = self.status = None
