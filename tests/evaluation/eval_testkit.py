"""Helpers for the evaluation tests: golden-set path, a tiny VIPSeg-layout writer, the CLI.

(A plain module with a unique name rather than conftest.py, so that test modules can import
it whatever other conftest.py files the test tree holds.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from entitysam.io.ids import id2rgb

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "metrics-v1"


def write_vipseg(root: Path, videos: list[dict], categories: list[dict] | None = None) -> dict:
    """Write GT (panomasksRGB + JSON) and a prediction folder (pan_pred + pred.json).

    Each video dict: ``video_id``; ``gt``: list of (H, W) id arrays; ``pred``: list of id
    arrays, or None for a video absent from pred.json; optional ``gt_cats`` / ``pred_cats``:
    id -> category_id (default 0); optional ``crowd``: set of GT ids with iscrowd = 1.
    Segments are listed in a frame iff they have pixels there, with exact areas, in id order.
    Returns the CLI paths: {"pred", "gt", "gt_json"}.
    """
    root = Path(root)
    gt_dir, pred_dir = root / "gt" / "panomasksRGB", root / "pred"
    gt_json = {"videos": [], "annotations": [], "categories": categories or [
        {"id": 0, "name": "thing", "isthing": 1, "color": [1, 1, 1]}]}
    pred_json = {"annotations": []}
    for v in videos:
        vid = v["video_id"]
        stems = [f"{i:08d}" for i in range(len(v["gt"]))]
        gt_json["videos"].append({"video_id": vid, "images": [
            {"id": s, "width": m.shape[1], "height": m.shape[0], "file_name": f"{s}.png"}
            for s, m in zip(stems, v["gt"])]})
        gt_frames = []
        for s, m in zip(stems, v["gt"]):
            _save(gt_dir / vid / f"{s}.png", m)
            gt_frames.append({"image_id": s, "file_name": f"{s}.png", "segments_info": _segments(
                m, v.get("gt_cats", {}), v.get("crowd", set()))})
        gt_json["annotations"].append({"video_id": vid, "annotations": gt_frames})
        if v.get("pred") is None:
            continue
        pred_frames = []
        for s, m in zip(stems, v["pred"]):
            _save(pred_dir / "pan_pred" / vid / f"{s}.png", m)
            pred_frames.append({"file_name": f"{s}.jpg",
                                "segments_info": _segments(m, v.get("pred_cats", {}), set())})
        pred_json["annotations"].append({"video_id": vid, "annotations": pred_frames})
    (root / "gt").mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    (root / "gt" / "gt.json").write_text(json.dumps(gt_json))
    (pred_dir / "pred.json").write_text(json.dumps(pred_json))
    return {"pred": str(pred_dir), "gt": str(gt_dir), "gt_json": str(root / "gt" / "gt.json")}


def _save(path: Path, ids: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(id2rgb(np.asarray(ids))).save(path)


def _segments(m: np.ndarray, cats: dict, crowd: set) -> list[dict]:
    ids, counts = np.unique(np.asarray(m), return_counts=True)
    return [{"id": int(i), "category_id": int(cats.get(int(i), 0)), "iscrowd": int(i in crowd),
             "area": int(c)} for i, c in zip(ids, counts) if i != 0]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``entitysam <argv>`` in-process; returns (exit code, stdout, stderr)."""
    from entitysam.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err
