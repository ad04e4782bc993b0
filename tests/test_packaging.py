"""Project-level promises: the README's test command is what CI runs, the engine never
pulls in Qt, and every numba kernel releases the GIL and is cached."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_ci_runs_the_readme_test_command():
    main_cmd, test_cmd = readme_commands()[:2]
    assert "napari-tsne demo" in main_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_import_does_not_load_qt_or_napari():
    code = (
        "import sys, napari_tsne, napari_tsne.engine, napari_tsne.io;"
        "bad=[m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5','PyQt6','PySide2','PySide6','qtpy','napari','vispy','magicgui')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _numba_decorators():
    for path in (ROOT / "src").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for dec in node.decorator_list:
                    target = dec.func if isinstance(dec, ast.Call) else dec
                    name = ast.unparse(target)
                    if name.split(".")[-1] in ("njit", "jit", "vectorize", "guvectorize"):
                        yield path, node.name, dec


def test_every_numba_kernel_is_nogil_and_cached():
    found = list(_numba_decorators())
    assert len(found) > 5
    for path, name, dec in found:
        assert isinstance(dec, ast.Call), f"{path.name}:{name} uses a bare decorator"
        kw = {k.arg: ast.unparse(k.value) for k in dec.keywords}
        assert kw.get("nogil") == "True", f"{path.name}:{name} lacks nogil=True"
        assert kw.get("cache") == "True", f"{path.name}:{name} lacks cache=True"


def test_engine_does_not_import_gui_modules():
    for path in (ROOT / "src" / "napari_tsne" / "engine").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(napari|qtpy|PyQt|magicgui)", text, re.M), path


def test_npy_embed_imports_no_anndata_pandas_or_matplotlib(tmp_path):
    """Start-up is user time: an array-to-array run needs none of the table or plot
    libraries (anndata + pandas alone cost about a second here)."""
    import numpy as np

    X = np.random.default_rng(0).normal(size=(60, 5))
    np.save(tmp_path / "x.npy", X)
    code = (
        "import sys; from napari_tsne.cli import main;"
        f"rc = main(['embed', {str(tmp_path / 'x.npy')!r}, '-o', {str(tmp_path / 'y.npy')!r},"
        "'--n-iter', '5', '--early-exaggeration-iter', '5', '-q']);"
        "loaded = {m.split('.')[0] for m in sys.modules};"
        "bad = sorted(loaded & {'anndata', 'pandas', 'matplotlib'});"
        "print(bad); sys.exit(rc or (1 if bad else 0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert np.load(tmp_path / "y.npy").shape == (60, 2)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "src").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project's modules *path* imports, at module level or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in modules:  # `from .io import x`: the module io (its __init__)
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def test_no_import_circles():
    """One direction between modules: no module imports, even inside a function, a
    module that imports it back (directly or through others)."""
    paths = list((ROOT / "src" / "napari_tsne").rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports_of(p, modules) for p in paths}
    # a package's __init__ importing its own submodules is how packages are built
    for mod, deps in graph.items():
        graph[mod] = {d for d in deps if not d.startswith(mod + ".")}
    circles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            mod, trail = stack.pop()
            for dep in graph.get(mod, ()):
                if dep == start:
                    circles.append(" -> ".join([*trail, start]))
                elif dep not in seen:
                    seen.add(dep)
                    stack.append((dep, [*trail, dep]))
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles)))


def test_napari_and_qt_only_in_the_plugin_folder():
    """The napari layer is one folder (``plugin/``); the engine, io, tl, cli and the
    notebook code never import napari, Qt or magicgui."""
    src = ROOT / "src" / "napari_tsne"
    for path in src.rglob("*.py"):
        if "plugin" in path.relative_to(src).parts:
            continue
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(napari|qtpy|PyQt\d|magicgui)\b", text, re.M), (
            path
        )
