"""Mini-datasets in each layout ``entitysam segment --dataset`` reads, with GT that the
evaluators accept (tests and smoke runs of the whole chain segment -> classify -> eval).

The videos are those of :mod:`entitysam.synthetic.videos` (stuff bands + moving things).

=========  ======================================================================
layout     files (ROOT = the ``root`` argument)
=========  ======================================================================
vipseg     ``images/<v>/<stem>.jpg``, ``panomasksRGB/<v>/<stem>.png``,
           ``panoptic_gt_VIPSeg_val.json`` (VIPSeg_720P as distributed)
vspw       ``val.txt``, ``data/<v>/origin/<stem>.jpg``, ``data/<v>/mask/<stem>.png``
           (single-channel raw VSPW values: class index + 1, 0 = others)
ytvis      ``valid/JPEGImages/<v>/<stem>.jpg`` and ``valid.json`` (YouTube-VIS 2019 style:
           ``videos`` with ids and ``file_names``, one annotation per thing track with one
           RLE or null per frame, ``categories`` = the thing shapes, ids from 1); the dataset
           root for ``segment --dataset ytvis`` is ``ROOT/valid``
folders    ``<v>/<stem>.jpg``
=========  ======================================================================
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from entitysam.io.atomic import atomic_dir
from entitysam.synthetic.shapes import SHAPES
from entitysam.synthetic.videos import STUFF_NAMES, _random_scene, entity_ids, render_frame, write_synthetic_videos

LAYOUTS = ("vipseg", "vspw", "ytvis", "folders")


def _videos(num_videos: int, num_frames: int, size: tuple[int, int], seed: int):
    """Yield (video name, [(rgb, entity index map)] per frame, [(panoptic id, category)])."""
    H, W = size
    for v in range(num_videos):
        rng = np.random.default_rng([seed, v])
        scene = _random_scene(rng, H, W, num_frames)
        yield f"synth_{seed:04d}_{v:03d}", [render_frame(scene, t) for t in range(num_frames)], entity_ids(scene)


def write_mini_dataset(root: str | Path, layout: str, num_videos: int = 3, num_frames: int = 3,
                       size: tuple[int, int] = (48, 64), seed: int = 0) -> Path:
    """Write a mini-dataset of ``layout`` under ``root`` (atomically) and return the folder to
    pass to ``segment --dataset`` (ROOT, or ROOT/valid for ytvis)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    root = Path(root)
    if layout == "vipseg":
        write_synthetic_videos(root, num_videos, num_frames, size, seed, json_name="panoptic_gt_VIPSeg_val.json")
        return root
    with atomic_dir(root) as tmp:
        if layout == "vspw":
            _write_vspw(tmp, num_videos, num_frames, size, seed)
        elif layout == "ytvis":
            _write_ytvis(tmp, num_videos, num_frames, size, seed)
        else:
            for vid, frames, _ in _videos(num_videos, num_frames, size, seed):
                (tmp / vid).mkdir()
                for t, (rgb, _) in enumerate(frames):
                    Image.fromarray(rgb).save(tmp / vid / f"{t:08d}.jpg", quality=95)
    return root / "valid" if layout == "ytvis" else root


def _write_vspw(tmp: Path, num_videos, num_frames, size, seed) -> None:
    names = []
    for vid, frames, ids in _videos(num_videos, num_frames, size, seed):
        names.append(vid)
        (tmp / "data" / vid / "origin").mkdir(parents=True)
        (tmp / "data" / vid / "mask").mkdir()
        lut = np.array([cat + 1 for _, cat in ids] + [0], dtype=np.uint8)  # raw value = class + 1
        for t, (rgb, index) in enumerate(frames):
            Image.fromarray(rgb).save(tmp / "data" / vid / "origin" / f"{t:08d}.jpg", quality=95)
            Image.fromarray(lut[index]).save(tmp / "data" / vid / "mask" / f"{t:08d}.png")
    (tmp / "val.txt").write_text("".join(n + "\n" for n in names))


def _write_ytvis(tmp: Path, num_videos, num_frames, size, seed) -> None:
    from pycocotools import mask as mask_utils

    H, W = size
    videos, annotations = [], []
    for k, (vid, frames, ids) in enumerate(_videos(num_videos, num_frames, size, seed)):
        folder = tmp / "valid" / "JPEGImages" / vid
        folder.mkdir(parents=True)
        names = []
        for t, (rgb, _) in enumerate(frames):
            Image.fromarray(rgb).save(folder / f"{t:05d}.jpg", quality=95)
            names.append(f"{vid}/{t:05d}.jpg")
        video_id = 10 * (k + 1)  # not 1..N: checks that the dataset's ids are used
        videos.append({"id": video_id, "width": W, "height": H, "length": num_frames, "file_names": names})
        for e, (_, cat) in enumerate(ids):
            if cat < len(STUFF_NAMES):
                continue  # YouTube-VIS annotates things only
            segs, areas, boxes = [], [], []
            for _, index in frames:
                m = index == e
                if not m.any():
                    segs.append(None), areas.append(None), boxes.append(None)
                    continue
                rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                rle["counts"] = rle["counts"].decode("ascii")
                segs.append(rle)
                areas.append(int(m.sum()))
                boxes.append([float(v) for v in mask_utils.toBbox(rle)])
            if any(s is not None for s in segs):
                annotations.append({"id": len(annotations) + 1, "video_id": video_id, "iscrowd": 0,
                                    "category_id": cat - len(STUFF_NAMES) + 1, "segmentations": segs,
                                    "areas": areas, "bboxes": boxes, "height": H, "width": W})
    categories = [{"id": i + 1, "name": s, "supercategory": "shape"} for i, s in enumerate(SHAPES)]
    (tmp / "valid.json").write_text(json.dumps({"videos": videos, "annotations": annotations,
                                                "categories": categories}))
