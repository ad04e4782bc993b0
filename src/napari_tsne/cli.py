"""Command line: ``napari-tsne embed``, ``napari-tsne transform`` and ``napari-tsne demo``.

``embed`` makes a t-SNE map of an ``.h5ad``, ``.npy`` or ``.csv`` file with the same
parameters as the napari widget and saves it as ``.h5ad`` (a copy of the input with
the map in ``obsm[KEY]`` and the parameters in ``uns``, as scanpy does), ``.npy`` or
``.csv``. ``transform`` adds new samples to a map saved that way: the reference is
rebuilt from the map file (the data representation named in its parameters and the
coordinates in ``obsm``), and the new samples are placed into it without moving it.

Exit status: 0 on success, 2 for a usage error or unusable input (the message says
what to change), 1 when the run itself failed, 130 when interrupted. Messages go to
standard error, without a traceback (set ``NAPARI_TSNE_DEBUG=1`` to see one). An
existing file (the input included) is never overwritten without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._options import (
    EMBED_OPTIONS,
    PREFERRED_COLOUR_COLUMNS,
    TRANSFORM_OPTIONS,
    add_options,
    parse_threads,
    tsne_kwargs,
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

INPUT_SUFFIXES = (".h5ad", ".npy", ".npz", ".csv", ".tsv")
OUTPUT_SUFFIXES = (".h5ad", ".npy", ".csv", ".tsv")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


class UsageError(Exception):
    """Bad command line or input: exit status 2."""


class _Formatter(argparse.HelpFormatter):
    """Shows an option's default in its help, unless it is None/False or already there."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            text
            and "default" not in text
            and default not in (None, False, argparse.SUPPRESS)
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


