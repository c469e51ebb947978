"""Hand-built entity cases (spec evaluation.md §8) with the arithmetic written down; --fixed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval_testkit import GOLDEN, run_cli, write_vipseg
from entitysam.evaluation import evaluate_entity

L = np.array([[1, 1, 2, 2]] * 2)  # 2x4 frame: GT id 1 = left half, id 2 = right half


def halves(left: int, right: int) -> np.ndarray:
    return np.array([[left, left, right, right]] * 2)


def evaluate(tmp_path, videos, **kw):
    paths = write_vipseg(tmp_path, videos)
    return evaluate_entity(paths["pred"], paths["gt"], paths["gt_json"], **kw)


def veq_k(report):
    return [w["VEQ"] for w in report["veq"]["windows"]]


def test_left_id_switch_veq_and_crowd_quirk(tmp_path):
    """Spec §8: left half predicted 10 in frames 0-1 and 11 in frames 2-3; right half 20.

    nframes 1: 4 windows x 2 perfect matches -> TP 8, iou 8 -> VEQ_0 = 100.
    nframes 2: windows [0,1] and [2,3] match both tubes (TP 4); window [1,2]: left GT tube
      (8 px) vs 10 (4 px) -> IoU 4/8 = 0.5 exactly -> no match, same for 11 -> FP 2, FN 1;
      right matches -> TP 5, FP 2, FN 1, iou 5 -> VEQ_5 = 5 / (5 + 1 + 0.5) = 76.923...
    nframes 4: right matches (TP 1); left 16 px vs 8 + 8 -> 0.5, 0.5 -> FP 2, FN 1
      -> VEQ_15 = 1 / 2.5 = 40. nframes 6, 8: no window -> 0, still averaged.
    STQ: the left GT id is seen first -> instance 0 -> crowd: the switch is invisible, AQ = 1.
    """
    pred = [halves(10, 20), halves(10, 20), halves(11, 20), halves(11, 20)]
    report = evaluate(tmp_path, [{"video_id": "v", "gt": [L] * 4, "pred": pred}])
    w = report["veq"]["windows"]
    assert [(x["tp"], x["fp"], x["fn"]) for x in w] == [(8, 0, 0), (5, 2, 1), (1, 2, 1), (0, 0, 0), (0, 0, 0)]
    assert veq_k(report) == pytest.approx([100, 500 / 6.5, 40, 0, 0], abs=1e-12)
    assert report["veq"]["VEQ"] == pytest.approx((100 + 500 / 6.5 + 40) / 5, abs=1e-12)
    assert report["stq"]["AQ"] == 1.0 and report["stq"]["STQ"] == 1.0
    assert report["stq"]["per_sequence"][0]["crowd_gt_id"] == 1


def test_right_id_switch_halfway_lowers_aq(tmp_path):
    """Right half (GT id 2, not the crowd one) switches 20 -> 21 at frame 2.

    VEQ: mirror image of the left-switch case: 100 / 76.92 / 40 / 0 / 0.
    AQ: GT tube 2 has 4 px x 4 frames = 16 px; pred 20 and 21 have 8 px each, all on it:
      inner = 8 * 8/16 + 8 * 8/16 = 8; AQ = 8 / 16 = 0.5 (the crowd GT id 1 is left out).
      IoU = 1 (no GT pixel predicted void) -> STQ = sqrt(0.5).
    --fixed (no crowd): GT 1 is perfect (1.0) -> AQ = (1 + 0.5) / 2 = 0.75, STQ = sqrt(0.75).
    A perfect prediction gives AQ = 1, so the switch lowered AQ by exactly 0.5.
    """
    pred = [halves(10, 20), halves(10, 20), halves(10, 21), halves(10, 21)]
    video = {"video_id": "v", "gt": [L] * 4, "pred": pred}
    report = evaluate(tmp_path / "a", [video])
    assert veq_k(report) == pytest.approx([100, 500 / 6.5, 40, 0, 0], abs=1e-12)
    assert report["stq"]["AQ"] == 0.5 and report["stq"]["IoU"] == 1.0
    assert report["stq"]["STQ"] == pytest.approx(math.sqrt(0.5), abs=1e-15)
    fixed = evaluate(tmp_path / "b", [video], fixed=True)
    assert fixed["stq"]["AQ"] == 0.75 and fixed["stq"]["STQ"] == pytest.approx(math.sqrt(0.75))
    assert fixed["veq"] == report["veq"]  # --fixed only touches the STQ quirks
    perfect = evaluate(tmp_path / "c", [{"video_id": "v", "gt": [L] * 4, "pred": [L + 5] * 4}])
    assert perfect["stq"]["AQ"] == 1.0
    # 100 for every k with a window; k=25/35 have none in 4 frames and still count as 0.
    assert veq_k(perfect) == [100, 100, 100, 0, 0] and perfect["veq"]["VEQ"] == 60.0


A_B = np.array([[1, 1, 2, 2]] * 4)  # 4x4 frame: A (id 1, seen first) left, B (id 2) right


@pytest.mark.parametrize(
    "name, pred, iou, aq",
    [
        # identical -> everything 1
        ("identical", A_B + 10, 1.0, 1.0),
        # one B pixel void: entity IoU 15/16, void column enters with IoU 0 -> (15/16) / 2;
        # AQ: B tube 8 px, pred 7 px all on B -> 7 * (7/8) / 8 = 0.765625 (A is crowd)
        ("one_void_pixel", np.where(np.arange(16).reshape(4, 4) == 15, 0, A_B + 10), 0.46875, 0.765625),
        # A split in two ids, B perfect: A is crowd -> AQ 1
        ("a_split", np.array([[11, 13, 12, 12]] * 4), 1.0, 1.0),
        # B split into two halves (4 px each): 2 * 4 * (4/8) / 8 = 0.5
        ("b_split", np.array([[11, 11, 12, 14]] * 4), 1.0, 0.5),
    ],
)
def test_stq_worked_examples(tmp_path, name, pred, iou, aq):
    """Spec §8 STQ^EN examples on one 4x4 frame."""
    report = evaluate(tmp_path, [{"video_id": name, "gt": [A_B], "pred": [pred]}])
    assert report["stq"]["IoU"] == iou and report["stq"]["AQ"] == aq
    assert report["stq"]["STQ"] == pytest.approx(math.sqrt(iou * aq), abs=1e-15)


def test_void_row_predicted_as_entity(tmp_path):
    """GT bottom row void, prediction labels it A/B: IoU 1 (GT-void row removed);
    B: GT 6 px, pred 8 px -> 6 * 6/8 / 6 = 0.75 (pred pixels on void count in |p|)."""
    gt = A_B.copy()
    gt[3] = 0
    report = evaluate(tmp_path, [{"video_id": "v", "gt": [gt], "pred": [A_B + 10]}])
    assert report["stq"]["IoU"] == 1.0 and report["stq"]["AQ"] == 0.75


def test_empty_prediction_is_zero(tmp_path):
    report = evaluate(tmp_path, [{"video_id": "v", "gt": [L] * 4, "pred": [L * 0] * 4}])
    assert report["veq"]["VEQ"] == 0 and report["veq"]["VEQ_SQ"] == 0 and report["veq"]["VEQ_RQ"] == 0
    assert [w["fn"] for w in report["veq"]["windows"]] == [8, 6, 2, 0, 0]  # 2 tubes x windows
    assert report["stq"]["STQ"] == 0 and report["stq"]["AQ"] == 0 and report["stq"]["IoU"] == 0


def test_fixed_on_golden_fullcover_minus1(tmp_path, capsys):
    """--fixed: IoU = entity IoU only (not halved by the void column); no crowd GT tube.

    Expected from the official confusion matrices (rows GT, cols pred; 0 unused, 1 entity,
    2 void): with the GT-void row zeroed, IoU_entity = m11 / (m01 + m11 + m10 + m12).
    """
    expected = next(c for c in json.loads((GOLDEN / "expected.json").read_text())["cases"]
                    if c["name"] == "fullcover_minus1")
    out = tmp_path / "r.json"
    code, _, err = run_cli(
        ["eval", "--pred", str(GOLDEN / "pred_fullcover_minus1"), "--gt",
         str(GOLDEN / "gt/panomasksRGB"), "--gt-json", str(GOLDEN / "gt/panoptic_gt.json"),
         "--json", str(out), "--fixed", "--no-progress"], capsys)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["fixed"] is True
    total = np.zeros((3, 3), np.int64)
    for got, exp in zip(report["stq"]["per_sequence"], expected["stq"]["per_sequence"]):
        m = np.array(exp["confusion_3x3"])
        total += m
        assert got["IoU"] == pytest.approx(m[1, 1] / (m[0, 1] + m[1, 1] + m[1, 0] + m[1, 2]), abs=1e-12)
        assert got["num_gt_tubes"] == exp["num_gt_tubes"] + 1 and got["crowd_gt_id"] is None
    assert report["stq"]["IoU"] == pytest.approx(total[1, 1] / (total[0, 1] + total[1].sum()), abs=1e-12)
    assert report["stq"]["IoU"] > 0.99 > 0.5 > expected["stq"]["IoU"]  # official: halved
    assert report["veq"]["VEQ"] == pytest.approx(expected["veq"]["VEQ"], abs=1e-9)


def test_gt_listed_in_some_frames_only_is_a_clear_error(tmp_path, capsys):
    """GT id 2 listed in frame 0 but not in frame 1 while its pixels stay in the PNG.

    Window [0, 1] (as the official script): I(2, 20) = 4 + 4 = 8 px, A_gt = 4 (JSON area of
    frame 0 only), A_pred = 8 -> union = 8 + 4 - 8 = 4 -> IoU 2 > 1: the official VEQ stops
    on its assertion; we stop with a one-line error.
    """
    paths = write_vipseg(tmp_path, [{"video_id": "v", "gt": [L] * 2, "pred": [halves(10, 20)] * 2}])
    data = json.loads(open(paths["gt_json"]).read())
    frame1 = data["annotations"][0]["annotations"][1]["segments_info"]
    frame1[:] = [s for s in frame1 if s["id"] != 2]
    open(paths["gt_json"], "w").write(json.dumps(data))
    code, _, err = run_cli(["eval", "--pred", paths["pred"], "--gt", paths["gt"], "--gt-json",
                            paths["gt_json"], "--no-progress"], capsys)
    assert code == 2 and "GT id 2: IoU 2.000 > 1" in err
