"""Parametric shapes for synthetic moving entities (a shape at any centre, radius and angle).

Textures come from the synthetic COCO-panoptic generator
(:func:`entitysam.synthetic.coco.make_texture`), so held-out videos and training images
share one visual world.
"""

from __future__ import annotations

import numpy as np

def shape_mask(kind: str, h: int, w: int, center: tuple[float, float], radius: tuple[float, float],
               angle: float = 0.0, seed: int = 0) -> np.ndarray:
    """(h, w) bool mask of a shape: ``ellipse``, ``rectangle``, ``triangle`` or ``blob``.

    ``center`` (y, x) and ``radius`` (ry, rx) in pixels; the shape may extend past the frame.
    """
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dy, dx = yy - center[0], xx - center[1]
    c, s = np.cos(angle), np.sin(angle)
    u = (dx * c + dy * s) / max(radius[1], 1e-6)
    v = (-dx * s + dy * c) / max(radius[0], 1e-6)
    if kind == "ellipse":
        return u * u + v * v <= 1.0
    if kind == "rectangle":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    if kind == "triangle":
        return (v <= 1.0) & (v >= 2 * np.abs(u) - 1.0)
    if kind == "blob":
        rng = np.random.default_rng(seed)
        k = np.arange(1, 4)
        amp = rng.uniform(0.05, 0.2, size=3)
        phase = rng.uniform(0, 2 * np.pi, size=3)
        theta = np.arctan2(v, u)
        r = 1.0 + (amp[None, None, :] * np.cos(k[None, None, :] * theta[..., None] + phase)).sum(-1)
        return u * u + v * v <= r * r
    raise ValueError(f"unknown shape {kind!r}")


SHAPES = ("ellipse", "rectangle", "triangle", "blob")
