"""How long a run still takes: the iterations left at the speed of the recent ones.

An iteration's cost changes during a map: while early exaggeration holds the points
together the FFT grid is small; afterwards the map spreads and each iteration costs
more (measured with the FFT gradient: 20 vs 36 ms at 20,000 Fashion-MNIST images, 23 vs
46 ms at 70,000). So the speed is measured per phase (restarted when a phase starts),
and while early exaggeration runs the optimisation's iterations still to come are
costed at :data:`LATER_COST` times its own. Until a phase has run for
``min_seconds`` there is no estimate (NaN): a number from a second of a fresh phase,
or from a first chunk still compiling, would mislead more than none.
"""

from __future__ import annotations

import math
import time
from collections import deque

__all__ = ["LATER_COST", "TimeLeft", "format_seconds"]

#: cost of an iteration after early exaggeration, in iterations of it (measured, above)
LATER_COST = 1.9


class TimeLeft:
    """Seconds left of a run, from the recent speed (see the module docstring)."""

    def __init__(self, span: float = 30.0, min_seconds: float = 2.0, clock=time.perf_counter):
        self.span = float(span)
        self.min_seconds = float(min_seconds)
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def restart(self) -> None:
        """A new phase: its speed is measured afresh."""
        self._samples.clear()

    def add(self, done: int) -> None:
        """*done* iterations in all so far (a running count), now."""
        now = self.clock()
        self._samples.append((now, int(done)))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.span:
            self._samples.popleft()

    def seconds_per_iteration(self) -> float:
        if len(self._samples) < 2:
            return math.nan
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.min_seconds or d1 <= d0:
            return math.nan
        return (t1 - t0) / (d1 - d0)

    def estimate(self, left: int, later: int = 0) -> float:
        """Seconds for *left* iterations of the current phase and *later* iterations of
        the optimisation after early exaggeration (0 when this is the optimisation)."""
        per = self.seconds_per_iteration()
        return per * (max(left, 0) + LATER_COST * max(later, 0))


def format_seconds(seconds: float) -> str:
    """``"~40 s left"``, ``"~3 min left"``, ``"~1 h 5 min left"``; ``""`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 60:
        return f"~{max(1, round(seconds / 5) * 5 if seconds >= 10 else round(seconds))} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"~{minutes} min left"
    return f"~{minutes // 60} h {minutes % 60} min left"
