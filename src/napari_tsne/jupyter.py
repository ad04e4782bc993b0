"""A live, zoomable t-SNE map in the notebook, drawn with jupyter-scatter (WebGL).

:class:`LiveMap` is an engine callback (``f(iteration, kl, coordinates)``) that moves
the points of one jupyter-scatter widget while the map forms::

    live = napari_tsne.jupyter.LiveMap(adata, color="cell_type")
    live                                     # shows the map (last line of a cell)
    napari_tsne.tl.tsne(adata, callbacks=live, callback_every=10)
    live.selection_to_obs(adata, "lasso")    # the cells lassoed in the map

Why not redraw a figure: the widget keeps the user's zoom and pan during the run, and
only the coordinates travel to the browser. The map's frame (the coordinate range
the browser maps to its view) is held while the map stays inside it and fills a
good part of it, so the points do not jump on each update; points move without
jupyter-scatter's animated transitions; updates come at most every ``min_interval``
seconds. Needs the extra ``napari-tsne[jupyter]`` (jupyter-scatter); the matplotlib
:class:`~napari_tsne.plotting.LiveScatter` works without it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from .plotting import grid_layout

__all__ = ["LiveMap"]

#: a new frame is chosen when the map fills less than this fraction of it (per axis)
MIN_FILL = 0.3
#: the frame is this much larger than the map when it is (re)chosen (room to grow)
MARGIN = 1.5


def _jscatter():
    try:
        import jscatter
    except ImportError:
        raise ImportError(
            "napari_tsne.jupyter needs jupyter-scatter: pip install 'napari-tsne[jupyter]' "
            "(or use napari_tsne.plotting.LiveScatter, which needs only matplotlib)."
        ) from None
    return jscatter


def _annotations(data) -> tuple[int, pd.DataFrame | None]:
    if isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        if data < 1:
            raise ValueError(f"LiveMap needs at least one point; got n={data}.")
        return int(data), None
    if isinstance(data, pd.DataFrame):
        return len(data), data
    if hasattr(data, "obs") and hasattr(data, "n_obs"):
        return int(data.n_obs), data.obs
    raise TypeError(
        f"LiveMap takes an AnnData, a DataFrame of annotations or a number of points, "
        f"not {type(data).__name__}."
    )


class LiveMap:
    """An engine callback that shows the map forming in a jupyter-scatter widget.

    Calls whose coordinates have another number of points than ``data`` (the sample
    phase of subsample-and-extend) are not drawn.

    Parameters
    ----------
    data : AnnData, DataFrame or int
        What is mapped: its ``obs`` (or the DataFrame) colours the points; an int is
        just the number of points.
    color : str, optional
        What to colour by: a column of the annotations, or (for an AnnData) a gene of
        ``var_names`` / ``raw.var_names``, as scanpy's ``color`` (categories get a
        legend, numbers a colour scale with its range). A gene is read from X as one
        column.
    min_interval : float
        Seconds between updates of the widget; calls in between are skipped (the
        newest coordinates are kept and drawn by the next update or :meth:`flush`).
    height : int
        The widget's height in pixels.
    **scatter_options
        Passed to ``jscatter.Scatter`` (e.g. ``size``, ``color_map``, ``background_color``).
    """

    def __init__(
        self,
        data,
        color: str | None = None,
        *,
        min_interval: float = 0.2,
        height: int = 480,
        **scatter_options: Any,
    ):
        jscatter = _jscatter()
        self.n, obs = _annotations(data)
        values = None
        if color is not None:
            from .variables import values_of

            adata = data if hasattr(data, "var_names") else None
            values = values_of(color, obs, adata)  # UnknownVariableError, scanpy's words
        if not min_interval >= 0:
            raise ValueError(f"min_interval must be >= 0 seconds; got {min_interval!r}.")
        self.min_interval = float(min_interval)
        self.color = color
        # a grid until the first iteration: points all at one place hang the browser's
        # renderer (regl-scatterplot; seen in headless Chromium)
        grid = grid_layout(self.n)
        frame = pd.DataFrame({"x": grid[:, 1], "y": grid[:, 0]})
        if color is not None:
            frame[color] = np.asarray(values)
            if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
                frame[color] = pd.Categorical(np.asarray(values))
        options = dict(height=int(height), axes=False, legend=color is not None)
        if color is not None:
            options["color_by"] = color
        options.update(scatter_options)
        self.scatter = jscatter.Scatter(x="x", y="y", data=frame, **options)
        self.scatter.options(transition_points=False)
        self.frame: tuple[tuple[float, float], tuple[float, float]] | None = None
        #: updates sent to the widget, calls skipped (throttled or another size), frames set
        self.n_drawn = 0
        self.n_skipped = 0
        self.n_frames = 0
        self.iteration: int | None = None
        self.kl = float("nan")
        self._last = -np.inf
        self._pending = None
        self._box = None

    # ------------------------------------------------------------------ display
    @property
    def widget(self):
        """The widget to display: a status line above the scatter plot."""
        if self._box is None:
            import ipywidgets

            self._status = ipywidgets.HTML(value="t-SNE: waiting for the first iteration")
            self._box = ipywidgets.VBox([self._status, self.scatter.show()])
            self.scatter.widget.observe(lambda _: self._show_status(), names="selection")
        return self._box

    def _show_status(self) -> None:
        """The status line: iteration, KL and the size of the selection (which the
        kernel learns from the browser)."""
        if self._box is None:
            return
        text = "t-SNE" if self.iteration is None else f"t-SNE: iteration {self.iteration}"
        if np.isfinite(self.kl):
            text += f", KL {self.kl:.3f}"
        n_selected = len(self.selection())
        if n_selected:
            text += f"; {n_selected:,} selected"
        self._status.value = text

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # ---------------------------------------------------------------- callback
    def __call__(self, iteration: int, kl: float, coordinates) -> None:
        Y = np.asarray(coordinates)
        if Y.ndim != 2 or len(Y) != self.n:
            self.n_skipped += 1
            return None
        now = time.monotonic()
        if now - self._last < self.min_interval:
            self._pending = (iteration, kl, Y.copy())
            self.n_skipped += 1
            return None
        self._draw(iteration, kl, Y)
        self._last = now
        return None

    @property
    def callback(self):
        """The engine callback (the object itself): ``callbacks=live.callback``."""
        return self

    def flush(self) -> None:
        """Draw the newest coordinates a throttled call kept back (call after a run)."""
        if self._pending is not None:
            self._draw(*self._pending)
            self._last = time.monotonic()

    def update(self, coordinates, iteration: int | None = None, kl: float = float("nan")):
        """Show *coordinates* now (e.g. a finished ``adata.obsm["X_tsne"]``)."""
        Y = np.asarray(coordinates)
        if Y.ndim != 2 or len(Y) != self.n:
            raise ValueError(f"coordinates must have shape ({self.n}, 2); got {Y.shape}.")
        self._draw(iteration, kl, Y)

    def _frame_for(self, x: np.ndarray, y: np.ndarray):
        """The held frame, or a new square one when the map left it or shrank in it."""
        lo = np.array([np.nanmin(x), np.nanmin(y)])
        hi = np.array([np.nanmax(x), np.nanmax(y)])
        if self.frame is not None:
            (x0, x1), (y0, y1) = self.frame
            inside = lo[0] >= x0 and lo[1] >= y0 and hi[0] <= x1 and hi[1] <= y1
            fill = np.max((hi - lo) / np.array([x1 - x0, y1 - y0]))
            if inside and fill >= MIN_FILL:
                return self.frame
        centre = (lo + hi) / 2
        half = max(float(np.max(hi - lo)) / 2 * MARGIN, 1e-9)
        self.n_frames += 1
        self.frame = (
            (float(centre[0] - half), float(centre[0] + half)),
            (float(centre[1] - half), float(centre[1] + half)),
        )
        return self.frame

    def _draw(self, iteration, kl, Y: np.ndarray) -> None:
        x = np.asarray(Y[:, 0], dtype=np.float64)
        y = np.asarray(Y[:, 1], dtype=np.float64) if Y.shape[1] > 1 else np.zeros(len(Y))
        fx, fy = self._frame_for(x, y)
        self.scatter.xy(x, y, x_scale=fx, y_scale=fy, animate=False)
        self._pending = None
        self.n_drawn += 1
        self.iteration = iteration
        self.kl = float(kl) if kl is not None else float("nan")
        self._show_status()

    # --------------------------------------------------------------- selection
    def selection(self) -> np.ndarray:
        """Row indices of the points selected in the map (lasso or click)."""
        return np.asarray(self.scatter.selection(), dtype=np.int64)

    def selection_to_obs(self, adata, key: str = "selected", *, overwrite: bool = False):
        """Store the selection as a boolean column ``adata.obs[key]`` and return it.

        An existing column is kept unless ``overwrite=True``."""
        n_obs = int(getattr(adata, "n_obs", -1))
        if n_obs != self.n:
            raise ValueError(f"adata has {n_obs} observations; this map shows {self.n}.")
        if key in adata.obs.columns and not overwrite:
            raise ValueError(
                f"adata.obs already has a column {key!r}; pass another key or overwrite=True."
            )
        mask = np.zeros(self.n, dtype=bool)
        mask[self.selection()] = True
        adata.obs[key] = mask
        return adata.obs[key]
