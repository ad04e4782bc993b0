"""Telling a click from a drag in napari's mouse-drag callbacks: a click selects (a map
point, an object of the source), a drag pans as usual."""

from __future__ import annotations

import numpy as np


def modifier_names(event) -> set[str]:
    return {getattr(m, "name", str(m)) for m in getattr(event, "modifiers", ())}


def is_left_button(event) -> bool:
    return getattr(event, "button", 1) in (None, 1)


#: canvas pixels the mouse may move between press and release of a click
CLICK_TOLERANCE = 4


def wait_for_click(event):
    """napari drag-callback helper: yields until the button is released; a move of more
    than ``CLICK_TOLERANCE`` pixels makes it a drag (the event type is then a move)."""
    start = np.asarray(event.pos, dtype=float)
    yield
    while event.type == "mouse_move":
        if np.abs(np.asarray(event.pos, dtype=float) - start).max() > CLICK_TOLERANCE:
            return
        yield
