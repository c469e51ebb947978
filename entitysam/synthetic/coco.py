"""Synthetic COCO-panoptic data: deterministic-by-seed scenes in the exact COCO-panoptic layout.

Each image is a partition of the canvas into textured background regions (stuff, a noisy
Voronoi split) with textured shapes on top (things: ellipses, polygons, smooth blobs),
drawn in order so later shapes occlude earlier ones. Every entity gets its own texture
family and colour pair so entities are visually distinguishable (for "does it learn"
experiments). Optionally one image region is a crowd (a cluster of small dots sharing one
``iscrowd = 1`` segment), a void band (id 0), and trailing images with no segments at all.

Written layout (same as ``datasets/coco``, spec training.md §4)::

    <out>/<split>/<name>.jpg
    <out>/panoptic_<split>/<name>.png            id = R + 256 G + 65536 B
    <out>/annotations/panoptic_<split>.json

From the command line: ``entitysam synthetic coco OUT --num-images 16 --size 256 --seed 0``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from entitysam.errors import EntitySAMError
from entitysam.io.atomic import atomic_dir
from entitysam.io.ids import id2rgb

# Categories of the synthetic set: things first (ids 1…3), then stuff (ids 4…7), COCO-like.
THING_SHAPES = ("ellipse", "polygon", "blob")
STUFF_TEXTURES = ("stripes", "checker", "noise", "waves")
CATEGORIES = [
    {"id": k + 1, "name": name, "supercategory": "shape", "isthing": 1}
    for k, name in enumerate(THING_SHAPES)
] + [
    {"id": len(THING_SHAPES) + k + 1, "name": f"{name}-ground", "supercategory": "ground", "isthing": 0}
    for k, name in enumerate(STUFF_TEXTURES)
]
CROWD_CATEGORY_ID = 2  # crowds are groups of things (as in COCO): here a cluster of small polygons
THING_CATEGORY = {name: k + 1 for k, name in enumerate(THING_SHAPES)}
STUFF_CATEGORY = {name: len(THING_SHAPES) + k + 1 for k, name in enumerate(STUFF_TEXTURES)}


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic set (all images share them; each image has its own RNG).

    ``height`` x ``width`` image size; ``stuff_per_image`` / ``things_per_image`` inclusive
    (min, max) counts; ``crowd_prob`` probability that an image gets a crowd segment;
    ``void_prob`` probability of an unlabelled band (id 0); the last ``num_empty_images``
    images have no segments at all (all void).
    """

    num_images: int = 8
    height: int = 256
    width: int = 256
    stuff_per_image: tuple[int, int] = (1, 3)
    things_per_image: tuple[int, int] = (2, 5)
    crowd_prob: float = 0.5
    void_prob: float = 0.25
    num_empty_images: int = 0
    seed: int = 0
    split: str = "train2017"

    def validate(self) -> None:
        if self.num_images < 1:
            raise EntitySAMError(f"num_images must be >= 1, got {self.num_images}")
        if self.height < 16 or self.width < 16:
            raise EntitySAMError(f"image size must be at least 16x16, got {self.width}x{self.height}")
        for name in ("stuff_per_image", "things_per_image"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise EntitySAMError(f"{name} must be (min, max) with 0 <= min <= max, got {(lo, hi)}")
        if not 0 <= self.num_empty_images <= self.num_images:
            raise EntitySAMError(
                f"num_empty_images must be in [0, num_images={self.num_images}], got {self.num_empty_images}"
            )


# --------------------------------------------------------------------------- textures

PALETTE_MIN_DISTANCE = 120.0  # L1 (sum over RGB) between the colour pairs of two entities


def _pair_distance(p: tuple[np.ndarray, np.ndarray], q: tuple[np.ndarray, np.ndarray]) -> float:
    """L1 distance between two unordered colour pairs."""
    return float(min(np.abs(p[0] - q[0]).sum() + np.abs(p[1] - q[1]).sum(),
                     np.abs(p[0] - q[1]).sum() + np.abs(p[1] - q[0]).sum()))


def _palette(
    rng: np.random.Generator, used: Sequence[tuple[np.ndarray, np.ndarray]] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Two clearly different RGB colours (float, 0…255), away from the pairs in ``used``.

    Contrast within the pair makes the texture visible; distance to the other entities'
    pairs makes neighbouring entities distinguishable by colour (up to 1000 draws).
    """
    for _ in range(1000):
        pair = tuple(rng.uniform(0, 255, size=(2, 3)))
        if np.abs(pair[0] - pair[1]).sum() > 180 and all(
            _pair_distance(pair, q) >= PALETTE_MIN_DISTANCE for q in used
        ):
            break
    return pair  # type: ignore[return-value]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(h, w) float in [0, 1]: bilinearly upsampled random grid (value noise)."""
    grid = rng.uniform(0, 1, size=(cells + 1, cells + 1)).astype(np.float32)
    img = Image.fromarray(grid).resize((w, h), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32).clip(0, 1)


def make_texture(
    rng: np.random.Generator, family: str, h: int, w: int, used: list | None = None
) -> np.ndarray:
    """Full-canvas texture (h, w, 3) float32 in [0, 255] of one family with random parameters.

    Families: stripes (angle, period), checker (cell, angle), dots (grid of discs), noise
    (value noise), waves (radial sine). Parameters vary per entity so equal families differ.
    ``used``: colour pairs of the image's other entities; the new pair is appended.
    """
    c0, c1 = _palette(rng, used or ())
    if used is not None:
        used.append((c0, c1))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    period = rng.uniform(6, 24) * max(h, w) / 256
    if family == "stripes":
        t = (np.sin(2 * np.pi * u / period) > 0).astype(np.float32)
    elif family == "checker":
        t = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    elif family == "dots":
        fu, fv = (u / period) % 1 - 0.5, (v / period) % 1 - 0.5
        t = (fu**2 + fv**2 < 0.09).astype(np.float32)
    elif family == "noise":
        t = _smooth_noise(rng, h, w, cells=int(rng.integers(4, 12)))
    elif family == "waves":
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * np.hypot(x - cx, y - cy) / period)
    else:
        raise ValueError(f"unknown texture family {family!r}")
    return (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)


THING_TEXTURES = ("stripes", "checker", "dots", "noise", "waves")


# --------------------------------------------------------------------------- shapes


def _ellipse(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    a, b = rng.uniform(0.08, 0.3) * w, rng.uniform(0.08, 0.3) * h
    t = rng.uniform(0, np.pi)
    u = (x - cx) * np.cos(t) + (y - cy) * np.sin(t)
    v = -(x - cx) * np.sin(t) + (y - cy) * np.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def _polygon_mask(h: int, w: int, points: Sequence[tuple[float, float]]) -> np.ndarray:
    img = Image.new("1", (w, h), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in points], fill=1)
    return np.asarray(img, dtype=bool)


def _star_polygon(rng: np.random.Generator, h: int, w: int, cx: float, cy: float, r: float, n: int):
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.5, 1.0, n)
    return list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles)))


