"""The job (engine/job.py): one run schedule for the estimator, the command line, the
headless demo and the widget; stop, continue and live values between chunks."""

import ast
import threading
from pathlib import Path

import numpy as np
import pytest

import napari_tsne.engine.job as job_module
from napari_tsne import TSNE, TSNEInputError
from napari_tsne.engine.job import (
    FULL_EARLY_EXAGGERATION_ITER,
    LiveValues,
    TSNEJob,
    Update,
    plan_phases,
)

ENGINE = Path(job_module.__file__).parent


@pytest.fixture(scope="module")
def X():
    from sklearn.datasets import load_digits

    return load_digits().data[:300]


FAST = dict(random_state=0, n_jobs=1, negative_gradient_method="exact", perplexity=10)


def drain(gen):
    """All updates of a ``steps`` generator and its Result."""
    updates = []
    while True:
        try:
            updates.append(next(gen))
        except StopIteration as end:
            return updates, end.value


def test_plan_is_early_exaggeration_then_optimisation():
    params = TSNE(early_exaggeration_iter=30, n_iter=40, early_exaggeration=8).get_params()
    ee, opt = plan_phases(params)
    assert (ee.name, ee.remaining, ee.exaggeration, ee.momentum) == (
        "early exaggeration",
        30,
        8.0,
        0.5,
    )
    assert (opt.name, opt.remaining, opt.exaggeration, opt.momentum) == (
        "optimisation",
        40,
        None,  # the live value
        0.8,
    )
    assert [p.name for p in plan_phases({**params, "early_exaggeration_iter": 0})] == [
        "optimisation"
    ]


def test_live_chunks_give_the_estimators_map(X):
    """The widget's way (chunks of the live interval) and fit (whole phases) run the
    same plan: the same coordinates, bit for bit."""
    tsne = TSNE(early_exaggeration_iter=25, n_iter=30, **FAST)
    fitted = tsne.fit(X)
    job = tsne.job(X, live=LiveValues(exaggeration=1.0, update_interval=7))
    updates, result = drain(job.steps())
    coords = [u for u in updates if u.kind == "coords"]
    assert not result.stopped and result.iterations == 55
    # initialisation, then ceil(25 / 7) + ceil(30 / 7) chunks
    assert [u.iteration for u in coords] == [0, 7, 14, 21, 25, 32, 39, 46, 53, 55]
    assert coords[-1].done == coords[-1].total == 55
    np.testing.assert_array_equal(job.emb.coordinates, fitted.embedding_)
    assert job.emb.kl_divergence == fitted.kl_divergence_


def test_stop_between_chunks_then_continue_equals_one_run(X):
    tsne = TSNE(early_exaggeration_iter=20, n_iter=20, **FAST)
    whole = tsne.fit(X).embedding_
    job = tsne.job(X, live=LiveValues(exaggeration=1.0, update_interval=5))
    stop = threading.Event()
    gen = job.steps(stop)
    seen = 0
    for update in gen:
        if update.kind == "coords" and update.iteration >= 15:
            stop.set()
            seen = update.iteration
    assert job.stopped and job.emb.n_iter == seen == 15
    assert job.planned() == 25
    updates, result = drain(job.steps())  # Continue: the rest of the plan
    assert not result.stopped and result.iterations == 25
    np.testing.assert_array_equal(job.emb.coordinates, whole)


def test_optimisation_phase_starts_with_a_fresh_optimiser(X):
    """Early exaggeration -> optimisation resets the gains and the velocity (as
    scikit-learn's two phases do); Continue with more of the same phase does not."""
    from napari_tsne.engine.optimizer import OptimizerState

    tsne = TSNE(early_exaggeration_iter=20, n_iter=30, **FAST)
    fitted = tsne.fit(X).embedding_
    by_hand = tsne.prepare(X)
    by_hand.optimize(20, exaggeration=12.0, momentum=0.5)
    by_hand.state = OptimizerState.fresh(by_hand.coordinates.shape)
    by_hand.optimize(30, exaggeration=1.0, momentum=0.8)
    np.testing.assert_array_equal(by_hand.coordinates, fitted)
    carried = tsne.prepare(X)  # without the reset the map differs
    carried.optimize(20, exaggeration=12.0, momentum=0.5)
    carried.optimize(30, exaggeration=1.0, momentum=0.8)
    assert not np.array_equal(carried.coordinates, fitted)
    # Continue after the run: more optimisation iterations keep the state
    job = tsne.job(X, live=LiveValues(exaggeration=1.0, update_interval=None))
    drain(job.steps())
    gains = job.emb.state.gains.copy()
    assert not np.all(gains == 1.0)
    job.more(10)
    drain(job.steps())
    longer = tsne.prepare(X)
    longer.optimize(20, exaggeration=12.0, momentum=0.5)
    longer.state = OptimizerState.fresh(longer.coordinates.shape)
    longer.optimize(40, exaggeration=1.0, momentum=0.8)
    np.testing.assert_array_equal(job.emb.coordinates, longer.coordinates)


def test_live_exaggeration_is_read_between_chunks(X):
    live = LiveValues(exaggeration=1.0, update_interval=10)
    job = TSNE(early_exaggeration_iter=10, n_iter=30, **FAST).job(X, live=live)
    exaggerations = []
    for update in job.steps():
        if update.kind == "coords" and update.phase == "optimisation":
            exaggerations.append(update.exaggeration)
            live.set(exaggeration=4.0)
    assert exaggerations == [1.0, 4.0, 4.0]
    job.more(10)  # Continue plans more at the live value
    assert [p.remaining for p in job.plan] == [10]


