"""Labelled tracks -> the class-specific benchmark layouts (spec evaluation.md §2-3, §10).

* :func:`write_panoptic` - VIPSeg video panoptic: ``pan_pred/<video>/<stem>.png`` (RGB ids,
  0 = void) + ``pred.json`` whose segments carry the vocabulary's ``category_id``. Tracks
  labelled none become void. Stuff tracks (``isthing`` false) of one category are merged into
  one segment per video, as VIPSeg's ground truth has one segment per stuff class per video
  (``merge_stuff=False`` keeps them apart). Read by ``entitysam eval --task panoptic``.
* :func:`write_instance` - YouTube-VIS / OVIS results JSON: one entry per track
  ``{"video_id", "category_id", "score", "segmentations": [RLE or null per frame]}``;
  tracks labelled none or with a stuff category are left out (the paper filters stuff).
  ``score`` = the entity score (1 when absent) x the label confidence. Read by
  ``entitysam eval --task instance``.
* :func:`write_semantic` - VSPW semantic: ``<video>/<stem>.png``, single channel, pixel =
  category id (0..123 for VSPW). Entities do not overlap, so the per-pixel merge is a lookup;
  pixels of no labelled entity take the class of the nearest labelled pixel of the frame
  (the VSPW evaluator needs a class at every pixel), or ``void`` when the frame has none.
  Read by ``entitysam eval --task semantic``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from entitysam.classify.backends.base import Label
from entitysam.classify.tracks import Track, TrackFrame, VideoTracks
from entitysam.classify.vocab import Category
from entitysam.errors import EntitySAMError
from entitysam.io.ids import id2rgb
from entitysam.io.rle import encode_rle
from entitysam.io.sources import frame_stem

SEMANTIC_VOID = 255


@dataclass
class TrackLabel:
    """A track, the frame it was classified on, and the result."""

    track: Track
    frame: TrackFrame
    label: Label


@dataclass
class LabelledVideo:
    """The tracks of one video with their labels (track id -> TrackLabel)."""

    tracks: VideoTracks
    labels: dict[int, TrackLabel] = field(default_factory=dict)

    def category(self, track_id: int) -> Category | None:
        tl = self.labels.get(track_id)
        return tl.label.category if tl else None


def remap(id_map: np.ndarray, lut: dict[int, int], default: int = 0) -> np.ndarray:
    """(H, W) ids -> (H, W) int64 through ``lut``; ids not in it become ``default``."""
    values, inverse = np.unique(id_map, return_inverse=True)
    mapped = np.array([lut.get(int(v), default) for v in values], dtype=np.int64)
    return mapped[inverse].reshape(id_map.shape)


def segments_of(pan: np.ndarray) -> list[tuple[int, list[int], int]]:
    """(id, bbox [x, y, w, h], area) of every non-zero id of a frame, in id order.

    w = xmax - xmin (no +1), as pred.json (spec model.md §8). One pass over the frame
    (unique + find_objects) instead of one per segment.
    """
    from scipy import ndimage

    values, inverse = np.unique(pan, return_inverse=True)
    labels = inverse.reshape(pan.shape) + 1  # 1..len(values); find_objects skips 0
    areas = np.bincount(labels.ravel(), minlength=len(values) + 1)
    out = []
    for k, found in enumerate(ndimage.find_objects(labels)):
        if values[k] == 0 or found is None:
            continue
        ys, xs = found
        bbox = [xs.start, ys.start, xs.stop - 1 - xs.start, ys.stop - 1 - ys.start]
        out.append((int(values[k]), [int(v) for v in bbox], int(areas[k + 1])))
    return out


# ----------------------------------------------------------------------------- panoptic


def panoptic_ids(video: LabelledVideo, merge_stuff: bool = True) -> tuple[dict[int, int], dict[int, Category]]:
    """(track id -> output segment id, output id -> category) of one video.

    An output id is the id of the first track (in reading order) that carries it; merged
    stuff tracks share the id of their category's first track.
    """
    lut, cats, stuff_owner = {}, {}, {}
    for track in video.tracks.tracks:
        cat = video.category(track.id)
        if cat is None:
            continue
        out = track.id
        if merge_stuff and cat.isthing is False:
            out = stuff_owner.setdefault(cat.id, track.id)
        lut[track.id] = out
        cats[out] = cat
    return lut, cats


def write_panoptic(videos: list[LabelledVideo], out_dir: str | Path, merge_stuff: bool = True) -> None:
    """``out_dir/pan_pred/<video>/<stem>.png`` + ``out_dir/pred.json`` (module docstring)."""
    out_dir = Path(out_dir)
    records = []
    for video in videos:
        lut, cats = panoptic_ids(video, merge_stuff)
        scores = {lut[t.id]: t.score for t in video.tracks.tracks if t.id in lut}
        png_dir = out_dir / "pan_pred" / video.tracks.video
        png_dir.mkdir(parents=True, exist_ok=True)
        frames = []
        for i, name in enumerate(video.tracks.frame_names):
            pan = remap(video.tracks.id_map(i), lut)
            Image.fromarray(id2rgb(pan)).save(png_dir / f"{frame_stem(name)}.png")
            infos = []
            for seg_id, bbox, area in segments_of(pan):
                cat = cats[seg_id]
                info = {"id": seg_id, "category_id": cat.id, "iscrowd": 0, "bbox": bbox,
                        "area": area, "isthing": int(cat.isthing is not False)}
                if scores.get(seg_id) is not None:
                    info["score"] = scores[seg_id]
                infos.append(info)
            frames.append({"file_name": name, "segments_info": infos})
        records.append({"video_id": video.tracks.video, "annotations": frames})
    with open(out_dir / "pred.json", "w") as f:
        json.dump({"annotations": records}, f)


# ----------------------------------------------------------------------------- instance


def instance_results(videos: list[LabelledVideo], video_ids: dict[str, int] | None = None) -> list[dict]:
    """YouTube-VIS results entries (module docstring); ``video_ids``: name -> GT id (default 1, 2, ...)."""
    results = []
    for n, video in enumerate(videos):
        name = video.tracks.video
        if video_ids is not None and name not in video_ids:
            raise EntitySAMError(f"video {name!r} is not in the YouTube-VIS JSON given for the ids")
        vid = video_ids[name] if video_ids is not None else n + 1
        kept = [t for t in video.tracks.tracks
                if video.category(t.id) is not None and video.category(t.id).isthing is not False]
        segs: dict[int, list] = {t.id: [None] * len(video.tracks.frame_names) for t in kept}
        present: dict[int, list[int]] = {}
        for t in kept:
            for f in t.frames:
                present.setdefault(f.frame, []).append(t.id)
        for i in sorted(present):
            id_map = video.tracks.id_map(i)
            for tid in present[i]:
                mask = id_map == tid
                if mask.any():
                    segs[tid][i] = encode_rle(mask)
        for t in kept:
            label = video.labels[t.id].label
            score = (1.0 if t.score is None else float(t.score)) * label.confidence
            results.append({"video_id": vid, "category_id": label.category.id, "score": score,
                            "segmentations": segs[t.id]})
    return results


def write_instance(videos: list[LabelledVideo], path: str | Path,
                   video_ids: dict[str, int] | None = None) -> None:
    """Write :func:`instance_results` as a JSON list to ``path``."""
    with open(path, "w") as f:
        json.dump(instance_results(videos, video_ids), f)


def ytvis_video_ids(gt_json: str | Path) -> dict[str, int]:
    """Video name -> id from a YouTube-VIS / OVIS JSON (the folder of ``file_names[0]``)."""
    try:
        with open(gt_json) as f:
            data = json.load(f)
        return {str(Path(v["file_names"][0]).parent.as_posix()): int(v["id"]) for v in data["videos"]}
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise EntitySAMError(f"{gt_json}: cannot read the video ids of a YouTube-VIS JSON "
                             f"(expected \"videos\": [{{\"id\", \"file_names\"}}]; problem at {exc!r})") from None


# ----------------------------------------------------------------------------- semantic


def semantic_map(id_map: np.ndarray, lut: dict[int, int], fill: bool = True) -> np.ndarray:
    """(H, W) ids -> (H, W) uint8 classes; unlabelled pixels nearest-filled or SEMANTIC_VOID."""
    sem = remap(id_map, lut, SEMANTIC_VOID)
    void = sem == SEMANTIC_VOID
    if fill and void.any() and not void.all():
        from scipy import ndimage

        idx = ndimage.distance_transform_edt(void, return_distances=False, return_indices=True)
        sem = sem[tuple(idx)]
    return sem.astype(np.uint8)


def write_semantic(videos: list[LabelledVideo], out_dir: str | Path, fill: bool = True) -> None:
    """``out_dir/<video>/<stem>.png`` single-channel class maps (module docstring)."""
    out_dir = Path(out_dir)
    for video in videos:
        lut = {}
        for t in video.tracks.tracks:
            cat = video.category(t.id)
            if cat is None:
                continue
            if not 0 <= cat.id < SEMANTIC_VOID:
                raise EntitySAMError(f"category id {cat.id} ({cat.name}) does not fit a semantic "
                                     f"PNG (0..{SEMANTIC_VOID - 1}); use a vocabulary with small ids")
            lut[t.id] = cat.id
        folder = out_dir / video.tracks.video
        folder.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(video.tracks.frame_names):
            sem = semantic_map(video.tracks.id_map(i), lut, fill)
            Image.fromarray(sem).save(folder / f"{frame_stem(name)}.png")
