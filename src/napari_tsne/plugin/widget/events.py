"""Disconnecting the widget's slots from napari's events when the dock closes."""

from __future__ import annotations

from collections.abc import Iterable


def disconnect_all(pairs: Iterable[tuple]) -> None:
    """``emitter.disconnect(slot)`` for each ``(emitter, slot)``; slots that were never
    connected, or already disconnected, are skipped."""
    for emitter, slot in pairs:
        try:
            emitter.disconnect(slot)
        except Exception:  # pragma: no cover - already disconnected
            pass
