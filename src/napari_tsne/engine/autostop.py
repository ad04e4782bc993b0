"""Stopping rules of opt-SNE (Belkina et al. 2019, Nat Commun 10:5415): a phase that
ends when the KL divergence says it is done, within a maximum.

* **early exaggeration** ends when the relative rate of change of the KL divergence,
  ``(KL[t - s] - KL[t]) / KL[t - s] / s`` per iteration, has peaked: the clusters
  have formed and the exaggerated attraction has stopped paying off;
* **the optimisation** ends when the KL improves by less than ``KL / 12000`` per
  iteration, after at least :data:`MIN_OPTIMISATION_ITER` iterations. opt-SNE's
  ``KL / 5000`` stops too soon here: on scikit-learn's digits it ends after 350
  iterations at KL 0.760, 1.8% above the 250 + 500 schedule's 0.746; ``KL / 10000``
  ended after 440 at 0.756 (+1.2%), ``KL / 12000`` after 510 at 0.751 (+0.5%), and on
  Fashion-MNIST (PCA-50) after 800 (20,000 images) and 1,010 (70,000) iterations at
  KL 1.003x and 0.987x the 250 + 750 schedule's (docs/benchmarks.md "Quality").

The rate is measured over the last :data:`SPAN` iterations (one KL value every
:data:`CHECK_EVERY` iterations gives a smooth rate; a single chunk's change is noisy
with approximate gradients). The rules only read the KL that the optimiser computes
with the gradient of the last iteration of each chunk, so a job runs an automatic
phase in chunks of at most :data:`CHECK_EVERY` iterations and pays one KL (a log per
affinity, ~1/10 of an attractive pass) every 10 iterations.

A schedule value is an integer (a fixed number of iterations), ``"auto"`` (stop by
the rule, at most the default maximum) or ``"auto:N"`` (at most N iterations).
"""

from __future__ import annotations

import math
import numbers
from collections import deque

from ._validation import TSNEInputError

AUTO = "auto"
#: iterations between KL evaluations in an automatic phase (no live interval)
CHECK_EVERY = 10
#: iterations the rate of change is measured over
SPAN = 30
#: relative improvement per iteration below which the optimisation has converged
#: (opt-SNE's KL / 5000 is too loose; see the module docstring)
REL_TOLERANCE = 1.0 / 12000.0
#: the optimisation never stops by the rule before this many iterations (the first
#: iterations after early exaggeration, or after a change of exaggeration, expand the
#: map and are no sign of convergence)
MIN_OPTIMISATION_ITER = 100
#: early exaggeration never ends by the rule before this many iterations
MIN_EARLY_EXAGGERATION_ITER = 2 * SPAN
#: the maxima of "auto" without a bound: a safety net, never reached on the data sets
#: of docs/benchmarks.md (the rules stop well before)
AUTO_MAX = {"early_exaggeration_iter": 500, "n_iter": 2000}


def parse_schedule(value, name: str) -> tuple[int, bool]:
    """``(iterations, auto)`` of a schedule value: ``250`` -> ``(250, False)``,
    ``"auto"`` -> ``(AUTO_MAX[name], True)``, ``"auto:1000"`` -> ``(1000, True)``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO_MAX[name], True
        if text.startswith(AUTO + ":"):
            bound = text[len(AUTO) + 1 :]
            if bound.isdigit() and int(bound) > 0:
                return int(bound), True
        elif text.isdigit():
            return int(text), False
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value), False
    raise TSNEInputError(
        f"{name} must be a number of iterations >= 0, 'auto' (stop when converged, at "
        f"most {AUTO_MAX[name]}) or 'auto:N' (at most N); got {value!r}."
    )


class KLRate:
    """The relative decrease of the KL per iteration over the last :data:`SPAN`
    iterations (None until the values span that many iterations)."""

    def __init__(self, span: int = SPAN):
        self.span = int(span)
        self._points: deque[tuple[int, float]] = deque()

    def add(self, iteration: int, kl: float) -> float | None:
        if not math.isfinite(kl):
            return None
        pts = self._points
        pts.append((int(iteration), float(kl)))
        while len(pts) > 2 and pts[1][0] <= iteration - self.span:
            pts.popleft()
        it0, kl0 = pts[0]
        if iteration - it0 < self.span or kl0 <= 0:
            return None
        return (kl0 - kl) / kl0 / (iteration - it0)


class StoppingRule:
    """Base of the rules: ``update(kl, steps)`` after each chunk of ``steps``
    iterations, with the KL the optimiser computed; returns True when the phase is
    done. ``since`` counts the iterations since the phase began or the rule was reset."""

    min_iter = 0

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Start the test again (the objective changed, e.g. a new exaggeration)."""
        self._rate = KLRate()
        self.since = 0

    def update(self, kl: float, steps: int) -> bool:
        self.since += int(steps)
        rate = self._rate.add(self.since, kl)
        return rate is not None and self._decide(rate)

    def _decide(self, rate: float) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class PeakRule(StoppingRule):
    """Early exaggeration: stop once the (positive) rate has fallen below its peak."""

    min_iter = MIN_EARLY_EXAGGERATION_ITER

    def reset(self) -> None:
        super().reset()
        self.peak = 0.0

    def _decide(self, rate: float) -> bool:
        if rate > self.peak:
            self.peak = rate
            return False
        return self.peak > 0 and self.since >= self.min_iter


class ThresholdRule(StoppingRule):
    """The optimisation: stop when the KL improves by less than ``REL_TOLERANCE`` (KL / 12000)
    per iteration."""

    min_iter = MIN_OPTIMISATION_ITER

    def _decide(self, rate: float) -> bool:
        return self.since >= self.min_iter and rate < REL_TOLERANCE


def phase_report(emb) -> dict:
    """What the schedule did, for the stored parameters of a map: iterations run in
    early exaggeration and after it, and the phases that stopped by their rule."""
    done = dict(getattr(emb, "phase_iterations", {}) or {})
    converged = set(getattr(emb, "converged", ()) or ())
    return {
        "early_exaggeration_iter_run": int(done.get("early exaggeration", 0)),
        "n_iter_run": int(done.get("optimisation", 0)),
        "early_exaggeration_converged": "early exaggeration" in converged,
        "n_iter_converged": "optimisation" in converged,
    }
