"""How long a run still takes: the iterations left at the speed of the recent ones,
and at the pace that speed is changing.

An iteration's cost changes during a map: while early exaggeration holds the points
together the FFT grid is small; afterwards the map spreads and each iteration costs
more, for hundreds of iterations (measured per iteration, 2 threads, Fashion-MNIST
PCA-50: 6,000 points 3.4 ms in early exaggeration, 5.5 ms after it; 20,000 points 7.5
ms, rising to 24 ms between iterations 300 and 550; 70,000 points 23 ms, rising from
25 to 50 ms over the whole optimisation). So:

* the speed is measured per phase (restarted when a phase starts) over the last
  ``span`` seconds only (a longer window averages in the cheaper iterations of a
  spreading map: with 30 s the estimate was 0.49-0.82x the time that was really left
  at 20,000 and 70,000 points);
* while the cost is rising, the rise goes on at its recent pace (from the older and
  the newer half of the window), capped at twice the recent cost on average: the map
  stops spreading at some point. Replayed on the runs above, the estimate at 10% ...
  90% of the run is 0.78-1.33x the time really left (without the trend: 0.49-1.03x);
* while early exaggeration runs the optimisation's iterations still to come are costed
  at :data:`LATER_COST` times its own (1.6x, 3.2x and 2.0x in the runs above).

Until a phase has run for ``min_seconds`` there is no estimate (NaN): a number from a
second of a fresh phase, or from a first chunk still compiling, would mislead more than
none.
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

    def __init__(self, span: float = 6.0, min_seconds: float = 2.0, clock=time.perf_counter):
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

    def _halves(self) -> tuple[float, float, float] | None:
        """Seconds per iteration in the older and the newer half of the window, and
        the iterations between their middles (None: too little is known)."""
        samples = self._samples
        if len(samples) < 4:
            return None
        (t0, d0), (t1, d1), (t2, d2) = samples[0], samples[len(samples) // 2], samples[-1]
        if d1 <= d0 or d2 <= d1:
            return None
        return (t1 - t0) / (d1 - d0), (t2 - t1) / (d2 - d1), (d2 - d0) / 2.0

    def estimate(self, left: int, later: int = 0) -> float:
        """Seconds for *left* iterations of the current phase and *later* iterations of
        the optimisation after early exaggeration (0 when this is the optimisation)."""
        per = self.seconds_per_iteration()
        left, later = max(left, 0), max(later, 0)
        halves = self._halves()
        if later or not math.isfinite(per) or halves is None:
            return per * (left + LATER_COST * later)
        older, newer, apart = halves
        if newer <= older:
            return per * left
        # rising: the newest speed, plus half the rise still to come (the mean over
        # the iterations left), at most the newest speed again
        growth = min((newer - older) / apart * left / 2.0, newer)
        return (newer + growth) * left


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
