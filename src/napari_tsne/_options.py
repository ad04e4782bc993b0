"""The user-facing t-SNE options, described once for the command line and the widget.

Each :class:`Option` holds a setting's default, its help text, how the command line
parses it (``type``, ``metavar``, ``choices``) and, for the settings the napari
widget shows, the widget's label, range and tooltip. ``cli.py`` builds its argparse
options from these tables (:func:`add_options`), ``plugin/widget/form.py`` its spin boxes and
combo boxes (from ``Option.widget``), and both turn the values the user chose into
:class:`~napari_tsne.engine.TSNE` keyword arguments with :func:`tsne_kwargs`.

Pure data and conversions: no napari, Qt or magicgui here, and no algorithm.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EMBED_OPTIONS",
    "INIT_CHOICES",
    "METHOD_CHOICES",
    "NEIGHBOR_CHOICES",
    "Option",
    "PREFERRED_COLOUR_COLUMNS",
    "TRANSFORM_OPTIONS",
    "WIDGET_OPTIONS",
    "add_options",
    "tsne_kwargs",
]

#: annotation columns that are good defaults for colouring a map, best first
PREFERRED_COLOUR_COLUMNS = (
    "label",
    "labels",
    "class",
    "cell_type",
    "celltype",
    "leiden",
    "louvain",
    "cluster",
    "clusters",
    "batch",
)
INIT_CHOICES = ("pca", "spectral", "random")
METHOD_CHOICES = ("auto", "exact", "bh", "fft")
NEIGHBOR_CHOICES = ("auto", "exact", "faiss", "pynndescent")


# ------------------------------------------------------------------ parsing text
def parse_perplexity(text: str) -> float | list[float]:
    """``"30"`` -> 30.0; ``"30,300"`` -> [30.0, 300.0] (multiscale)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number (or comma-separated numbers for multiscale)"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("give a number such as 30")
    return values[0] if len(values) == 1 else values


def parse_learning_rate(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'auto'") from None


def parse_iterations(text: str) -> int | str:
    """A number of iterations (``"500"``), ``"auto"`` (until converged) or ``"auto:N"``
    (until converged, at most N); the engine checks the bound."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    if value == "auto" or value.startswith("auto:"):
        return value
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a number of iterations >= 0, 'auto' or 'auto:N' (at most N)"
    )


def parse_subsample(text: str) -> int | float:
    """A number of samples (``"20000"``) or a fraction (``"0.1"``)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of samples (e.g. 20000) or a fraction (e.g. 0.1)"
        ) from None
    if value.is_integer() and value >= 1:
        return int(value)
    return value


def parse_threads(text: str) -> int | None:
    """A thread count; 0 or less means all cores (None)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    return None if value <= 0 else value


# ---------------------------------------------------------------------- options
@dataclass(frozen=True)
class Option:
    """One user-facing setting.

    ``name`` is the command line's ``--name`` (underscores as dashes) and its argparse
    destination, and the widget's attribute; ``keyword`` the TSNE keyword it feeds
    (None: the same as ``name``). ``widget`` (None: not in the widget) holds the
    widget's ``kind`` ("float", "int" or "choice"), ``label`` and its other keyword
    arguments (``min``, ``max``, ``step``, ``tooltip``, ``value`` when it differs
    from ``default``, ``choices`` when they differ from ``choices``).
    """

    name: str
    default: Any
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple | None = None
    keyword: str | None = None
    widget: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def tsne_keyword(self) -> str:
        return self.keyword or self.name

    def argparse_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"default": self.default, "help": self.help}
        for key in ("type", "metavar", "choices"):
            value = getattr(self, key)
            if value is not None:
                kw[key] = value
        return kw

    def widget_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the magicgui widget (without ``kind``)."""
        kw = {k: v for k, v in (self.widget or {}).items() if k != "kind"}
        kw.setdefault("value", self.default)
        if self.choices is not None:
            kw.setdefault("choices", list(self.choices))
        return kw


def add_options(group, options: Iterable[Option]) -> None:
    """Add ``options`` to an argparse parser or argument group."""
    for opt in options:
        group.add_argument(opt.flag, **opt.argparse_kwargs())


def _spin(label: str, lo, hi, step=None, **more) -> dict[str, Any]:
    kind = "float" if isinstance(lo, float) else "int"
    spec = {"kind": kind, "label": label, "min": lo, "max": hi, **more}
    if step is not None:
        spec["step"] = step
    return spec


