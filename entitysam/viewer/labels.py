"""Category labels from an ``entitysam classify`` output (``labels.json``), shown per entity.

``labels.json`` (entitysam/classify/pipeline.py) lists, per video, every track with its
``category_name`` (null: labelled none) and ``confidence``. Track ids are those of the file
classify read: panoptic ids when the segment output has pred.json, else rle.json's entity
ids; both are tried (panoptic first), and labels that fit neither are an error (the labels
of another output).
"""

from __future__ import annotations

from pathlib import Path

from entitysam.errors import EntitySAMError
from entitysam.viewer.model import VideoView
from entitysam.viewer.tracks import load_json

LABELS_FILE = "labels.json"
NONE_LABEL = "(none)"


def labels_path(path) -> Path:
    """``labels.json`` of a classify output folder, or the file itself."""
    p = Path(path)
    if p.is_dir():
        p = p / LABELS_FILE
    if not p.is_file():
        raise EntitySAMError(f"--labels {path}: no {LABELS_FILE} (give an `entitysam classify` output)")
    return p


def read_labels(path: Path) -> dict[str, dict[int, tuple[str, float | None]]]:
    """video -> track id -> (label, confidence)."""
    data = load_json(path)
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("entitysam-labels/"):
        raise EntitySAMError(f"{path}: not an entitysam labels.json (no \"format\": \"entitysam-labels/1\")")
    out: dict[str, dict[int, tuple[str, float | None]]] = {}
    try:
        for video in data["videos"]:
            tracks = out.setdefault(str(video["video_id"]), {})
            for t in video["tracks"]:
                name = t.get("category_name")
                conf = t.get("confidence")
                tracks[int(t["id"])] = (NONE_LABEL if name is None else str(name),
                                        None if conf is None else float(conf))
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(f"{path}: malformed labels.json ({exc!r})") from None
    return out


def apply_labels(videos: list[VideoView], path: Path) -> None:
    """Set ``label``/``label_confidence`` of the entities of ``videos`` from ``path``."""
    labels = read_labels(path)
    matched = [v for v in videos if v.name in labels]
    if not matched:
        raise EntitySAMError(f"{path}: labels for video(s) {sorted(labels)}, but the output holds "
                             f"{[v.name for v in videos]}")
    for video in matched:
        by_track = labels[video.name]
        key = None
        for attr in ("panoptic_id", "id"):
            ids = {getattr(e, attr) for e in video.entities} - {None}
            if ids and set(by_track) <= ids:
                key = attr
                break
        if key is None:
            missing = sorted(set(by_track) - {e.id for e in video.entities})[:3]
            raise EntitySAMError(f"{path}: tracks {missing} of video {video.name} are not entities of "
                                 "this output (labels of another segmentation?)")
        for e in video.entities:
            found = by_track.get(getattr(e, key))
            if found is not None:
                e.label, e.label_confidence = found
