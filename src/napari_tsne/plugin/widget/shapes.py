"""Which map points lie inside a shape drawn on the map (a lasso, polygon, rectangle or
ellipse of napari's Shapes layer). Qt-free."""

from __future__ import annotations

import numpy as np

from .groups import SelectionError


def points_in_polygon(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Mask of the 2-D *points* inside the closed polygon *vertices* (even-odd rule)."""
    from matplotlib.path import Path

    points = np.asarray(points, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64)
    if len(vertices) < 3 or len(points) == 0:
        return np.zeros(len(points), dtype=bool)
    return Path(vertices, closed=False).contains_points(points)


def points_in_ellipse(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Mask of the points inside the ellipse inscribed in the (possibly rotated)
    rectangle *corners* (napari's ellipse data: four corners, in order)."""
    points = np.asarray(points, dtype=np.float64)
    c = np.asarray(corners, dtype=np.float64)
    centre = c.mean(axis=0)
    axes = np.stack([(c[1] - c[0]) / 2.0, (c[3] - c[0]) / 2.0], axis=1)  # columns u, v
    if abs(np.linalg.det(axes)) < 1e-300:
        return np.zeros(len(points), dtype=bool)
    st = np.linalg.solve(axes, (points - centre).T)  # (s, t) with p = centre + s u + t v
    return (st**2).sum(axis=0) <= 1.0


def points_in_shape(points: np.ndarray, vertices: np.ndarray, shape_type: str) -> np.ndarray:
    """Mask of the *points* inside one napari shape; lines and paths enclose nothing."""
    if shape_type == "ellipse":
        return points_in_ellipse(points, vertices)
    if shape_type in ("polygon", "rectangle"):
        return points_in_polygon(points, vertices)
    raise SelectionError(
        f"A {shape_type} encloses no points: draw a lasso, polygon, rectangle or ellipse."
    )
