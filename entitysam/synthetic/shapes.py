"""Procedural textures and shapes for synthetic entities.

Every entity gets a texture that is distinguishable by colour and pattern (stripes,
checkers, dots, smooth noise, gradients); textures are rendered in the entity's own
coordinates so they move with it. Deterministic: a texture is fully described by a
:class:`TextureSpec` drawn from a NumPy ``Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

KINDS = ("stripes", "checker", "dots", "noise", "gradient")


@dataclass(frozen=True)
class TextureSpec:
    kind: str
    color_a: tuple[int, int, int]
    color_b: tuple[int, int, int]
    period: float  # pixels
    angle: float  # radians
    seed: int  # for the noise texture


def random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated colour (random hue, high saturation and value) so entities differ clearly."""
    h = rng.uniform(0, 1)
    s = rng.uniform(0.55, 1.0)
    v = rng.uniform(0.45, 1.0)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (int(r * 255), int(g * 255), int(b * 255))


def random_texture(rng: np.random.Generator) -> TextureSpec:
    a = random_color(rng)
    b = random_color(rng)
    return TextureSpec(
        kind=str(rng.choice(KINDS)),
        color_a=a,
        color_b=b,
        period=float(rng.uniform(6, 24)),
        angle=float(rng.uniform(0, np.pi)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def render_texture(spec: TextureSpec, h: int, w: int, origin: tuple[float, float] = (0.0, 0.0),
                   scale: float = 1.0) -> np.ndarray:
    """(h, w, 3) uint8 texture; ``origin`` (y, x) and ``scale`` move it with its entity."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy = (yy - origin[0]) / scale
    xx = (xx - origin[1]) / scale
    u = xx * np.cos(spec.angle) + yy * np.sin(spec.angle)
    v = -xx * np.sin(spec.angle) + yy * np.cos(spec.angle)
    P = spec.period
    if spec.kind == "stripes":
        t = (np.floor(u / P) % 2).astype(np.float64)
    elif spec.kind == "checker":
        t = ((np.floor(u / P) + np.floor(v / P)) % 2).astype(np.float64)
    elif spec.kind == "dots":
        du = (u % P) - P / 2
        dv = (v % P) - P / 2
        t = (du * du + dv * dv < (P / 3) ** 2).astype(np.float64)
    elif spec.kind == "noise":
        # smooth value noise sampled in texture coordinates (moves with the entity)
        rng = np.random.default_rng(spec.seed)
        grid = rng.random((64, 64))
        gy = (v / P) % 64
        gx = (u / P) % 64
        t = ndimage.map_coordinates(grid, [gy, gx], order=1, mode="wrap")
    else:  # gradient
        t = (np.sin(u / (2 * P)) + 1) / 2
    a = np.array(spec.color_a, dtype=np.float64)
    b = np.array(spec.color_b, dtype=np.float64)
    img = a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


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
