"""Synthetic entity videos with ground truth in the VIPSeg layout (held-out evaluation data).

Each video has textured *stuff* regions (wavy bands filling the frame) and moving textured
*things* (ellipses, rectangles, triangles, blobs) that enter after frame 0, leave the frame,
get occluded and reappear, change scale and touch each other. Textures are those of the
synthetic COCO-panoptic training images (one visual world); a thing's texture moves with it.
Deterministic by seed.

Layout written (as ``entitysam eval --task entity`` and VIPSeg readers expect)::

    ROOT/images/<video>/<stem>.jpg
    ROOT/panomasksRGB/<video>/<stem>.png          RGB ids, id = R + 256 G + 65536 B, 0 = void
    ROOT/panoptic_gt_synthetic.json               videos / annotations / categories
    ROOT/entities.json                            per video: first/last visible frame of every entity
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from entitysam.io.atomic import atomic_dir
from entitysam.io.ids import id2rgb
from entitysam.synthetic.shapes import SHAPES, shape_mask
from entitysam.synthetic.coco import STUFF_TEXTURES, THING_TEXTURES, make_texture

STUFF_NAMES = ("ground", "wall", "sky", "water")
CATEGORIES = [{"id": i, "name": n, "isthing": 0} for i, n in enumerate(STUFF_NAMES)] + [
    {"id": len(STUFF_NAMES) + i, "name": s, "isthing": 1} for i, s in enumerate(SHAPES)
]


def _texture(rng: np.random.Generator, families: tuple[str, ...], h: int, w: int, used: list) -> np.ndarray:
    """A (3h, 3w, 3) float32 texture canvas: frames crop it at the entity's displacement."""
    return make_texture(rng, str(rng.choice(families)), 3 * h, 3 * w, used)


@dataclass
class Thing:
    shape: str
    texture: np.ndarray  # (3H, 3W, 3) float32 canvas
    center: np.ndarray  # (y, x) at frame 0 of its trajectory
    velocity: np.ndarray  # (dy, dx) per frame
    radius: np.ndarray  # (ry, rx)
    growth: float  # relative radius change per frame
    angle: float
    spin: float
    enter: int  # first frame it exists (it may still be outside the frame)
    seed: int

    def at(self, t: int) -> tuple[np.ndarray, np.ndarray, float]:
        dt = t - self.enter
        center = self.center + self.velocity * dt
        radius = self.radius * max(0.3, 1.0 + self.growth * dt)
        return center, radius, self.angle + self.spin * dt


@dataclass
class VideoScene:
    height: int
    width: int
    stuff_boundaries: list[tuple[float, float, float, float]]  # (base y frac, amplitude, freq, phase)
    stuff_textures: list[np.ndarray]  # (3H, 3W, 3) float32 canvases
    stuff_categories: list[int]
    things: list[Thing] = field(default_factory=list)


