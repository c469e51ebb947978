"""--task instance: YouTube-VIS / OVIS AP and AR on hand-built tracks (arithmetic written down)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from eval_testkit import run_cli
from entitysam.evaluation.ytvis import evaluate_instance, video_iou

H = W = 20


def approx(x):
    # The API's precision is tp / (tp + fp + eps): a perfect curve is 1 - 2e-16.
    return pytest.approx(x, abs=1e-12)


def rle(mask: np.ndarray | None):
    if mask is None:
        return None
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": r["size"], "counts": r["counts"].decode()}


def box(y: int, x: int, h: int = 10, w: int = 10) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y:y + h, x:x + w] = True
    return m


def write(tmp_path, gt_tracks, results, videos=1, name="gt.json"):
    """gt_tracks: list of (video_id, category_id, masks per frame, extra fields)."""
    gt = {"videos": [{"id": v + 1, "height": H, "width": W, "length": 2} for v in range(videos)],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "annotations": []}
    for i, (vid, cat, masks, extra) in enumerate(gt_tracks):
        gt["annotations"].append({"id": i + 1, "video_id": vid, "category_id": cat, "iscrowd": 0,
                                  "segmentations": [rle(m) for m in masks],
                                  "areas": [int(m.sum()) if m is not None else None for m in masks],
                                  **extra})
    res = [{"video_id": v, "category_id": c, "score": s, "segmentations": [rle(m) for m in masks]}
           for v, c, s, masks in results]
    (tmp_path / name).write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    return str(tmp_path / "res.json"), str(tmp_path / name)


GT2 = [(1, 1, [box(0, 0), box(2, 2)], {}), (1, 2, [box(10, 10), None], {}),
       (2, 1, [None, box(5, 5)], {})]


def test_perfect_prediction_is_1(tmp_path):
    res = [(v, c, 0.9, masks) for v, c, masks, _ in GT2]
    report = evaluate_instance(*write(tmp_path, GT2, res, videos=2))
    for key in ("AP", "AP50", "AP75", "APs", "AR1", "AR10", "AR100"):
        assert report[key] == approx(1.0), key
    assert report["APm"] == -1 and report["APl"] == -1  # no GT track in these ranges


def test_empty_prediction_is_zero(tmp_path):
    report = evaluate_instance(*write(tmp_path, GT2, [], videos=2))
    for key in ("AP", "AP50", "AP75", "AR1", "AR10"):
        assert report[key] == 0.0, key


def test_half_track_and_exact_track(tmp_path):
    """One GT track (10x10 box in frames 0 and 1). Prediction A (score 0.9) has the box in
    frame 0 only: video IoU = 100 / 200 = 0.5. Prediction B (score 0.8) is exact: IoU 1.

    t = 0.50: A matches (IoU >= t), B is an FP: precision [1, 1/2], recall [1, 1] -> every
              recall point has precision 1 -> AP@0.5 = 1.
    t >= 0.55: A is an FP, B matches: precision [0, 1/2] -> envelope [1/2, 1/2] -> 0.5.
    AP = (1 + 9 * 0.5) / 10 = 0.55, AP50 = 1, AP75 = 0.5.
    AR1 (only A kept): recall 1 at t = 0.5, else 0 -> 0.1; AR10 = 1.
    """
    gt = [(1, 1, [box(0, 0), box(0, 0)], {})]
    res = [(1, 1, 0.9, [box(0, 0), None]), (1, 1, 0.8, [box(0, 0), box(0, 0)])]
    report = evaluate_instance(*write(tmp_path, gt, res))
    assert report["AP"] == pytest.approx(0.55, abs=1e-12)
    assert report["AP50"] == approx(1.0) and report["AP75"] == approx(0.5)
    assert report["AR1"] == pytest.approx(0.1, abs=1e-12) and report["AR10"] == 1.0
    assert report["APs"] == report["AP"]  # avg area 100 < 128^2


def test_id_switch_halfway_is_two_half_tracks(tmp_path):
    """A GT track predicted as two tracks, one per frame (an id switch halfway): each has
    video IoU 100/200 = 0.5 -> the first (higher score) matches only at t = 0.5, the second
    is an FP there; nothing matches at t >= 0.55. AP = (1 + 9 * 0) / 10 = 0.1."""
    gt = [(1, 1, [box(0, 0), box(0, 0)], {})]
    res = [(1, 1, 0.9, [box(0, 0), None]), (1, 1, 0.8, [None, box(0, 0)])]
    report = evaluate_instance(*write(tmp_path, gt, res))
    assert report["AP"] == pytest.approx(0.1, abs=1e-12) and report["AR10"] == pytest.approx(0.1)


def test_video_iou():
    a, b = rle(box(0, 0)), rle(box(0, 5))  # overlap 50 px, union 150 px
    assert video_iou([a, a], [b, None]) == pytest.approx(50 / (150 + 100))
    assert video_iou([None], [None]) == 0.0


def test_ovis_occlusion_splits(tmp_path):
    """Two GT tracks of one category: occlusion [0.1, 0.1] (slight) and [0.9, 0.1] (upper half
    mean 0.9: heavy). One exact prediction of the slight track.
    AP_slight = 1; AP_heavy: the slight track is ignored there, the detection matches it and
    is ignored, the heavy track is missed -> 0. AP (all): recall reaches 1/2 with precision 1:
    recall points 0..0.50 -> 51 of 101 -> 51/101.
    """
    gt = [(1, 1, [box(0, 0), box(0, 0)], {"occlusion": [0.1, 0.1]}),
          (1, 1, [box(10, 10), box(10, 10)], {"occlusion": [0.9, 0.1]})]
    res = [(1, 1, 0.9, [box(0, 0), box(0, 0)])]
    report = evaluate_instance(*write(tmp_path, gt, res), benchmark="ovis")
    assert report["AP_slight"] == approx(1.0) and report["AP_heavy"] == 0.0
    assert report["AP_moderate"] == -1
    assert report["AP"] == pytest.approx(51 / 101, abs=1e-12)


def test_instance_cli(tmp_path, capsys):
    res, gt = write(tmp_path, GT2, [(1, 1, 0.5, GT2[0][2])], videos=2)
    out = tmp_path / "r.json"
    code, text, err = run_cli(["eval", "--task", "instance", "--pred", res, "--gt-json", gt,
                               "--json", str(out)], capsys)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert set(report) >= {"AP", "AP50", "AP75", "AR1", "AR10"} and "AP50" in text
    code, _, err = run_cli(["eval", "--task", "instance", "--pred", res, "--gt-json", gt,
                            "--benchmark", "ovis"], capsys)
    assert code == 2 and "occlusion" in err and gt in err
    (tmp_path / "res.json").write_text('[{"video_id": 9, "category_id": 1, "score": 1, "segmentations": []}]')
    code, _, err = run_cli(["eval", "--task", "instance", "--pred", res, "--gt-json", gt], capsys)
    assert code == 2 and "video_id 9 is not in the GT JSON" in err