# ------------------------------------------------------------------------- parser
def _add_common_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTPUT",
        help="file to write: .h5ad, .npy, .csv or .tsv",
    )
    p.add_argument("--key", default="X_tsne", help="obsm key of the map in .h5ad files")
    p.add_argument("--png", metavar="PATH", help="also save a scatter plot (.png/.pdf/.svg)")
    p.add_argument(
        "--color",
        metavar="COLUMN",
        help="obs / table column that colours the --png figure (default: a "
        "column named label, class, cell_type, leiden, ... if there is one)",
    )
    p.add_argument(
        "--threads",
        type=parse_threads,
        default=None,
        metavar="N",
        help="threads for the numba kernels (default or 0: all cores)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="allow replacing an existing OUTPUT / PNG (with OUTPUT = INPUT.h5ad: "
        "add the map to the input file)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _add_data_command(
    sub, name: str, *, help, description, inputs, representation_help, group, options, func
) -> argparse.ArgumentParser:
    """A command that reads data files and writes a result: positional ``inputs``
    (dest, metavar, help), the output options, ``--representation`` and the group of
    parameter ``options`` (from ``_options``)."""
    p = sub.add_parser(name, help=help, formatter_class=_Formatter, description=description)
    for dest, metavar, text in inputs:
        p.add_argument(dest, metavar=metavar, help=text)
    _add_common_output(p)
    p.add_argument("--representation", metavar="KEY", default=None, help=representation_help)
    add_options(p.add_argument_group(group), options)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-tsne",
        description="t-SNE maps for napari, Jupyter and the shell.",
        epilog="Exit status: 0 success, 1 the run failed, 2 usage error or unusable input.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="open napari on the digits data set and run t-SNE")
    demo.add_argument("--headless", action="store_true", help="run without a window")
    demo.add_argument(
        "-o",
        "--output-dir",
        default="napari-tsne-demo",
        help="where the headless run writes its .h5ad and PNG",
    )
    demo.add_argument(
        "--close-when-done",
        action="store_true",
        help="with a window: close napari when the run has ended (exit status 1 if it failed)",
    )
    demo.add_argument(
        "--screenshot",
        metavar="FILE",
        help="with a window: save a PNG of the window when the run has ended, then close",
    )

    _add_data_command(
        sub,
        "embed",
        help="make a t-SNE map of a data file",
        description="Make a t-SNE map of INPUT (.h5ad, .npy, .npz, .csv or .tsv) and save it. "
        "A .h5ad OUTPUT is a copy of an .h5ad INPUT plus obsm[KEY] and the "
        "parameters in uns; from .npy/.csv input it holds the data as X (so that "
        "`napari-tsne transform` can add samples to the map later).",
        inputs=[("input", "INPUT", "data file (.h5ad, .npy, .npz, .csv, .tsv)")],
        representation_help="data matrix of an .h5ad INPUT: X, obsm/X_pca, layers/NAME, raw/X "
        "(default, as scanpy: X for up to 50 variables, else obsm/X_pca, computed and saved "
        "with the map if missing); array name of an .npz INPUT",
        group="t-SNE parameters (as in the napari widget)",
        options=EMBED_OPTIONS,
        func=cmd_embed,
    )
    _add_data_command(
        sub,
        "transform",
        help="add new samples to a saved map",
        description="Place the samples of NEW_INPUT into the map saved in MAP.h5ad (by "
        "`napari-tsne embed` or the napari widget) without moving the map. The "
        "reference is the representation named in the map's parameters "
        "(uns[...]['params']['representation']) and the coordinates in "
        "obsm[KEY]; NEW_INPUT needs the same features. With an .h5ad NEW_INPUT, an "
        ".h5ad OUTPUT holds the map's cells and the new ones combined (as anndata.concat "
        "joins them, with a batch column and obsm[KEY] for every cell).",
        inputs=[
            ("map", "MAP", ".h5ad file holding the map"),
            ("input", "NEW_INPUT", "new samples (.h5ad, .npy, .npz, .csv)"),
        ],
        representation_help="data matrix of an .h5ad NEW_INPUT (default: the map's representation)",
        group="placement parameters",
        options=TRANSFORM_OPTIONS,
        func=cmd_transform,
    )
    return parser


# -------------------------------------------------------------------------- input
@dataclass
class Loaded:
    path: Path
    X: Any
    representation: str
    obs: Any = None  # pandas DataFrame or None
    adata: Any = None  # AnnData for .h5ad input
    #: the representation as chosen by scanpy's rule (no --representation), else None
    chosen: Any = None  # napari_tsne.tl.Representation


def _check_suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise UsageError(
            f"{what} {path} has an unsupported file type {suffix or '(no extension)'!r}; "
            f"use {', '.join(allowed)}."
        )
    return suffix


def load_input(
    path: str | os.PathLike, representation: str | None = None, *, random_state=0
) -> Loaded:
    """Read a data file into a :class:`Loaded` (matrix, representation name, obs).

    Without ``representation`` an .h5ad file's representation is chosen by scanpy's
    rule (:func:`napari_tsne.tl.choose_representation`; a missing PCA is computed
    with ``random_state``)."""
    # anndata and pandas only for the inputs that need them (a .npy run starts faster)
    from .io import read_array

    path = Path(path).expanduser()
    suffix = _check_suffix(path, INPUT_SUFFIXES, "Input")
    if suffix == ".h5ad":
        from .io import get_representation, read_h5ad

        adata = read_h5ad(path)
        if representation is None:
            from .tl import choose_representation

            chosen = choose_representation(adata, random_state=random_state)
            return Loaded(path, chosen.matrix, chosen.name, adata.obs, adata, chosen)
        X, name = get_representation(adata, representation)
        return Loaded(path, X, name, adata.obs, adata)
    if representation is not None and suffix != ".npz":
        raise UsageError(
            "--representation applies to .h5ad (and .npz) input only; "
            f"{path.name} holds a single matrix."
        )
    if suffix in (".csv", ".tsv"):
        import pandas as pd

        from .io import read_table

        X, labels = read_table(path)
        obs = labels if labels.shape[1] else None
        if obs is None and not isinstance(labels.index, pd.RangeIndex):
            obs = pd.DataFrame(index=labels.index)
        return Loaded(path, X, "X", obs, None)
    X = read_array(path, key=representation)
    return Loaded(path, X, "X" if suffix == ".npy" else representation or "X", None, None)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    out: Path,
    inputs: list[Path],
    overwrite: bool,
    allowed,
    what="Output",
    protected: tuple[Path, ...] = (),
):
    """Refuse an unusable or existing output before any work is done. ``protected``
    files are never written, even with ``--overwrite``."""
    _check_suffix(out, allowed, what)
    for keep in protected:
        if _same_file(out, keep) or out.resolve() == keep.resolve():
            raise UsageError(
                f"{what} {out} is the map file, which is never replaced; choose another name."
            )
    for inp in inputs:
        if _same_file(out, inp) or out.resolve() == inp.resolve():
            if not overwrite:
                raise UsageError(
                    f"{what} {out} is the input file; it is not overwritten. Choose another "
                    "name, or pass --overwrite"
                    + (" to add the map to the input file." if out.suffix == ".h5ad" else ".")
                )
            if out.suffix.lower() != ".h5ad":
                raise UsageError(f"{what} {out} is the input file; choose another name.")
    if out.is_dir():
        raise UsageError(f"{what} {out} is a folder; give a file name.")
    if out.exists() and not overwrite:
        raise UsageError(f"{what} {out} already exists; choose another name or pass --overwrite.")
    if not out.parent.is_dir():
        raise UsageError(f"The folder {out.parent} of {what.lower()} {out} does not exist.")