def _random_scene(rng: np.random.Generator, height: int, width: int, num_frames: int,
                  n_things: tuple[int, int] = (3, 6)) -> VideoScene:
    n_stuff = int(rng.integers(2, 4))
    bases = np.sort(rng.uniform(0.25, 0.75, size=n_stuff - 1))
    bounds = [(float(b), float(rng.uniform(0.02, 0.08)), float(rng.uniform(1, 3)), float(rng.uniform(0, 6.28)))
              for b in bases]
    cats = [int(c) for c in rng.choice(len(STUFF_NAMES), size=n_stuff, replace=False)]
    used: list = []  # colour pairs so far: entities of a video get clearly different colours
    scene = VideoScene(height, width, bounds, [_texture(rng, STUFF_TEXTURES, height, width, used)
                                               for _ in range(n_stuff)], cats)
    m = min(height, width)
    count = int(rng.integers(n_things[0], n_things[1] + 1))
    for i in range(count):
        late = i >= 2 and rng.random() < 0.4  # enters after frame 0, from outside the frame
        r = rng.uniform(0.08, 0.18) * m
        radius = np.array([r * rng.uniform(0.6, 1.4), r * rng.uniform(0.6, 1.4)])
        speed = rng.uniform(0.5, 3.0) * m / 180
        if late:
            enter = int(rng.integers(1, max(2, num_frames // 2)))
            side = int(rng.integers(0, 4))
            y = rng.uniform(0.2, 0.8) * height
            x = rng.uniform(0.2, 0.8) * width
            if side == 0:
                center, vel = np.array([y, -r]), np.array([rng.uniform(-0.3, 0.3), 1.0])
            elif side == 1:
                center, vel = np.array([y, width + r]), np.array([rng.uniform(-0.3, 0.3), -1.0])
            elif side == 2:
                center, vel = np.array([-r, x]), np.array([1.0, rng.uniform(-0.3, 0.3)])
            else:
                center, vel = np.array([height + r, x]), np.array([-1.0, rng.uniform(-0.3, 0.3)])
            vel = vel * speed * 1.5
        else:
            enter = 0
            center = np.array([rng.uniform(0.15, 0.85) * height, rng.uniform(0.15, 0.85) * width])
            ang = rng.uniform(0, 2 * np.pi)
            vel = np.array([np.sin(ang), np.cos(ang)]) * speed
        scene.things.append(Thing(
            shape=str(rng.choice(SHAPES)), texture=_texture(rng, THING_TEXTURES, height, width, used),
            center=center, velocity=vel,
            radius=radius, growth=float(rng.uniform(-0.015, 0.025)), angle=float(rng.uniform(0, np.pi)),
            spin=float(rng.uniform(-0.03, 0.03)), enter=enter, seed=int(rng.integers(0, 2**31 - 1)),
        ))
    if count >= 2 and rng.random() < 0.7:
        # an occluder: a large thing crossing in front of thing 0's start position (occlusion, reappearance)
        target = scene.things[0].center
        r = 0.22 * m
        start = np.array([target[0] + rng.uniform(-0.1, 0.1) * m, -r])
        frames_to_cross = max(4, num_frames // 2)
        vel = (np.array([target[0], width + r]) - start) / (frames_to_cross * 1.6)
        scene.things.append(Thing(
            shape="rectangle", texture=_texture(rng, THING_TEXTURES, height, width, used),
            center=start, velocity=vel,
            radius=np.array([r * 1.2, r * 0.7]), growth=0.0, angle=0.0, spin=0.0,
            enter=int(rng.integers(0, max(1, num_frames // 4))), seed=int(rng.integers(0, 2**31 - 1)),
        ))
    return scene


def render_frame(scene: VideoScene, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t``: RGB (H, W, 3) uint8 and entity index map (H, W) int (0.. stuff, then things; -1 none)."""
    H, W = scene.height, scene.width
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    region = np.zeros((H, W), dtype=np.int64)
    for base, amp, freq, phase in scene.stuff_boundaries:
        y_line = (base + amp * np.sin(2 * np.pi * freq * xx / W + phase + 0.02 * t)) * H
        region += (yy >= y_line).astype(np.int64)
    rgb = np.zeros((H, W, 3), dtype=np.float32)
    for k, tex in enumerate(scene.stuff_textures):
        sel = region == k
        rgb[sel] = tex[H : 2 * H, W : 2 * W][sel]
    index = region.copy()
    n_stuff = len(scene.stuff_textures)
    for j, th in enumerate(scene.things):  # later things are in front
        if t < th.enter:
            continue
        center, radius, angle = th.at(t)
        m = shape_mask(th.shape, H, W, tuple(center), tuple(radius), angle, th.seed)
        if not m.any():
            continue
        dy, dx = np.clip(np.round(center - th.center).astype(int), [-H, -W], [H, W])
        rgb[m] = th.texture[H - dy : 2 * H - dy, W - dx : 2 * W - dx][m]  # the texture moves with the thing
        index[m] = n_stuff + j
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return rgb, index


def entity_ids(scene: VideoScene) -> list[tuple[int, int]]:
    """(panoptic id, category id) of every entity index, ids unique and non-zero within the video."""
    out = [(1000 * (k + 1) + cat, cat) for k, cat in enumerate(scene.stuff_categories)]
    for j, th in enumerate(scene.things):
        cat = len(STUFF_NAMES) + SHAPES.index(th.shape)
        out.append((100000 + 1000 * (j + 1) + cat, cat))
    return out


def write_synthetic_videos(root: str | Path, num_videos: int = 4, num_frames: int = 24,
                           size: tuple[int, int] = (180, 320), seed: int = 0,
                           json_name: str = "panoptic_gt_synthetic.json", jpeg_quality: int = 95,
                           things: tuple[int, int] = (3, 6)) -> Path:
    """Write ``num_videos`` synthetic videos in the VIPSeg layout under ``root`` (atomically)."""
    root = Path(root)
    H, W = size
    with atomic_dir(root) as tmp:
        videos, annotations, entities = [], [], {}
        for v in range(num_videos):
            rng = np.random.default_rng([seed, v])
            vid = f"synth_{seed:04d}_{v:03d}"
            scene = _random_scene(rng, H, W, num_frames, things)
            ids = entity_ids(scene)
            (tmp / "images" / vid).mkdir(parents=True)
            (tmp / "panomasksRGB" / vid).mkdir(parents=True)
            images, frames_ann = [], []
            seen: dict[int, list[int]] = {}
            for t in range(num_frames):
                rgb, index = render_frame(scene, t)
                stem = f"{t:08d}"
                pan = np.zeros((H, W), dtype=np.int64)
                segs = []
                for e, (pid, cat) in enumerate(ids):
                    sel = index == e
                    area = int(sel.sum())
                    if area == 0:
                        continue
                    pan[sel] = pid
                    segs.append({"id": pid, "category_id": cat, "iscrowd": 0, "area": area})
                    seen.setdefault(pid, []).append(t)
                segs.sort(key=lambda s: (s["category_id"], s["id"]))
                Image.fromarray(rgb).save(tmp / "images" / vid / f"{stem}.jpg", quality=jpeg_quality)
                Image.fromarray(id2rgb(pan)).save(tmp / "panomasksRGB" / vid / f"{stem}.png")
                images.append({"id": stem, "width": W, "height": H, "file_name": f"{stem}.png"})
                frames_ann.append({"image_id": stem, "file_name": f"{stem}.png", "segments_info": segs})
            videos.append({"video_id": vid, "images": images})
            annotations.append({"video_id": vid, "annotations": frames_ann})
            entities[vid] = [
                {"id": pid, "category_id": cat, "isthing": cat >= len(STUFF_NAMES),
                 "first_frame": seen[pid][0], "last_frame": seen[pid][-1], "frames_visible": len(seen[pid])}
                for pid, cat in ids if pid in seen
            ]
        gt = {"videos": videos, "annotations": annotations, "categories": CATEGORIES}
        (tmp / json_name).write_text(json.dumps(gt))
        (tmp / "entities.json").write_text(json.dumps(entities, indent=1))
    return root
