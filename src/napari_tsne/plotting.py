"""Plotting and progress helpers for scripts and notebooks.

* :func:`scatter`: a t-SNE map as a scatter plot, coloured by categorical labels
  (with a legend) or by a continuous value (with a colour bar).
* :class:`FrameRecorder` + :func:`animate`: record the map every few iterations
  through the callback and write the optimisation as a GIF or MP4.
* :class:`ProgressPrinter`: a one-line text progress bar (terminal or notebook).
* :class:`LiveScatter`: a matplotlib figure redrawn while the map forms (shown with
  ``IPython.display`` in Jupyter).

matplotlib is imported only when a plotting function is called: ``import
napari_tsne`` never imports it, and :class:`ProgressPrinter` and
:class:`FrameRecorder` work without it.

All callbacks follow the engine's convention ``f(iteration, kl, coordinates)``; they
never stop a run (they return None).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = [
    "FrameRecorder",
    "LiveScatter",
    "ProgressPrinter",
    "animate",
    "is_categorical",
    "scatter",
]

#: Labels with at most this many distinct integer values count as categories.
MAX_INTEGER_CATEGORIES = 30
#: Legends with more entries than this are left out (too many to read).
MAX_LEGEND_ENTRIES = 40


# --------------------------------------------------------------------------- helpers
def grid_layout(n: int) -> np.ndarray:
    """*n* points on a square grid (the placeholder before a map exists)."""
    side = int(np.ceil(np.sqrt(max(n, 1))))
    i = np.arange(n)
    return np.column_stack([i // side, i % side]).astype(np.float64)


def _as_2d(Y) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[1] < 1:
        raise ValueError(f"coordinates must have shape (n_samples, n_components); got {Y.shape}")
    return Y


def _plane(Y: np.ndarray, seed: int = 0) -> np.ndarray:
    """The two columns to draw: a 1-D map gets a small random vertical jitter."""
    if Y.shape[1] >= 2:
        return Y[:, :2]
    spread = float(np.ptp(Y[:, 0])) if len(Y) else 1.0
    jitter = np.random.default_rng(seed).uniform(-0.05, 0.05, len(Y)) * (spread or 1.0)
    return np.column_stack([Y[:, 0], jitter])


def default_point_size(n: int) -> float:
    """Marker area (points^2) that keeps maps of 100 to 100,000 points readable."""
    return float(np.clip(200.0 / np.sqrt(max(n, 1)), 0.3, 20.0))


def is_categorical(labels) -> bool:
    """True for text, boolean, pandas categorical, or integer labels with at most
    :data:`MAX_INTEGER_CATEGORIES` distinct values; False for other numbers."""
    dtype = getattr(labels, "dtype", None)
    if dtype is not None and str(dtype) == "category":
        return True
    arr = np.asarray(labels)
    if arr.dtype.kind in "OUSb":
        return True
    if arr.dtype.kind in "iu":
        return len(np.unique(arr)) <= MAX_INTEGER_CATEGORIES
    return False


def _categories(labels) -> tuple[list, np.ndarray]:
    """(category values in display order, integer code per sample)."""
    cats = getattr(labels, "cat", None)
    if cats is not None:  # pandas categorical Series keeps its own order
        values = list(cats.categories)
        codes = np.asarray(cats.codes)
        return values, codes
    dtype = getattr(labels, "dtype", None)
    if dtype is not None and str(dtype) == "category":  # pandas Categorical
        return list(labels.categories), np.asarray(labels.codes)
    arr = np.asarray(labels)
    if arr.dtype.kind == "O":
        arr = arr.astype(str)
    values, codes = np.unique(arr, return_inverse=True)
    return list(values), codes.reshape(-1)


def category_colors(n: int) -> list:
    """``n`` distinct colours: tab10, tab20, then evenly spaced hues of ``turbo``."""
    import matplotlib

    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def _new_axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _style_axes(ax, title: str | None, axis_labels: bool) -> None:
    ax.set_aspect("equal", adjustable="datalim")
    if axis_labels:
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)


# --------------------------------------------------------------------------- scatter
def scatter(
    Y,
    labels=None,
    ax=None,
    *,
    legend: bool = True,
    s: float | None = None,
    alpha: float = 0.8,
    cmap: str = "viridis",
    categorical: bool | None = None,
    label_names: dict | Sequence | None = None,
    annotate: bool = False,
    title: str | None = None,
    axis_labels: bool = False,
    colorbar_label: str | None = None,
    figsize: tuple[float, float] = (5.0, 5.0),
    rasterized: bool = True,
    **kwargs: Any,
):
    """Scatter plot of a map ``Y`` (n, 2); returns the matplotlib ``Axes``.

    Parameters
    ----------
    Y : array (n, 1|2|3) or TSNEEmbedding
        Coordinates; a 1-D map is drawn with a small vertical jitter, a 3-D map by its
        first two components.
    labels : array (n,) or None
        Categorical labels (text, booleans, pandas categoricals, integers with few
        values) give one colour per category and a legend; other numbers give a
        continuous colour map with a colour bar. None: one colour.
    ax : matplotlib Axes or None
        Draw into this axes (default: a new figure of size ``figsize``).
    legend : bool
        Show the legend (categories) or the colour bar (continuous values).
    s, alpha, cmap :
        Marker area (default: depends on n), opacity, and the colour map used for
        continuous values.
    categorical : bool or None
        Force the kind of ``labels`` (None: guessed by :func:`is_categorical`).
    label_names : dict or sequence
        Names for the categories in the legend, e.g. class names for integer labels.
    annotate : bool
        Also write each category's name at the median position of its points.
    title, axis_labels, colorbar_label :
        Axes title, "t-SNE 1/2" axis labels, colour bar label.
    **kwargs :
        Passed to ``Axes.scatter``.
    """
    Y = _plane(_as_2d(Y))
    n = len(Y)
    ax = _new_axes(ax, figsize)
    size = default_point_size(n) if s is None else s
    common = dict(s=size, alpha=alpha, linewidths=0, rasterized=rasterized)
    common.update(kwargs)
    if labels is None:
        common.setdefault("color", "#4f9bd9")
        ax.scatter(Y[:, 0], Y[:, 1], **common)
        _style_axes(ax, title, axis_labels)
        return ax

    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but the map has {n} points")
    if categorical is None:
        categorical = is_categorical(labels)
    if not categorical:
        values = np.asarray(labels, dtype=np.float64)
        order = np.argsort(values, kind="stable")  # draw high values on top
        sc = ax.scatter(Y[order, 0], Y[order, 1], c=values[order], cmap=cmap, **common)
        if legend:
            cb = ax.figure.colorbar(sc, ax=ax, shrink=0.7)
            if colorbar_label:
                cb.set_label(colorbar_label)
        _style_axes(ax, title, axis_labels)
        return ax

    values, codes = _categories(labels)
    colors = category_colors(len(values))
    # draw in random order so that no category hides another systematically
    order = np.random.default_rng(0).permutation(n)
    point_colors = np.array([colors[c] if c >= 0 else (0.7, 0.7, 0.7, 1.0) for c in codes])
    ax.scatter(Y[order, 0], Y[order, 1], c=point_colors[order], **common)

    def name(i, v):
        if label_names is None:
            return str(v)
        if isinstance(label_names, dict):
            return str(label_names.get(v, v))
        try:
            return str(label_names[int(v)])
        except (TypeError, ValueError, IndexError):
            return str(v)

    if annotate:
        for i, v in enumerate(values):
            pts = Y[codes == i]
            if len(pts):
                x, y = np.median(pts, axis=0)
                ax.text(
                    x,
                    y,
                    name(i, v),
                    ha="center",
                    va="center",
                    fontsize=9,
                    weight="bold",
                    color="black",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.6, lw=0),
                )
    if legend and len(values) <= MAX_LEGEND_ENTRIES:
        from matplotlib.lines import Line2D

        handles = [
            Line2D(
                [], [], marker="o", linestyle="", markersize=6, color=colors[i], label=name(i, v)
            )
            for i, v in enumerate(values)
        ]
        ncol = 1 if len(values) <= 15 else 2
        ax.legend(
            handles=handles,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
            fontsize=8,
            ncol=ncol,
            handletextpad=0.2,
        )
    _style_axes(ax, title, axis_labels)
    return ax


# ---------------------------------------------------------------------- recording
class FrameRecorder:
    """A callback that keeps a copy of the map every ``every`` iterations.

    Pass it as a callback with ``callback_every`` dividing ``every`` (callbacks are only
    called every ``callback_every`` iterations)::

        rec = FrameRecorder(every=10)
        TSNE(callbacks=rec, callback_every=10).fit(X)
        animate(rec, "run.gif", labels=y)

    Attributes ``frames`` (list of (n, d) arrays), ``iterations``, ``kl`` and ``phases``
    (the run's phase when the frame was taken, for subsample-and-extend runs) grow
    together. ``max_frames`` keeps only every second frame when the limit is reached,
    so long runs stay within memory.
    """

    def __init__(self, every: int = 10, *, max_frames: int | None = 1000):
        if int(every) < 1:
            raise ValueError("every must be a positive number of iterations")
        self.every = int(every)
        self.max_frames = max_frames
        self.frames: list[np.ndarray] = []
        self.iterations: list[int] = []
        self.kl: list[float] = []
        self.phases: list[str | None] = []
        #: set by subsample-and-extend runs to the current phase's name
        self.phase: str | None = None
        self._calls = 0

    def __call__(self, iteration: int, kl: float, Y) -> None:
        self._calls += 1
        if iteration % self.every and iteration != 0:
            return None
        self.frames.append(np.array(Y, dtype=np.float32, copy=True))
        self.iterations.append(int(iteration))
        self.kl.append(float(kl))
        self.phases.append(self.phase)
        if self.max_frames is not None and len(self.frames) > self.max_frames:
            for name in ("frames", "iterations", "kl", "phases"):
                setattr(self, name, getattr(self, name)[::2])
        return None

    def __len__(self) -> int:
        return len(self.frames)

    def clear(self) -> None:
        for name in ("frames", "iterations", "kl", "phases"):
            getattr(self, name).clear()


def animate(
    frames,
    path: str | os.PathLike,
    labels=None,
    *,
    fps: int = 10,
    iterations: Sequence[int] | None = None,
    kl: Sequence[float] | None = None,
    figsize: tuple[float, float] = (4.5, 4.5),
    dpi: int = 80,
    s: float | None = None,
    label_names=None,
    title: str | None = None,
    hold_last: int = 5,
) -> Path:
    """Write an animation of recorded maps; returns the path written.

    ``frames`` is a :class:`FrameRecorder` (its iterations and KL values are shown) or
    a sequence of (n, 2) arrays with the same n. ``path`` ending in ``.gif`` uses
    matplotlib's ``PillowWriter``; ``.mp4`` needs ``ffmpeg`` (``FFMpegWriter``). The
    view follows the map as it grows. ``hold_last`` repeats the final frame so that a
    looping GIF pauses on the result.
    """
    from matplotlib import animation
    from matplotlib.figure import Figure  # no pyplot: works with any backend, no window

    if isinstance(frames, FrameRecorder):
        iterations = frames.iterations if iterations is None else iterations
        kl = frames.kl if kl is None else kl
        frames = frames.frames
    frames = [_plane(_as_2d(f)) for f in frames]
    if not frames:
        raise ValueError("no frames to animate (did the recorder run as a callback?)")
    n = len(frames[0])
    if any(len(f) != n for f in frames):
        raise ValueError("all frames must have the same number of points")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        writer = animation.PillowWriter(fps=fps)
    elif suffix == ".mp4":
        if not animation.FFMpegWriter.isAvailable():
            raise RuntimeError(
                "Writing .mp4 needs ffmpeg, which was not found; install it or save a .gif."
            )
        writer = animation.FFMpegWriter(fps=fps)
    else:
        raise ValueError(f"animate writes .gif or .mp4 files, not {path.name!r}")

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    scatter(frames[0], labels, ax=ax, s=s, legend=False, label_names=label_names, rasterized=False)
    coll = ax.collections[0]
    if labels is not None and is_categorical(labels):
        # scatter draws the points in a fixed random order; keep that order per frame
        order = np.random.default_rng(0).permutation(n)
    else:
        order = (
            np.argsort(np.asarray(labels, dtype=np.float64), kind="stable")
            if labels is not None
            else np.arange(n)
        )
    text = ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_aspect("equal", adjustable="box")

    def draw(i):
        Y = frames[min(i, len(frames) - 1)]
        coll.set_offsets(Y[order])
        # follow the bulk of the map (a few far-flung points early on would shrink it)
        lo, hi = (
            np.percentile(Y, [0.5, 99.5], axis=0)
            if len(Y) > 200
            else (Y.min(axis=0), Y.max(axis=0))
        )
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.1, 1e-12)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        j = min(i, len(frames) - 1)
        parts = []
        if iterations is not None:
            parts.append(f"iteration {iterations[j]}")
        if kl is not None and np.isfinite(kl[j]):
            parts.append(f"KL {kl[j]:.3f}")
        text.set_text("   ".join(parts))
        return coll, text

    path.parent.mkdir(parents=True, exist_ok=True)
    anim = animation.FuncAnimation(fig, draw, frames=len(frames) + max(hold_last, 0), blit=False)
    anim.save(path, writer=writer, dpi=dpi)
    return path


# ----------------------------------------------------------------------- progress
def _in_notebook() -> bool:
    ip = sys.modules.get("IPython")
    if ip is None:
        return False
    try:
        shell = ip.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class ProgressPrinter:
    """A callback printing ``phase [#####.....] iteration/total  KL  elapsed  ~time left``.

    On a terminal (or in Jupyter) the line is redrawn in place with ``\\r``; otherwise
    (a log file, a pipe) a line is printed at most every ``min_interval`` seconds (and
    at the end of each phase / the run). ``total`` is the planned number
    of iterations (e.g. ``early_exaggeration_iter + n_iter``); without it no bar is
    drawn. With ``early_exaggeration_iter`` the time left costs the iterations after
    early exaggeration as :mod:`napari_tsne.engine.eta` does (they are slower); it is
    shown once the speed of the current phase is known. A ``phase`` attribute set by
    subsample-and-extend runs is shown too (the time left is then not estimated).
    Call :meth:`close` at the end to finish the line.
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        width: int = 30,
        prefix: str = "t-SNE",
        in_place: bool | None = None,
        min_interval: float = 2.0,
        early_exaggeration_iter: int = 0,
    ):
        from .engine.eta import TimeLeft

        self.total = total
        self.early = max(int(early_exaggeration_iter), 0)
        self._eta = TimeLeft()
        self._eta_phase: bool | None = None
        self.stream = stream
        self.width = int(width)
        self.prefix = prefix
        self._in_place = in_place
        self.phase: str | None = None
        self._last_phase: str | None = None
        self._open = False
        self.min_interval = float(min_interval)
        self._t0 = time.perf_counter()
        self._last_print = -np.inf
        self._pending: str | None = None
        self.last: tuple[int, float] | None = None

    @property
    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    @property
    def in_place(self) -> bool:
        if self._in_place is not None:
            return self._in_place
        isatty = getattr(self._out, "isatty", None)
        try:
            tty = bool(isatty()) if isatty is not None else False
        except (ValueError, OSError):
            tty = False
        return tty or _in_notebook()

    def format(self, iteration: int, kl: float) -> str:
        label = self.prefix + (f" ({self.phase})" if self.phase else "")
        parts = [label]
        if self.total and not self.phase:
            frac = min(max(iteration / self.total, 0.0), 1.0)
            done = int(round(frac * self.width))
            parts.append("[" + "#" * done + "." * (self.width - done) + "]")
            parts.append(f"{iteration}/{self.total}")
        else:
            parts.append(f"iteration {iteration}")
        if kl is not None and np.isfinite(kl):
            parts.append(f"KL {kl:.4f}")
        parts.append(f"{time.perf_counter() - self._t0:.1f} s")
        left = self._time_left(iteration)
        if left:
            parts.append(left)
        return "  ".join(parts)

    def _time_left(self, iteration: int) -> str:
        from .engine.eta import format_seconds

        if not self.total or self.phase:
            return ""
        early = iteration < self.early
        if early != self._eta_phase:  # a new phase: its own speed
            self._eta.restart()
            self._eta_phase = early
        self._eta.add(iteration)
        if early:
            seconds = self._eta.estimate(self.early - iteration, self.total - self.early)
        else:
            seconds = self._eta.estimate(self.total - iteration)
        return format_seconds(seconds) if iteration < self.total else ""

    def __call__(self, iteration: int, kl: float, Y=None) -> None:
        out = self._out
        line = self.format(int(iteration), float(kl))
        self.last = (int(iteration), float(kl))
        if self.in_place:
            if self._open and self.phase != self._last_phase:
                out.write("\n")
            out.write("\r" + line + "\x1b[K" if _supports_ansi(out) else "\r" + line.ljust(79))
            self._open = True
        else:
            now = time.perf_counter()
            if self._pending is not None and self.phase != self._last_phase:
                out.write(self._pending + "\n")  # the last line of the previous phase
            done = self.total is not None and not self.phase and iteration >= self.total
            if done or now - self._last_print >= self.min_interval:
                out.write(line + "\n")
                self._last_print = now
                self._pending = None
            else:
                self._pending = line
        self._last_phase = self.phase
        out.flush()
        return None

    def close(self) -> None:
        """End the progress output (finishes the line drawn in place, or prints the
        last line not printed yet)."""
        if self._open:
            self._out.write("\n")
            self._open = False
        elif self._pending is not None:
            self._out.write(self._pending + "\n")
        self._pending = None
        self._out.flush()


def _supports_ansi(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) and os.environ.get("TERM", "") not in ("", "dumb")
    except (ValueError, OSError):
        return False


class LiveScatter:
    """A callback that redraws a scatter plot of the map while it forms.

    In Jupyter the figure is shown once with ``IPython.display`` and updated in place;
    elsewhere the figure is redrawn (visible with an interactive backend) and can be
    saved at any time (``live.figure.savefig``). ``every`` redraws only on every n-th
    call, to keep the notebook responsive. Labels colour the points as in
    :func:`scatter`; if the number of points changes (the phases of a
    subsample-and-extend run) the points are drawn in one colour.
    """

    def __init__(
        self,
        labels=None,
        *,
        every: int = 1,
        figsize: tuple[float, float] = (5.0, 5.0),
        s: float | None = None,
        label_names=None,
        title: str = "t-SNE",
        display: bool | None = None,
    ):
        self.labels = labels
        self.every = max(int(every), 1)
        self.figsize = figsize
        self.s = s
        self.label_names = label_names
        self.title = title
        self._display = display
        self.figure = None
        self.ax = None
        self._handle = None
        self._calls = 0
        self._n = None
        self.phase: str | None = None

    def _setup(self, Y):
        import matplotlib.pyplot as plt

        if self.figure is None:
            self.figure, self.ax = plt.subplots(figsize=self.figsize, layout="constrained")
            if self._display if self._display is not None else _in_notebook():
                plt.close(self.figure)  # shown through IPython.display, not plt.show
                from IPython.display import display

                self._handle = display(self.figure, display_id=True)
        self.ax.clear()
        labels = self.labels if self.labels is not None and len(self.labels) == len(Y) else None
        scatter(Y, labels, ax=self.ax, s=self.s, label_names=self.label_names)
        self._n = len(Y)

    def __call__(self, iteration: int, kl: float, Y) -> None:
        self._calls += 1
        if (self._calls - 1) % self.every:
            return None
        Y = np.asarray(Y)
        self._setup(Y)
        parts = [self.title]
        if self.phase:
            parts.append(self.phase)
        parts.append(f"iteration {iteration}")
        if np.isfinite(kl):
            parts.append(f"KL {kl:.3f}")
        self.ax.set_title(", ".join(parts), fontsize=10)
        if self._handle is not None:
            self._handle.update(self.figure)
        else:
            canvas = self.figure.canvas
            canvas.draw_idle()
            try:
                canvas.flush_events()
            except NotImplementedError:  # pragma: no cover - non-interactive backends
                pass
        return None
