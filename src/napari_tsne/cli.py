"""Command line: ``napari-tsne demo`` (more subcommands in later issues)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-tsne", description="t-SNE maps for napari, Jupyter and the shell."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="open napari on the digits data set and run t-SNE")
    demo.add_argument("--headless", action="store_true", help="run without a window")
    demo.add_argument("-o", "--output-dir", default="napari-tsne-demo",
                      help="where the headless run writes its .h5ad and PNG")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return int(run_demo(headless=args.headless, output_dir=args.output_dir) or 0)
    return 2


if __name__ == "__main__":
    sys.exit(main())