def _colour_values(loaded: Loaded, column: str | None):
    """(values, column name) for the figure's colours, or (None, None)."""
    obs = loaded.obs
    columns = [] if obs is None else [str(c) for c in obs.columns]
    if column is not None:
        if column not in columns:
            avail = ", ".join(columns) if columns else "none"
            raise UsageError(
                f"--color {column!r} is not a column of {loaded.path.name} (columns: {avail})."
            )
        return obs[column], column
    lower = {c.lower(): c for c in columns}
    for name in PREFERRED_COLOUR_COLUMNS:
        if name in lower:
            return obs[lower[name]], lower[name]
    return None, None


# ------------------------------------------------------------------------- output
def _anndata_for(loaded: Loaded):
    """An AnnData holding the input's data (new .h5ad output from array input)."""
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    X = loaded.X
    if not sp.issparse(X):
        X = np.asarray(X)
    n = X.shape[0]
    if loaded.obs is not None:
        obs = loaded.obs.copy()
        if isinstance(obs.index, pd.RangeIndex):
            obs.index = obs.index.astype(str)
        else:
            obs.index = pd.Index([str(v) for v in obs.index])
    else:
        obs = pd.DataFrame(index=pd.Index([str(i) for i in range(n)]))
    return anndata.AnnData(X=X, obs=obs)


def write_result(
    out: Path, loaded: Loaded, Y: np.ndarray, key: str, params: dict, overwrite: bool
) -> Path:
    """Save ``Y`` as OUTPUT (see the module docstring); returns the path written."""
    from .io import write_array

    suffix = out.suffix.lower()
    if suffix != ".h5ad":
        return write_array(out, Y, overwrite=overwrite)
    from .io import atomic_path, sanitize_params, uns_key_for, write_embedding

    chosen = loaded.chosen
    if chosen is not None and chosen.pca is not None:
        # the PCA the map was made from was computed here: it is saved with the map
        # (a transform needs it), so the whole AnnData is written
        ad = loaded.adata
        chosen.pca.store(ad)
        ad.obsm[key] = np.ascontiguousarray(Y)
        ad.uns[uns_key_for(key)] = {"params": sanitize_params(params)}
        with atomic_path(out, overwrite=True if _same_file(out, loaded.path) else overwrite) as tmp:
            ad.write_h5ad(tmp)
        return out
    if loaded.adata is not None and (_same_file(out, loaded.path)):
        return write_embedding(out, Y, key=key, params=params, overwrite=True)
    with atomic_path(out, overwrite=overwrite) as tmp:
        if loaded.adata is not None:
            # a byte copy keeps everything in the input file as it is stored
            shutil.copyfile(loaded.path, tmp)
            write_embedding(tmp, Y, key=key, params=params, overwrite=True)
        else:
            ad = _anndata_for(loaded)
            ad.obsm[key] = np.ascontiguousarray(Y)
            ad.uns[uns_key_for(key)] = {"params": sanitize_params(params)}
            ad.write_h5ad(tmp)
    return out


