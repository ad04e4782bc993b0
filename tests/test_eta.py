"""Time left of a run (napari_tsne.engine.eta): the recent speed per phase, the later
phase's dearer iterations, nothing before the speed is known; in the job's updates (the
widget shows them), and in the progress line of the command line and the notebook."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from napari_tsne.engine.eta import LATER_COST, TimeLeft, format_seconds
from napari_tsne.engine.job import LiveValues
from napari_tsne.plotting import ProgressPrinter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_time_left_from_the_recent_speed_of_the_phase():
    clock = Clock()
    eta = TimeLeft(span=10.0, min_seconds=2.0, clock=clock)
    assert math.isnan(eta.estimate(100))
    for done in range(0, 50, 10):  # 10 iterations a second
        eta.add(done)
        clock.now += 1.0
    # 4 s of history at 0.1 s an iteration
    assert eta.estimate(100) == pytest.approx(10.0)
    # early exaggeration: the optimisation's iterations cost LATER_COST times more
    assert eta.estimate(100, later=200) == pytest.approx(10.0 + 0.1 * LATER_COST * 200)
    # the speed follows the recent iterations (older ones leave the 10 s window)
    for done in range(50, 300, 5):  # now 5 a second
        eta.add(done)
        clock.now += 1.0
    assert eta.estimate(100) == pytest.approx(20.0)
    # a new phase: no estimate until it has run for min_seconds
    eta.restart()
    eta.add(300)
    clock.now += 1.0
    eta.add(310)
    assert math.isnan(eta.estimate(50))
    clock.now += 1.5
    eta.add(320)
    assert eta.estimate(50) == pytest.approx(50 * 2.5 / 20)


def test_format():
    assert format_seconds(float("nan")) == ""
    assert format_seconds(4.2) == "~4 s left"
    assert format_seconds(42) == "~40 s left"
    assert format_seconds(200) == "~3 min left"
    assert format_seconds(3900) == "~1 h 5 min left"


def test_job_updates_carry_the_time_left():
    from napari_tsne import TSNE

    X = np.random.default_rng(0).normal(size=(400, 10))
    tsne = TSNE(perplexity=10, n_iter=300, early_exaggeration_iter=100, random_state=0, n_jobs=1)
    job = tsne.job(X, live=LiveValues(update_interval=20))
    job._eta.min_seconds = 0.0  # a small map: every chunk counts
    updates = [u for u in job.steps(__import__("threading").Event()) if u.kind == "coords"]
    lefts = [u.seconds_left for u in updates]
    assert math.isnan(lefts[0])  # the initial layout: no speed yet
    finite = [x for x in lefts[1:-1] if math.isfinite(x)]
    assert len(finite) > 5 and all(x >= 0 for x in finite)
    assert lefts[-1] == 0.0  # nothing left at the end


def test_progress_line_says_the_time_left():
    clock = Clock()
    out = io.StringIO()
    p = ProgressPrinter(
        1000, stream=out, in_place=False, min_interval=0.0, early_exaggeration_iter=250
    )
    p._eta.clock = clock
    for it in range(0, 250, 50):  # early exaggeration at 0.01 s an iteration
        clock.now = it * 0.01
        p(it, 2.0)
    text = out.getvalue().splitlines()[-1]
    # 50 EE iterations left + 750 later ones at LATER_COST x
    want = format_seconds(0.01 * (50 + LATER_COST * 750))
    assert text.endswith(want), text
    for it in range(250, 1000, 50):  # the optimisation at 0.02 s an iteration
        clock.now = 2.5 + (it - 250) * 0.02
        p(it, 1.5)
    assert out.getvalue().splitlines()[-1].endswith(format_seconds(0.02 * 50))
    p(1000, 1.4)
    assert "left" not in out.getvalue().splitlines()[-1]


def test_a_rising_cost_goes_on_rising_in_the_estimate():
    """While each iteration gets dearer (a spreading map), the iterations left are
    costed at the newest speed plus the rise still to come, at most twice the newest
    speed; once the cost is flat the estimate is the plain recent speed."""
    clock = Clock()
    eta = TimeLeft(span=6.0, min_seconds=2.0, clock=clock)
    done = 0
    for k in range(8):  # 10 iterations per step, each step 0.1 s slower
        eta.add(done)
        done += 10
        clock.now += 1.0 + 0.1 * k
    newest = eta._halves()[1]
    flat = eta.seconds_per_iteration() * 100
    rising = eta.estimate(100)
    assert rising > newest * 100 > flat
    assert eta.estimate(10_000) == pytest.approx(2 * newest * 10_000)  # the cap
    for _ in range(12):  # the cost stops rising
        eta.add(done)
        done += 10
        clock.now += 2.0
    assert eta.estimate(100) == pytest.approx(20.0)
