"""Read the entity tracks written by ``entitysam segment`` (spec model.md §8).

Two layouts are understood (TRACKS = the segment output folder, or the JSON file itself):

* ``panoptic``: ``pred.json`` + ``pan_pred/<video>/<stem>.png`` (RGB ids, 0 = void); a track
  is a panoptic id of a video; per-frame ``area``/``bbox`` and our optional ``score`` come
  from ``segments_info``. Several videos in one ``pred.json`` are supported.
* ``rle``: ``rle.json`` (``entitysam-rle/1``), one video, one COCO RLE per frame of a track;
  a dataset run (``segment --dataset``) has one per video, ``rle/<video>.json``.

Per-frame confidence: a segment's ``eiou`` field when a writer provides it, else its
``score`` (in the offline merge this is the video-level score, the same in every frame;
the online merge writes running scores); absent -> None. Masks are read only for the frames
that are actually needed (:meth:`VideoTracks.id_map`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from entitysam.errors import EntitySAMError


@dataclass(frozen=True)
class TrackFrame:
    """A track's presence in one frame: ``bbox`` = [x, y, w, h] with w = xmax - xmin."""

    frame: int  # 0-based index into VideoTracks.frame_names
    area: int
    bbox: tuple[int, int, int, int]
    score: float | None = None


@dataclass
class Track:
    """One entity track: ``id`` is its value in the id maps; ``score`` its last score (or None)."""

    id: int
    frames: list[TrackFrame] = field(default_factory=list)
    score: float | None = None
    slot: int | None = None


@dataclass
class VideoTracks:
    """The tracks of one video and a loader of its (H, W) int64 id maps (0 = void)."""

    video: str
    frame_names: list[str]
    tracks: list[Track]
    load_id_map: Callable[[int], np.ndarray]
    layout: str

    def id_map(self, frame: int) -> np.ndarray:
        return self.load_id_map(frame)


def read_tracks(path: str | os.PathLike) -> list[VideoTracks]:
    """All videos of a segment output (folder with pred.json or rle.json, or the JSON file)."""
    p = Path(path)
    if p.is_dir():
        if (p / "pred.json").is_file():
            return read_panoptic(p / "pred.json")
        if (p / "rle.json").is_file():
            return [read_rle(p / "rle.json")]
        if (p / "rle").is_dir() and any((p / "rle").glob("*.json")):  # a dataset run's rle/<video>.json
            return [read_rle(f) for f in sorted((p / "rle").glob("*.json"))]
        raise EntitySAMError(
            f"{p}: no pred.json (panoptic format) or rle.json (rle format); run "
            "`entitysam segment ... --formats panoptic` (or rle) first")
    if p.is_file():
        data = _load_json(p)
        if isinstance(data, dict) and str(data.get("format", "")).startswith("entitysam-rle/"):
            return [read_rle(p, data)]
        return read_panoptic(p, data)
    raise EntitySAMError(f"{p}: no such file or folder")


def _load_json(path: Path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise EntitySAMError(f"{path}: cannot read JSON ({exc})") from None


def _frame_score(seg: dict) -> float | None:
    value = seg.get("eiou", seg.get("score"))
    return None if value is None else float(value)


def read_panoptic(pred_json: Path, data: dict | None = None) -> list[VideoTracks]:
    """Tracks of every video of a ``pred.json``; PNGs under ``pan_pred/`` beside it."""
    from entitysam.io.ids import rgb2id

    data = _load_json(pred_json) if data is None else data
    root = pred_json.parent / "pan_pred"
    out = []
    try:
        for video in data["annotations"]:
            vid = str(video["video_id"])
            names, tracks = [], {}
            for index, frame in enumerate(video["annotations"]):
                names.append(str(frame["file_name"]))
                for seg in frame["segments_info"]:
                    tid = int(seg["id"])
                    t = tracks.setdefault(tid, Track(tid, slot=seg.get("slot")))
                    tf = TrackFrame(index, int(seg["area"]), tuple(int(v) for v in seg["bbox"]),
                                    _frame_score(seg))
                    t.frames.append(tf)
                    t.score = tf.score
            out.append(VideoTracks(vid, names, list(tracks.values()),
                                   _png_loader(root / vid, names, rgb2id), "panoptic"))
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(
            f"{pred_json}: malformed prediction JSON, expected {{\"annotations\": [{{\"video_id\", "
            f"\"annotations\": [{{\"file_name\", \"segments_info\": [...]}}]}}]}} (problem at {exc!r})"
        ) from None
    return out


def _png_loader(folder: Path, names: list[str], rgb2id) -> Callable[[int], np.ndarray]:
    from PIL import Image

    from entitysam.io.sources import frame_stem

    def load(index: int) -> np.ndarray:
        png = folder / f"{frame_stem(names[index])}.png"
        try:
            with Image.open(png) as im:
                return rgb2id(np.asarray(im.convert("RGB")))
        except OSError as exc:
            raise EntitySAMError(f"{png}: cannot read panoptic PNG ({exc})") from None

    return load


def read_rle(rle_json: Path, data: dict | None = None) -> VideoTracks:
    """Tracks of an ``rle.json`` (one video); id maps rebuilt from the per-frame RLEs."""
    data = _load_json(rle_json) if data is None else data
    try:
        h, w = int(data["height"]), int(data["width"])
        names = [str(n) for n in data["frame_names"]]
        tracks, rles = [], {}
        for t in data["tracks"]:
            tid = int(t["id"])
            score = None if t.get("score") is None else float(t["score"])
            track = Track(tid, score=score, slot=t.get("slot"))
            for fr in t["frames"]:
                i = int(fr["frame"])
                fscore = _frame_score(fr)
                track.frames.append(TrackFrame(i, int(fr["area"]), tuple(int(v) for v in fr["bbox"]),
                                               score if fscore is None else fscore))
                rles.setdefault(i, []).append((tid, fr["rle"]))
            tracks.append(track)
        video = str(data["video"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(f"{rle_json}: malformed rle.json (problem at {exc!r})") from None
    return VideoTracks(video, names, tracks, _rle_loader(rles, (h, w)), "rle")


def _rle_loader(rles: dict[int, list], size: tuple[int, int]) -> Callable[[int], np.ndarray]:
    from pycocotools import mask as mask_utils

    def load(index: int) -> np.ndarray:
        out = np.zeros(size, dtype=np.int64)
        for tid, rle in rles.get(index, []):
            m = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")
                                   if isinstance(rle["counts"], str) else rle["counts"]})
            out[m.astype(bool)] = tid
        return out

    return load
