"""Read the entity tracks and masks of an ``entitysam segment`` output into :class:`VideoView`s.

Two layouts (``entitysam/io/writers``), the first one found is used:

* ``rle.json`` (``--formats rle``): one video; its ids are the entity ids of summary.json and
  of the overlay colours; the per-frame COCO RLEs go to the browser as they are.
* ``pred.json`` + ``pan_pred/<video>/<stem>.png`` (``--formats panoptic``, the default; also
  an ``entitysam classify --task panoptic`` output): one or more videos; ids are panoptic ids
  until :mod:`entitysam.viewer.identity` maps them to entity ids; each PNG is read and
  encoded to RLE when its frame is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from entitysam.errors import EntitySAMError
from entitysam.viewer.model import Entity, VideoView


def load_json(path: Path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise EntitySAMError(f"{path}: cannot read JSON ({' '.join(str(exc).split())})") from None


def read_output(path) -> list[VideoView]:
    """The videos of the segment output folder ``path`` (one today; a list for the picker)."""
    p = Path(path)
    if not p.exists():
        raise EntitySAMError(f"{p}: no such folder")
    if not p.is_dir():
        raise EntitySAMError(f"{p}: not a folder; give the output folder of `entitysam segment`")
    if (p / "rle.json").is_file():
        return [read_rle(p / "rle.json")]
    if (p / "pred.json").is_file():
        return read_panoptic(p / "pred.json")
    hint = ""
    if (p / "labels.json").is_file():
        hint = (" (an `entitysam classify` output without masks: view the segment output with "
                f"--labels {p})")
    raise EntitySAMError(f"{p}: no rle.json or pred.json, not an `entitysam segment` output{hint}")


def read_rle(path: Path) -> VideoView:
    """One video of an ``entitysam-rle/1`` file (format: entitysam/io/writers/rle.py)."""
    data = load_json(path)
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("entitysam-rle/"):
        raise EntitySAMError(f"{path}: not an entitysam rle.json (no \"format\": \"entitysam-rle/1\")")
    try:
        h, w = int(data["height"]), int(data["width"])
        names = [str(n) for n in data["frame_names"]]
        fps = None if data.get("fps") is None else float(data["fps"])
        masks: dict[int, list[tuple[int, str]]] = {}
        entities = []
        for t in data["tracks"]:
            tid = int(t["id"])
            areas = [0] * len(names)
            for fr in t["frames"]:
                i, rle = int(fr["frame"]), fr["rle"]
                if not 0 <= i < len(names):
                    raise ValueError(f"track {tid}: frame {i} outside 0..{len(names) - 1}")
                if [int(v) for v in rle["size"]] != [h, w] or not isinstance(rle["counts"], str):
                    raise ValueError(f"track {tid}, frame {i}: RLE is not a {h}x{w} string RLE")
                areas[i] = int(fr["area"])
                masks.setdefault(i, []).append((tid, rle["counts"]))
            entities.append(Entity(tid, areas, slot=_opt(t.get("slot"), int),
                                   score=_opt(t.get("score"), float)))
        video = str(data["video"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(f"{path}: malformed rle.json ({exc})") from None
    if h < 1 or w < 1:
        raise EntitySAMError(f"{path}: malformed rle.json (frame size {w}x{h})")
    return VideoView(video, h, w, fps, names, entities, lambda i: masks.get(i, []), "rle.json")


def read_panoptic(path: Path) -> list[VideoView]:
    """Every video of a panoptic ``pred.json``; the PNGs are under ``pan_pred/`` beside it."""
    data = load_json(path)
    out = []
    try:
        for video in data["annotations"]:
            name = str(video["video_id"])
            names, per_frame, areas, entities = [], [], {}, {}
            for i, frame in enumerate(video["annotations"]):
                names.append(str(frame["file_name"]))
                ids = []
                for seg in frame["segments_info"]:
                    pid = int(seg["id"])
                    if pid not in entities:
                        entities[pid] = Entity(pid, [], slot=_opt(seg.get("slot"), int), panoptic_id=pid)
                    entities[pid].score = _opt(seg.get("score"), float)
                    areas.setdefault(pid, {})[i] = int(seg["area"])
                    ids.append(pid)
                per_frame.append(ids)
            for pid, e in entities.items():
                e.areas = [areas[pid].get(i, 0) for i in range(len(names))]
            folder = path.parent / "pan_pred" / name
            h, w = _png_size(folder, names)
            out.append(VideoView(name, h, w, None, names, list(entities.values()),
                                 _png_masks(folder, names, per_frame, (h, w)), "pred.json"))
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(f"{path}: malformed pred.json ({exc!r})") from None
    if not out:
        raise EntitySAMError(f"{path}: pred.json lists no video")
    return out


def _opt(value, kind):
    return None if value is None else kind(value)


def _png_path(folder: Path, name: str) -> Path:
    from entitysam.io.sources import frame_stem

    return folder / f"{frame_stem(name)}.png"


def _png_size(folder: Path, names: list[str]) -> tuple[int, int]:
    from PIL import Image

    if not names:
        raise EntitySAMError(f"{folder}: the video has no frames")
    png = _png_path(folder, names[0])
    try:
        with Image.open(png) as im:
            return im.height, im.width
    except OSError as exc:
        raise EntitySAMError(f"{png}: cannot read panoptic PNG ({exc})") from None


def _png_masks(folder: Path, names: list[str], per_frame: list[list[int]], size: tuple[int, int]):
    """frame -> [(panoptic id, RLE counts)], read from the frame's id PNG when asked."""
    from PIL import Image

    from entitysam.io.ids import rgb2id
    from entitysam.io.rle import encode_rle

    def load(i: int) -> list[tuple[int, str]]:
        if not per_frame[i]:
            return []
        png = _png_path(folder, names[i])
        try:
            with Image.open(png) as im:
                ids = rgb2id(np.asarray(im.convert("RGB")))
        except OSError as exc:
            raise EntitySAMError(f"{png}: cannot read panoptic PNG ({exc})") from None
        if ids.shape != size:
            raise EntitySAMError(f"{png}: {ids.shape[1]}x{ids.shape[0]}, the other frames are {size[1]}x{size[0]}")
        return [(pid, encode_rle(ids == pid)["counts"]) for pid in per_frame[i]]

    return load
