"""Check the live jupyter-scatter map in a real browser and take the docs' screenshots.

A notebook (digits, ``LiveMap`` coloured by the digit, a button that runs
``tl.tsne`` with the map as callback, the lasso written into ``adata.obs``) is served
by Voilà; headless Chromium (Debian's ``chromium``, driven by playwright) presses the
button, photographs the map while it forms, lassoes a cluster and waits for the kernel
to report the new obs column. Needs ``pip install voila playwright`` and
``apt-get install chromium``::

    python scripts/browser_check_live_map.py docs/images
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOK = """
import anndata, ipywidgets, numpy as np, pandas as pd
from sklearn.datasets import load_digits
import napari_tsne
from napari_tsne.jupyter import LiveMap

X, y = load_digits(return_X_y=True)
adata = anndata.AnnData(
    X=X.astype(np.float32),
    obs=pd.DataFrame({"digit": pd.Categorical(y.astype(str))},
                     index=[f"d{i}" for i in range(len(y))]),
)
napari_tsne.tl.tsne(adata[:50].copy(), use_rep="X", n_iter=10, early_exaggeration_iter=10)
live = LiveMap(adata, color="digit", height=520)
button = ipywidgets.Button(description="run t-SNE")
done = ipywidgets.HTML("")

def run(_):
    napari_tsne.tl.tsne(adata, use_rep="X", callbacks=live, callback_every=10, n_jobs=1)
    live.flush()
    done.value = f"{live.n_drawn} updates drawn, {live.n_skipped} skipped"

def lasso_to_obs(_):
    live.selection_to_obs(adata, "lasso", overwrite=True)
    counts = adata.obs.loc[adata.obs["lasso"], "digit"].value_counts()
    done.value = "adata.obs['lasso'] holds " + ", ".join(
        f"{v} of digit {k}" for k, v in counts.items() if v)

button.on_click(run)
live.scatter.widget.observe(lasso_to_obs, names="selection")
ipywidgets.VBox([button, live.widget, done])
"""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",  # WebGL without a GPU
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-dev-shm-usage",
]
#: where the "4" cluster lies in the finished map at this window size (found by eye)
LASSO = (560.0, 370.0, 50.0)


def drive(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 820, "height": 640})
        page.on("crash", lambda *a: sys.exit("the browser's page crashed"))
        page.goto(url, timeout=300_000)
        page.wait_for_selector("text=run t-SNE", timeout=300_000)
        time.sleep(2)
        page.click("text=run t-SNE")
        forming = False
        t0 = time.time()
        while not page.locator("text=updates drawn").count():
            status = page.locator("text=/t-SNE: /").first.inner_text(timeout=5000)
            if not forming and any(f"iteration {k}," in status for k in range(180, 250, 10)):
                page.screenshot(path=str(out / "jupyter_live_map_forming.png"))
                forming = True
                print("forming:", status)
            if time.time() - t0 > 300:
                sys.exit("the run did not finish in the browser")
            time.sleep(0.3)
        print(page.locator("text=updates drawn").first.inner_text())
        time.sleep(2)
        page.mouse.click(33, 132)  # the lasso tool of the widget's toolbar
        cx, cy, r = LASSO
        page.mouse.move(cx + r, cy)
        page.mouse.down()
        for k in range(1, 41):
            a = 2 * math.pi * k / 40
            page.mouse.move(cx + r * math.cos(a), cy + r * math.sin(a), steps=2)
            time.sleep(0.02)
        page.mouse.up()
        page.wait_for_selector("text=holds", timeout=20_000)  # written by the kernel
        time.sleep(2)
        print(page.locator("text=/selected/").first.inner_text())
        print(page.locator("text=holds").first.inner_text())
        page.screenshot(path=str(out / "jupyter_live_map_lasso.png"))
        browser.close()


def main(out: str = "docs/images", port: int = 8871) -> None:
    import nbformat

    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK.strip())])
        path = Path(tmp) / "live_map.ipynb"
        nbformat.write(nb, path)
        env = dict(os.environ, NUMBA_NUM_THREADS="1")
        cmd = ["voila", str(path), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
        log = open(Path(tmp) / "voila.log", "w")  # noqa: SIM115 (closed below)
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(8)
            drive(f"http://127.0.0.1:{port}/", out_dir)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    main(*sys.argv[1:2])