#: options of ``napari-tsne embed``; those with a ``widget`` spec are also the widget's
EMBED_OPTIONS: tuple[Option, ...] = (
    Option(
        "perplexity",
        30.0,
        "effective number of neighbours; '30,300' gives multiscale affinities",
        type=parse_perplexity,
        metavar="P",
        widget=_spin("perplexity", 1.0, 10_000.0, 5.0),
    ),
    Option(
        "early_exaggeration",
        12.0,
        "exaggeration of the early phase, in which clusters form",
        type=float,
        metavar="X",
        widget=_spin("early exaggeration", 1.0, 1000.0, 1.0),
    ),
    Option(
        "early_exaggeration_iter",
        250,
        "iterations of the early phase; 'auto': until the KL's rate of change has "
        "peaked (at most 500; 'auto:N': at most N)",
        type=parse_iterations,
        metavar="N",
        widget=_spin("early exaggeration length", 0, 100_000, 25),
    ),
    Option(
        "n_iter",
        750,
        "iterations after the early-exaggeration phase; 'auto': until the KL improves by "
        "less than KL/12000 per iteration (at most 2000; 'auto:N': at most N)",
        type=parse_iterations,
        metavar="N",
        widget=_spin(
            "iterations",
            0,
            100_000,
            50,
            tooltip="Iterations after early exaggeration (also what Continue adds)",
        ),
    ),
    Option(
        "exaggeration",
        1.0,
        "exaggeration of the normal phase (about 4 separates clusters of large data sets)",
        type=float,
        metavar="X",
        widget=_spin(
            "exaggeration",
            0.1,
            100.0,
            0.5,
            tooltip="Can be changed during a run; >1 separates clusters more",
        ),
    ),
    Option(
        "learning_rate",
        "auto",
        "'auto' = n_samples / exaggeration",
        type=parse_learning_rate,
        metavar="X",
        # the widget's value is used when "automatic learning rate" is unticked
        widget=_spin("learning rate", 1.0, 1e7, 50.0, value=200.0, enabled=False),
    ),
    Option(
        "metric",
        "euclidean",
        "euclidean, sqeuclidean, cosine, manhattan, correlation, chebyshev or "
        "precomputed (INPUT is a square distance matrix)",
        widget={"kind": "choice", "label": "metric"},  # choices: the engine's METRICS
    ),
    Option(
        "init",
        "pca",
        "initial layout (precomputed distances: pca means spectral)",
        choices=INIT_CHOICES,
        widget={"kind": "choice", "label": "initialisation"},
    ),
    Option(
        "method",
        "auto",
        "repulsion: exact, Barnes-Hut (bh) or FFT interpolation; auto by size",
        choices=METHOD_CHOICES,
        keyword="negative_gradient_method",
    ),
    Option("neighbors", "auto", "nearest-neighbour search", choices=NEIGHBOR_CHOICES),
    Option(
        "dof",
        1.0,
        "degrees of freedom of the t kernel (< 1: finer clusters)",
        type=float,
        metavar="X",
    ),
    Option(
        "subsample",
        None,
        "subsample-and-extend: map N samples (or a fraction), place the "
        "others into that map, then optimise all",
        type=parse_subsample,
        metavar="N",
    ),
    Option(
        "seed",
        42,
        "random seed",
        type=int,
        keyword="random_state",
        widget=_spin("random seed", 0, 2**31 - 1),
    ),
)

#: the options the widget shows, by name (its attributes of the same names)
WIDGET_OPTIONS: dict[str, Option] = {o.name: o for o in EMBED_OPTIONS if o.widget is not None}

#: options of ``napari-tsne transform`` (placing new samples into a saved map)
TRANSFORM_OPTIONS: tuple[Option, ...] = (
    Option(
        "perplexity",
        5.0,
        "perplexity of the new points' affinities to the reference",
        type=float,
        metavar="P",
    ),
    Option("k", None, "reference neighbours per new point (default 3 * perplexity)", type=int),
    Option(
        "n_iter",
        250,
        "optimisation iterations (0: place at the neighbours' median only)",
        type=int,
        metavar="N",
    ),
    Option("learning_rate", 0.1, "step size (openTSNE units)", type=float, metavar="X"),
    Option("exaggeration", 1.5, "attraction to the map", type=float, metavar="X"),
    Option(
        "init",
        "median",
        "start position: median / weighted mean of the neighbours, or the nearest one",
        choices=("median", "weighted", "nearest"),
    ),
    Option(
        "neighbors",
        "auto",
        "search for the reference neighbours (auto: faiss for dense data, exact or "
        "inverted-file by size; pynndescent for sparse data and other metrics)",
        choices=NEIGHBOR_CHOICES,
    ),
    Option("seed", 42, "random seed (faiss IVF, pynndescent)", type=int),
)


def tsne_kwargs(values: Mapping[str, Any], *, threads: int | None = None) -> dict[str, Any]:
    """TSNE keyword arguments from option values keyed by option name (as the
    command line's parsed arguments or the widget's controls give them).

    Only the options present in ``values`` are converted, in their order in
    :data:`EMBED_OPTIONS`; ``threads`` (0 or None: all cores) becomes ``n_jobs``.
    """
    kwargs = {opt.tsne_keyword: values[opt.name] for opt in EMBED_OPTIONS if opt.name in values}
    kwargs["n_jobs"] = None if not threads or threads <= 0 else int(threads)
    return kwargs