def save_figure(
    path: Path,
    Y,
    labels=None,
    *,
    title: str | None = None,
    reference=None,
    overwrite: bool = False,
    label_name: str | None = None,
) -> Path:
    """Scatter plot of ``Y`` (optionally over a grey ``reference`` map) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path
    from .plotting import scatter

    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    if reference is not None:
        ax.scatter(reference[:, 0], reference[:, 1], s=2, c="0.8", linewidths=0, rasterized=True)
    scatter(Y, labels, ax=ax, title=title, colorbar_label=label_name)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".").lower())
    plt.close(fig)
    return path


# ----------------------------------------------------------------------- commands
def _note(args, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _cli_warnings():
    """Show warnings as one readable line each (no source-code lines)."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"napari-tsne: warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.showwarning = show
        yield


def _check_figure_args(args, inputs: list[Path]) -> Path | None:
    if args.png is None:
        return None
    png = Path(args.png).expanduser()
    check_output(png, inputs, args.overwrite, FIGURE_SUFFIXES, what="Figure")
    return png


def cmd_embed(args) -> int:
    from .engine import TSNE, TSNEInputError
    from .plotting import ProgressPrinter

    inp = Path(args.input).expanduser()
    out = Path(args.output).expanduser()
    _check_suffix(inp, INPUT_SUFFIXES, "Input")
    check_output(out, [inp], args.overwrite, OUTPUT_SUFFIXES)
    png = _check_figure_args(args, [inp, out])
    if args.key.strip() == "" or "/" in args.key:
        raise UsageError(f"--key must be a name without '/', such as X_tsne; got {args.key!r}.")
    from .engine.autostop import parse_schedule

    # the maxima (a bad "auto:N" is an error before the data are read)
    n_max = {
        name: parse_schedule(getattr(args, name), name)[0]
        for name in ("n_iter", "early_exaggeration_iter")
    }

    t0 = time.perf_counter()
    loaded = load_input(inp, args.representation, random_state=args.seed)
    colours, colour_name = _colour_values(loaded, args.color) if png else (None, None)
    n = loaded.X.shape[0]
    if loaded.chosen is not None:
        _note(
            args,
            f"napari-tsne: {inp.name}: using {loaded.chosen.note} (scanpy's rule: X for up "
            "to 50 variables, else obsm/X_pca; choose with --representation)",
        )
    _note(
        args,
        f"napari-tsne: {inp.name}: {loaded.representation}, {n:,} samples x "
        f"{loaded.X.shape[1]:,} features",
    )
    if not args.quiet:
        from .engine.job import COMPILE_NOTICE
        from .engine.precompile import kernels_need_compiling

        if kernels_need_compiling():
            _note(args, f"napari-tsne: {COMPILE_NOTICE}")

    progress = None
    if not args.quiet:
        total = None if args.subsample else n_max["early_exaggeration_iter"] + n_max["n_iter"]
        progress = ProgressPrinter(
            total, stream=sys.stderr, early_exaggeration_iter=n_max["early_exaggeration_iter"]
        )
    tsne = TSNE(
        **tsne_kwargs(vars(args), threads=args.threads),
        callbacks=progress,
        callback_every=10 if n <= 20000 else 25,
    )
    if args.subsample is not None and isinstance(args.subsample, int) and args.subsample > n:
        raise TSNEInputError(
            f"--subsample {args.subsample} is larger than the {n:,} samples of the input."
        )
    try:
        tsne.fit(loaded.X)
    finally:
        if progress is not None:
            progress.close()
    emb = tsne.tsne_embedding_
    Y = np.asarray(tsne.embedding_)
    # the parameters go only into an .h5ad (run_params imports anndata via tl: ~1 s)
    params = run_params(tsne, loaded, emb) if out.suffix.lower() == ".h5ad" else {}
    written = write_result(out, loaded, Y, args.key, params, args.overwrite)
    msg = f"napari-tsne: wrote {written}"
    if written.suffix.lower() == ".h5ad":
        msg += f" (obsm[{args.key!r}])"
    if png is not None:
        save_figure(
            png,
            Y,
            colours,
            title=f"t-SNE of {inp.name}",
            overwrite=args.overwrite,
            label_name=colour_name,
        )
        msg += f" and {png}"
    kl = emb.kl_divergence
    note = f"{msg}; KL divergence {kl:.4f}, {emb.n_iter} iterations"
    if emb.converged:
        note += f" ({' and '.join(emb.converged)} converged)"
    _note(args, f"{note}, {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def run_params(tsne, loaded: Loaded, emb) -> dict[str, Any]:
    """The parameters stored with a map (``uns[...]["params"]``), as ``tl.tsne`` does."""
    from .tl import map_params

    p = map_params(tsne, emb, loaded.representation, source=loaded.path.name)
    if loaded.chosen is not None and loaded.chosen.n_pcs is not None:
        p["n_pcs"] = loaded.chosen.n_pcs
    return p


# ------------------------------------------------------------------- transform
def write_combined(
    out: Path, ref_adata, loaded: Loaded, Y: np.ndarray, key: str, params: dict, args
) -> tuple[Path, list[str]]:
    """Save the map's AnnData and the new samples' AnnData combined (as the widget's
    export after adding samples does): all cells, ``obsm[key]`` for each, a ``batch``
    column; returns the path and the notes on what could not be combined."""
    from .io import atomic_path, uns_key_for
    from .io.combine import combine_anndata

    entry = ref_adata.uns.get(uns_key_for(key), {})
    map_params = dict(entry.get("params", {})) if isinstance(entry, dict) else {}
    combined, notes = combine_anndata(
        [ref_adata, loaded.adata],
        [np.asarray(ref_adata.obsm[key], dtype=np.float64), Y],
        [Path(args.map).stem, loaded.path.stem],
        key=key,
        params={**map_params, **params},
    )
    with atomic_path(out, overwrite=args.overwrite) as tmp:
        combined.write_h5ad(tmp)
    return out, notes


def cmd_transform(args) -> int:
    from .io import read_h5ad
    from .plotting import ProgressPrinter
    from .tl import query_representation, reference_from_map

    map_path = Path(args.map).expanduser()
    inp = Path(args.input).expanduser()
    out = Path(args.output).expanduser()
    if map_path.suffix.lower() != ".h5ad":
        raise UsageError(f"MAP {map_path} must be an .h5ad file holding a saved map.")
    _check_suffix(inp, INPUT_SUFFIXES, "Input")
    check_output(out, [inp], args.overwrite, OUTPUT_SUFFIXES, protected=(map_path,))
    png = _check_figure_args(args, [map_path, inp, out])
    if args.n_iter < 0:
        raise UsageError("--n-iter must be >= 0.")

    t0 = time.perf_counter()
    ref_adata = read_h5ad(map_path)
    ref = reference_from_map(
        ref_adata,
        args.key,
        neighbors=args.neighbors,
        n_jobs=args.threads,
        random_state=args.seed,
    )
    emb, representation = ref.embedding, ref.representation
    if inp.suffix.lower() == ".h5ad":  # described as the map's data was (as tl.ingest)
        new_adata = read_h5ad(inp)
        X, name, _ = query_representation(new_adata, ref_adata, ref, args.representation)
        loaded = Loaded(inp, X, name, new_adata.obs, new_adata)
    else:
        loaded = load_input(inp, args.representation)
    colours, colour_name = _colour_values(loaded, args.color) if png else (None, None)
    _note(
        args,
        f"napari-tsne: placing {loaded.X.shape[0]:,} samples of {inp.name} into the "
        f"map of {emb.shape[0]:,} samples in {map_path.name} ({representation})",
    )
    progress = (
        None if args.quiet else ProgressPrinter(args.n_iter, stream=sys.stderr, prefix="transform")
    )
    try:
        Y = emb.transform(
            loaded.X,
            perplexity=args.perplexity,
            k=args.k,
            init=args.init,
            n_iter=args.n_iter,
            exaggeration=args.exaggeration,
            learning_rate=args.learning_rate,
            callbacks=progress,
            callback_every=10,
        )
    finally:
        if progress is not None:
            progress.close()
    params = {
        "reference": map_path.name,
        "reference_key": args.key,
        "representation": loaded.representation,
        "source": inp.name,
        "transform": {
            "perplexity": args.perplexity,
            "k": args.k,
            "n_iter": args.n_iter,
            "learning_rate": args.learning_rate,
            "exaggeration": args.exaggeration,
            "init": args.init,
        },
    }
    notes: list[str] = []
    if loaded.adata is not None and out.suffix.lower() == ".h5ad":
        written, notes = write_combined(out, ref_adata, loaded, Y, args.key, params, args)
    else:
        written = write_result(out, loaded, Y, args.key, params, args.overwrite)
    msg = f"napari-tsne: wrote {written}"
    if notes:
        msg += " (" + " ".join(notes) + ")"
    if png is not None:
        save_figure(
            png,
            Y,
            colours,
            title=f"{inp.name} placed into {map_path.name}",
            reference=emb.coordinates,
            overwrite=args.overwrite,
            label_name=colour_name,
        )
        msg += f" and {png}"
    _note(args, f"{msg}; {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


# -------------------------------------------------------------------------- main
def _error(command: str | None, text: str) -> None:
    prog = "napari-tsne" + (f" {command}" if command else "")
    print(f"{prog}: error: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .plugin.demo import run_demo

        return int(
            run_demo(
                headless=args.headless,
                output_dir=args.output_dir,
                close_when_done=args.close_when_done,
                screenshot=args.screenshot,
            )
            or 0
        )

    from .engine import TSNEInputError
    from .io import DataReadError, DataWriteError

    debug = os.environ.get("NAPARI_TSNE_DEBUG", "") not in ("", "0")
    try:
        with _cli_warnings():
            return int(args.func(args))
    except (UsageError, DataReadError, TSNEInputError) as err:
        _error(args.command, str(err))
        code = EXIT_USAGE
    except DataWriteError as err:
        _error(args.command, str(err))
        code = EXIT_FAILURE
    except KeyboardInterrupt:
        _error(args.command, "interrupted; nothing was written.")
        return EXIT_INTERRUPTED
    except MemoryError:
        _error(
            args.command,
            "not enough memory. Try --subsample, or a smaller representation "
            "(e.g. --representation obsm/X_pca).",
        )
        code = EXIT_FAILURE
    except Exception as err:  # noqa: BLE001 - the CLI reports every failure in one line
        _error(
            args.command,
            f"the run failed: {type(err).__name__}: {err} (set NAPARI_TSNE_DEBUG=1 for details)",
        )
        code = EXIT_FAILURE
    if debug:
        traceback.print_exc()
    return code


if __name__ == "__main__":
    sys.exit(main())
