"""The documentation builds with ``mkdocs build --strict`` (API pages from the
docstrings), its links and images resolve, and the CLI page matches ``--help``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: pages written by others; linked from these docs (stubbed if not there yet)
OTHER_PAGES = ("gui.md", "benchmarks.md", "reliability.md")
MAX_IMAGE_BYTES = 1_000_000


def _links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_docs_links_and_images_resolve():
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ has no pages"
    for page in pages:
        if page.name in OTHER_PAGES:
            continue
        for link in _links(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+://", link) or link.startswith("#"):
                continue
            target = link.split("#", 1)[0]
            if target in OTHER_PAGES:
                continue
            assert (DOCS / target).exists(), f"{page.name}: broken link {link}"


def test_doc_images_are_small():
    for image in (DOCS / "images").glob("*"):
        if image.name.startswith("gui_"):  # the GUI guide's screenshots are not ours
            continue
        if image.suffix.lower() in (".png", ".gif", ".jpg", ".svg"):
            assert image.stat().st_size < MAX_IMAGE_BYTES, f"{image.name} is too large"


def test_cli_page_shows_the_current_help():
    # each "Options (`napari-tsne X --help`):" block is that command's help at 80 columns
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for command in ("embed", "transform"):
        help_text = subprocess.run(
            [sys.executable, "-m", "napari_tsne.cli", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "80"},
        ).stdout
        block = re.search(
            rf"Options \(`napari-tsne {command} --help`\):\n\n```text\n(.*?)```", text, re.S
        )
        assert block, f"docs/cli.md has no help block for {command}"
        assert block.group(1).rstrip() == help_text.rstrip(), (
            f"docs/cli.md's `{command} --help` is out of date; paste the output of "
            f"COLUMNS=80 napari-tsne {command} --help"
        )


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    # build from a copy, so that pages other people are still writing can be stubbed
    site_src = tmp_path / "src_site"
    site_src.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", site_src / "mkdocs.yml")
    shutil.copytree(DOCS, site_src / "docs")
    (site_src / "src").symlink_to(ROOT / "src", target_is_directory=True)
    for name in OTHER_PAGES:
        page = site_src / "docs" / name
        if not page.exists():
            page.write_text(f"# {name}\n\n(written elsewhere)\n", encoding="utf-8")
    out = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(site_src / "mkdocs.yml"),
            "-d",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=site_src,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    api = (out / "api" / "index.html").read_text(encoding="utf-8")
    for name in (
        "TSNE",
        "TSNEEmbedding",
        "fit_subsample_and_extend",
        "write_embedding",
        "FrameRecorder",
        "scatter",
    ):
        assert name in api, f"the API page lacks {name}"
    assert (out / "index.html").is_file() and (out / "cli" / "index.html").is_file()
