"""VIPSeg (``VIPSeg_720P/`` as distributed; spec evaluation.md §2, §6).

The video list and its order come from ``panoptic_gt_VIPSeg_<split>.json`` (``videos[].video_id``),
as the official driver's; frames are ``images/<video_id>/*.jpg`` in lexicographic order.
"""

from __future__ import annotations

from pathlib import Path

from entitysam.errors import EntitySAMError
from entitysam.io.jsonfile import load_json
from entitysam.io.datasets.base import folder_video


def gt_json_path(root: Path, split: str) -> Path:
    return root / f"panoptic_gt_VIPSeg_{split}.json"


def list_vipseg(root: Path, split: str):
    """(videos or problems in GT order, the JSON path)."""
    path = gt_json_path(root, split)
    data = load_json(path, "VIPSeg GT JSON")
    try:
        ids = [str(v["video_id"]) for v in data["videos"]]
    except (KeyError, TypeError):
        raise EntitySAMError(f"malformed VIPSeg GT JSON {path}: expected \"videos\": "
                             "[{\"video_id\", ...}, ...]") from None
    return [folder_video(vid, root / "images" / vid) for vid in ids], path
