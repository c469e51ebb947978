"""Which entity is which across the files of one output: rle.json, pred.json, summary.json.

``rle.json`` and ``summary.json`` number entities 1..K (the overlay colours them by that id);
``pred.json`` gives each entity a random 24-bit panoptic id, and ``entitysam classify`` labels
tracks by the ids of the file it read (panoptic ids when the output has pred.json). The files
share no id column, but they share each entity's area in every frame, an exact and (for real
masks) unique signature: entities are matched by their area-per-frame sequence.
"""

from __future__ import annotations

from pathlib import Path

from entitysam.viewer.model import Entity, VideoView
from entitysam.viewer.tracks import load_json


def _unique_by_areas(items: dict[int, tuple[int, ...]]) -> dict[tuple[int, ...], int]:
    """area sequence -> id, for the sequences that only one id has."""
    seen: dict[tuple[int, ...], list[int]] = {}
    for key, areas in items.items():
        seen.setdefault(areas, []).append(key)
    return {areas: ids[0] for areas, ids in seen.items() if len(ids) == 1}


def match_by_areas(entities: list[Entity], other: dict[int, tuple[int, ...]]) -> dict[int, int]:
    """entity id -> id in ``other`` (id -> area sequence) where the sequences match uniquely."""
    mine = _unique_by_areas({e.id: tuple(e.areas) for e in entities})
    theirs = _unique_by_areas(other)
    return {eid: theirs[areas] for areas, eid in mine.items() if areas in theirs}


def apply_summary(video: VideoView, summary_json: Path) -> None:
    """Take the entity ids (panoptic layout) and video-level scores of ``summary.json``."""
    data = load_json(summary_json)
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        video.notes.append(f"{summary_json.name}: no per-entity records, scores from {video.layout}")
        return
    if str(data.get("video", video.name)) != video.name:
        return  # the summary of another video (a dataset output): nothing to take
    records = {}
    for rec in data["segments"]:
        try:
            records[int(rec["id"])] = rec
        except (KeyError, TypeError, ValueError):
            continue
    if video.layout == "rle.json":
        pairs = {e.id: e.id for e in video.entities if e.id in records}
    else:
        areas = {k: tuple(int(a) for a in r.get("area_per_frame", ())) for k, r in records.items()}
        pairs = match_by_areas(video.entities, areas)
        if len(pairs) < len(video.entities):  # keep every panoptic id rather than mix the two
            pairs = {}
    for e in video.entities:
        rec = records.get(pairs.get(e.id, -1))
        if rec is None:
            continue
        e.id = int(rec["id"])
        for name in ("score", "mean_eiou", "quality"):
            if isinstance(rec.get(name), (int, float)):
                setattr(e, name, float(rec[name]))
        if isinstance(rec.get("slot"), int):
            e.slot = rec["slot"]
    if len(pairs) < len(video.entities):
        video.notes.append(f"{len(video.entities) - len(pairs)} of {len(video.entities)} entities not "
                           f"found in {summary_json.name}: shown with their {video.layout} ids and scores")


def attach_panoptic_ids(video: VideoView, pred_json: Path) -> None:
    """Set ``Entity.panoptic_id`` of an rle.json video from the pred.json beside it."""
    data = load_json(pred_json)
    try:
        for rec in data["annotations"]:
            if str(rec["video_id"]) != video.name:
                continue
            areas: dict[int, list[int]] = {}
            frames = rec["annotations"]
            for i, frame in enumerate(frames):
                for seg in frame["segments_info"]:
                    areas.setdefault(int(seg["id"]), [0] * len(frames))[i] = int(seg["area"])
            pairs = match_by_areas(video.entities, {k: tuple(v) for k, v in areas.items()})
            for e in video.entities:
                e.panoptic_id = pairs.get(e.id, e.panoptic_id)
    except (KeyError, TypeError, ValueError, IndexError):
        return  # a pred.json we cannot read only costs the panoptic ids