def test_subsample_and_extend_stages_and_the_full_early_phase(X):
    live = LiveValues(exaggeration=1.0, update_interval=50)
    job = TSNE(subsample=100, early_exaggeration_iter=200, n_iter=60, **FAST).job(X, live=live)
    assert job.planned() == 200 + 60 + FULL_EARLY_EXAGGERATION_ITER + 60
    updates, result = drain(job.steps())
    coords = [u for u in updates if u.kind == "coords"]
    sample_rows = [u.rows for u in coords if u.rows is not None]
    assert sample_rows and all(len(r) == 100 for r in sample_rows)
    assert coords[-1].rows is None and coords[-1].coords.shape == (300, 2)
    assert any("placing the other 200 samples" in u.text for u in updates)
    assert job.emb.n_iter == FULL_EARLY_EXAGGERATION_ITER + 60
    assert result.iterations == job.total_iterations == 200 + 60 + 125 + 60
    assert job.result_params()["subsample"] == 100


def test_estimator_fit_and_run_phases_drive_the_job(X, monkeypatch):
    calls = []
    original = TSNEJob.steps

    def spy(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TSNEJob, "steps", spy)
    tsne = TSNE(early_exaggeration_iter=5, n_iter=5, **FAST)
    tsne.fit(X)
    tsne.run_phases(tsne.prepare(X))
    TSNE(subsample=100, early_exaggeration_iter=5, n_iter=5, **FAST).fit(X)
    assert len(calls) == 3


def test_first_large_map_says_the_neighbour_search_compiles(monkeypatch):
    """pynndescent compiles its search in every new process (~45 s): the first map
    that uses it says so in its stage text instead of sitting still."""

    def first_stage(n, compiled, **params):
        monkeypatch.setattr(job_module, "pynndescent_compiled", lambda: compiled)
        data = np.random.default_rng(0).normal(size=(n, 3))
        steps = TSNE(random_state=0, **params).job(data, live=LiveValues()).steps()
        texts = []
        for update in steps:  # the stage texts come before any computation
            texts.append(update.text)
            if "nearest neighbours" in update.text:
                break
        steps.close()
        return texts[-1]

    man = {"metric": "manhattan"}  # faiss does not search it: pynndescent from 5,000 on
    assert "compiling the search" in first_stage(5000, compiled=False, **man)
    assert "compiling the search" not in first_stage(5000, compiled=True, **man)
    assert "compiling the search" not in first_stage(4999, compiled=False, **man)  # exact
    assert "compiling the search" in first_stage(100, compiled=False, neighbors="pynndescent")
    # dense euclidean data of any size: faiss, nothing to compile
    assert "compiling the search" not in first_stage(5000, compiled=False)


def test_update_is_a_copy(X):
    job = TSNE(early_exaggeration_iter=5, n_iter=5, **FAST).job(X, live=LiveValues())
    first = next(u for u in job.steps() if isinstance(u, Update) and u.kind == "coords")
    assert first.coords is not job.emb.coordinates


def _engine_imports() -> dict[str, set[str]]:
    """Engine module -> engine modules it imports (at module level or in functions)."""
    graph = {}
    for path in ENGINE.rglob("*.py"):
        rel = path.relative_to(ENGINE).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__").removesuffix("__init__") or "__init__"
        package = rel.parts[:-1]  # the package that holds the module
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(package[: len(package) - node.level + 1])
                if node.module:
                    base += node.module.split(".")
                target = ".".join(base)
                if (ENGINE.joinpath(*base).with_suffix(".py")).exists() or ENGINE.joinpath(
                    *base
                ).is_dir():
                    deps.add(target or "__init__")
                for alias in node.names:  # `from . import optimizer`
                    sub = ".".join([*base, alias.name])
                    if ENGINE.joinpath(*base, alias.name).with_suffix(".py").exists():
                        deps.add(sub)
        graph[name] = deps - {name}
    return graph


def test_engine_has_no_import_circle():
    graph = _engine_imports()
    assert "job" in graph and "estimator" in graph["__init__"]
    # packages import their own modules: only circles between modules count
    graph = {k: {d for d in v if d not in ("__init__", "gradients")} for k, v in graph.items()}
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                raise AssertionError(f"import circle: {' -> '.join([*path, dep])}")
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_add_samples_places_new_points_and_leaves_the_map(X):
    job = TSNE(early_exaggeration_iter=20, n_iter=20, **FAST).job(X[:250])
    with pytest.raises(TSNEInputError, match="no finished map"):
        job.add_samples(X[250:])
    emb = job.run()
    before = emb.coordinates.copy()
    Y = job.add_samples(X[250:], n_iter=20)
    assert Y.shape == (50, 2) and np.isfinite(Y).all() and job.n_added == 50
    np.testing.assert_array_equal(emb.coordinates, before)


def test_verbose_placement_shows_the_mean_kl_of_the_placed_points(X, capsys):
    """Placing points reports the sum of their own KL divergences; the verbose line of
    that phase shows the mean per placed point (a sum over 200 points read as a KL
    divergence hundreds of times too large), the other phases the map's KL."""
    TSNE(
        subsample=100, early_exaggeration_iter=10, n_iter=10, verbose=True,
        callback_every=5, **FAST,
    ).fit(X)  # fmt: skip
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "iteration" in ln]
    placed = [ln for ln in lines if "mean KL divergence of the placed points" in ln]
    plain = [ln for ln in lines if ln.split()[-2:-1] == ["divergence"]]
    assert placed and plain
    assert all(float(ln.split()[-1]) < 10 for ln in placed + plain)