def _polygon(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    r = rng.uniform(0.1, 0.3) * min(h, w)
    return _polygon_mask(h, w, _star_polygon(rng, h, w, cx, cy, r, int(rng.integers(3, 9))))


def _blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Star-shaped smooth blob: r(phi) = r0 (1 + sum_k a_k cos(k phi + p_k))."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    r0 = rng.uniform(0.1, 0.25) * min(h, w)
    phi = np.arctan2(y - cy, x - cx)
    radius = np.ones_like(phi)
    for k in range(2, 5):
        radius += rng.uniform(0, 0.25) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    return np.hypot(x - cx, y - cy) <= r0 * radius


SHAPES = {"ellipse": _ellipse, "polygon": _polygon, "blob": _blob}


def _crowd(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A cluster of 5-12 small polygons: one crowd region (many objects, one segment)."""
    cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
    spread, r = 0.15 * min(h, w), 0.04 * min(h, w) + 2
    mask = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(5, 13))):
        px, py = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
        mask |= _polygon_mask(h, w, _star_polygon(rng, h, w, px, py, r, 5))
    return mask


def _stuff_regions(rng: np.random.Generator, h: int, w: int, k: int) -> np.ndarray:
    """(h, w) int in [0, k): noisy Voronoi partition of the canvas into k regions."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    seeds = rng.uniform(0, 1, size=(k, 2)) * (w, h)
    dist = np.stack([np.hypot(x - sx, y - sy) for sx, sy in seeds])
    dist += np.stack([_smooth_noise(rng, h, w, 4) for _ in range(k)]) * 0.25 * min(h, w)
    return dist.argmin(0)


# --------------------------------------------------------------------------- scenes


@dataclass
class SyntheticImage:
    """One generated scene: image (H, W, 3) uint8, id map (H, W) int64, its segments_info,
    and the two texture colours of every painted segment id."""

    image: np.ndarray
    ids: np.ndarray
    segments_info: list[dict]
    colours: dict[int, tuple[np.ndarray, np.ndarray]]


def _bbox_xywh(mask: np.ndarray) -> list[int]:
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


class _Canvas:
    """A scene being painted: later paints occlude earlier ones; ids are random 24-bit values
    (they exercise all three PNG channels)."""

    def __init__(self, rng: np.random.Generator, h: int, w: int) -> None:
        self.rng, self.h, self.w = rng, h, w
        self.image = np.zeros((h, w, 3), np.float32)
        self.ids = np.zeros((h, w), np.int64)
        self.entries: list[tuple[int, int, int]] = []  # (segment id, category id, iscrowd), paint order
        self.palettes: list[tuple[np.ndarray, np.ndarray]] = []
        self.colours: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _new_id(self) -> int:
        while True:
            sid = int(self.rng.integers(1, 2**24))
            if sid not in self.colours:
                return sid

    def paint(self, mask: np.ndarray, family: str, category: int, iscrowd: int = 0) -> None:
        sid = self._new_id()
        self.image[mask] = make_texture(self.rng, family, self.h, self.w, self.palettes)[mask]
        self.colours[sid] = self.palettes[-1]
        self.ids[mask] = sid
        self.entries.append((sid, category, iscrowd))

    def segments_info(self) -> list[dict]:
        """COCO ``segments_info`` of the visible segments (fully occluded ones are dropped)."""
        out = []
        for sid, category, iscrowd in self.entries:
            mask = self.ids == sid
            area = int(mask.sum())
            if area:
                out.append({"id": sid, "category_id": category, "iscrowd": iscrowd, "area": area,
                            "bbox": _bbox_xywh(mask)})
        return out


def _paint_stuff(c: _Canvas, n: int) -> None:
    """n textured background regions; with n = 0 the background is textured but void."""
    regions = _stuff_regions(c.rng, c.h, c.w, max(n, 1))
    for k in range(max(n, 1)):
        family = STUFF_TEXTURES[int(c.rng.integers(len(STUFF_TEXTURES)))]
        c.paint(regions == k, family, STUFF_CATEGORY[family])
    if n == 0:
        c.ids[:] = 0
        c.entries.clear()


def _paint_things(c: _Canvas, n: int, crowd: bool) -> None:
    """n textured shapes in random order of occlusion, plus a crowd cluster somewhere in the stack."""
    crowd_at = int(c.rng.integers(n + 1)) if crowd else -1
    for k in range(n + 1):
        if k == crowd_at:
            c.paint(_crowd(c.rng, c.h, c.w), "dots", CROWD_CATEGORY_ID, iscrowd=1)
        if k < n:
            shape = THING_SHAPES[int(c.rng.integers(len(THING_SHAPES)))]
            family = THING_TEXTURES[int(c.rng.integers(len(THING_TEXTURES)))]
            c.paint(SHAPES[shape](c.rng, c.h, c.w), family, THING_CATEGORY[shape])


def generate_image(cfg: SyntheticConfig, index: int) -> SyntheticImage:
    """Generate scene ``index``; depends only on (cfg.seed, index, size and count ranges)."""
    rng = np.random.default_rng([cfg.seed, index])
    c = _Canvas(rng, cfg.height, cfg.width)
    _paint_stuff(c, int(rng.integers(cfg.stuff_per_image[0], cfg.stuff_per_image[1] + 1)))
    n_things = int(rng.integers(cfg.things_per_image[0], cfg.things_per_image[1] + 1))
    _paint_things(c, n_things, crowd=bool(rng.uniform() < cfg.crowd_prob))
    if rng.uniform() < cfg.void_prob:  # an unlabelled band (id 0), textured in the image
        y0 = int(rng.integers(0, c.h - c.h // 8))
        c.ids[y0 : y0 + c.h // 8] = 0
    if index >= cfg.num_images - cfg.num_empty_images:  # trailing images without segments
        c.ids[:] = 0
    image = c.image.round().clip(0, 255).astype(np.uint8)
    return SyntheticImage(image, c.ids, c.segments_info(), c.colours)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_synthetic_coco_panoptic(out_dir: str | os.PathLike, cfg: SyntheticConfig = SyntheticConfig()) -> Path:
    """Write the synthetic dataset to ``out_dir`` (must not exist or be empty); returns it.

    Written atomically: on error nothing is left behind. Same ``cfg`` -> identical bytes.
    Read it back with ``CocoPanoptic.from_root(out_dir, cfg.split)``.
    """
    cfg.validate()
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise EntitySAMError(f"{out_dir} already exists and is not empty; choose a new folder")
    with atomic_dir(out_dir) as tmp:
        _write_dataset(tmp, cfg)
    return out_dir


def _write_dataset(root: Path, cfg: SyntheticConfig) -> None:
    images, annotations = [], []
    (root / cfg.split).mkdir()
    (root / f"panoptic_{cfg.split}").mkdir()
    (root / "annotations").mkdir()
    for i in range(cfg.num_images):
        scene = generate_image(cfg, i)
        name = f"{i:012d}"  # COCO-style file stems
        # 4:4:4 JPEG: chroma subsampling would smear the thin colour textures
        jpeg = _encode(Image.fromarray(scene.image), "JPEG", quality=95, subsampling=0)
        (root / cfg.split / f"{name}.jpg").write_bytes(jpeg)
        (root / f"panoptic_{cfg.split}" / f"{name}.png").write_bytes(
            _encode(Image.fromarray(id2rgb(scene.ids)), "PNG")
        )
        images.append({"id": i, "file_name": f"{name}.jpg", "height": cfg.height, "width": cfg.width})
        annotations.append({"image_id": i, "file_name": f"{name}.png", "segments_info": scene.segments_info})
    data = {
        "info": {"description": f"entitysam synthetic COCO-panoptic set (seed {cfg.seed})"},
        "images": images,
        "annotations": annotations,
        "categories": CATEGORIES,
    }
    (root / "annotations" / f"panoptic_{cfg.split}.json").write_text(json.dumps(data))
