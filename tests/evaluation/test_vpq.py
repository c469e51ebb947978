"""--task panoptic: VIPSeg VPQ (All / Things / Stuff) and class-aware STQ on hand-built cases.

Frames are 2x4: the top row plus the two left pixels of the bottom row are sky (category 0,
stuff, GT id 1, 6 px); the two right pixels of the bottom row are a car (category 1, thing,
GT id 2, 2 px). 8 frames, so every window length (1, 2, 4, 6, 8) has windows: 8, 7, 5, 3, 1.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval_testkit import run_cli, write_vipseg
from entitysam.evaluation.vpq import evaluate_panoptic, pq_average
from entitysam.evaluation.veq import PQStat

CATS = [{"id": 0, "name": "sky", "isthing": 0, "color": [0, 0, 9]},
        {"id": 1, "name": "car", "isthing": 1, "color": [9, 0, 0]}]
GT = np.array([[1, 1, 1, 1], [1, 1, 2, 2]])
GT_CATS = {1: 0, 2: 1}


def scene(sky: int, car: int) -> np.ndarray:
    return np.where(GT == 1, sky, car)


def evaluate(tmp_path, pred, pred_cats, **kw):
    paths = write_vipseg(tmp_path, [{"video_id": "v", "gt": [GT] * 8, "gt_cats": GT_CATS,
                                     "pred": pred, "pred_cats": pred_cats}], CATS)
    return evaluate_panoptic(paths["pred"], paths["gt"], paths["gt_json"], **kw)


def test_perfect_prediction_is_100_and_1(tmp_path):
    report = evaluate(tmp_path, [scene(10, 20)] * 8, {10: 0, 20: 1})
    for w in report["vpq"]["windows"]:
        assert (w["VPQ"], w["VPQ_thing"], w["VPQ_stuff"], w["SQ"], w["RQ"]) == (100, 100, 100, 100, 100)
    assert report["vpq"]["VPQ"] == 100 and report["vpq"]["VPQ_thing"] == 100
    assert (report["stq"]["STQ"], report["stq"]["AQ"], report["stq"]["IoU"]) == (1, 1, 1)


def test_empty_prediction_is_zero(tmp_path):
    report = evaluate(tmp_path, [GT * 0] * 8, {})
    assert report["vpq"]["VPQ"] == 0 and report["vpq"]["VPQ_thing"] == 0 and report["vpq"]["VPQ_stuff"] == 0
    assert (report["stq"]["STQ"], report["stq"]["AQ"], report["stq"]["IoU"]) == (0, 0, 0)


def test_wrong_category_never_matches(tmp_path):
    """The car predicted with category sky (as a second segment, id 20).

    VPQ, any window of w frames: sky TP w (IoU 1), the car pred is an FP under *its* category
    (sky): FP w; car FN w. PQ_sky = w / (w + w/2) = 2/3, PQ_car = 0 -> All 1/3, Things 0,
    Stuff 2/3 (x100) for every k.
    STQ: confusion sky->sky 6, car->sky 2 per frame: IoU_sky = 6/8, IoU_car = 0 (union 2),
    void column empty -> IoU = 0.375. AQ: no predicted thing pixel -> 0 -> STQ 0.
    """
    report = evaluate(tmp_path, [scene(10, 20)] * 8, {10: 0, 20: 0})
    for w in report["vpq"]["windows"]:
        assert w["VPQ"] == pytest.approx(100 / 3) and w["VPQ_thing"] == 0
        assert w["VPQ_stuff"] == pytest.approx(200 / 3)
    assert report["stq"]["IoU"] == 0.375 and report["stq"]["AQ"] == 0 and report["stq"]["STQ"] == 0


def test_car_id_switch_halfway(tmp_path):
    """Car predicted as id 20 in frames 0-3 and id 21 in frames 4-7 (category car); sky perfect.

    Car, per window length (GT car tube = 2 px per frame):
      n=1: 8 windows, all IoU 1 -> TP 8 -> PQ 1.
      n=2: 7 windows; [3,4]: 2/4 = 0.5 for both ids -> no match (FN 1, FP 2); 6 others match
           -> PQ = 6 / (6 + 1 + 0.5) = 0.8.
      n=4: starts 0..4: [0-3] 1, [1-4] 20 covers 6/8 = 0.75 (21 FP), [2-5] 0.5/0.5 (FN 1,
           FP 2), [3-6] 21 covers 0.75 (20 FP), [4-7] 1 -> TP 4, iou 3.5, FP 4, FN 1
           -> PQ = 3.5 / (4 + 2 + 0.5) = 3.5 / 6.5.
      n=6: [0-5] 8/12 (21 FP), [1-6] 0.5/0.5 (FN 1, FP 2), [2-7] 8/12 (20 FP) -> TP 2,
           iou 4/3, FP 4, FN 1 -> PQ = (4/3) / 4.5.
      n=8: one window, 8/16 = 0.5 for both -> TP 0 -> PQ 0.
    Sky is 1 everywhere: VPQ = (1 + PQ_car) / 2, Things = PQ_car, Stuff = 1.
    STQ: sky is first seen (instance 0) but stuff -> not crowd. AQ over the car tube (16 px):
      20 and 21 each 8 px -> inner = 2 * 8 * 8/16 = 8 -> AQ = 8/16 = 0.5; IoU 1; STQ sqrt(0.5).
    """
    pred = [scene(10, 20)] * 4 + [scene(10, 21)] * 4
    report = evaluate(tmp_path, pred, {10: 0, 20: 1, 21: 1})
    car = [1.0, 0.8, 3.5 / 6.5, (4 / 3) / 4.5, 0.0]
    for w, pq in zip(report["vpq"]["windows"], car):
        assert w["VPQ_thing"] == pytest.approx(100 * pq, abs=1e-12)
        assert w["VPQ"] == pytest.approx(100 * (1 + pq) / 2, abs=1e-12)
        assert w["VPQ_stuff"] == 100
    assert report["vpq"]["VPQ_thing"] == pytest.approx(100 * sum(car) / 5, abs=1e-12)
    assert report["stq"]["AQ"] == 0.5 and report["stq"]["IoU"] == 1
    assert report["stq"]["STQ"] == pytest.approx(math.sqrt(0.5))


def test_pq_average_skips_categories_without_segments():
    stats = {0: PQStat(iou=1.0, tp=1), 1: PQStat(), 3: PQStat(fp=2)}
    assert pq_average(stats, {0, 1, 2, 3}) == (0.5, 0.5, 0.5)  # mean of cats 0 (1.0) and 3 (0)
    assert pq_average(stats, {1, 2}) == (0.0, 0.0, 0.0)


def test_cli_panoptic_json_and_unknown_category(tmp_path, capsys):
    paths = write_vipseg(tmp_path, [{"video_id": "v", "gt": [GT] * 2, "gt_cats": GT_CATS,
                                     "pred": [scene(10, 20)] * 2, "pred_cats": {10: 0, 20: 7}}], CATS)
    argv = ["eval", "--task", "panoptic", "--pred", paths["pred"], "--gt", paths["gt"],
            "--gt-json", paths["gt_json"], "--no-progress"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "category_id 7, not a GT category" in err and "pred.json" in err
    paths = write_vipseg(tmp_path / "ok", [{"video_id": "v", "gt": [GT] * 2, "gt_cats": GT_CATS,
                                            "pred": [scene(10, 20)] * 2, "pred_cats": {10: 0, 20: 1}}], CATS)
    out = tmp_path / "r.json"
    code, text, err = run_cli(["eval", "--task", "panoptic", "--pred", paths["pred"], "--gt",
                               paths["gt"], "--gt-json", paths["gt_json"], "--json", str(out),
                               "--no-progress"], capsys)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert set(report["vpq"]) >= {"VPQ", "VPQ_thing", "VPQ_stuff", "windows"}
    assert set(report["vpq"]["windows"][0]) >= {"k", "VPQ", "VPQ_thing", "VPQ_stuff", "SQ", "RQ"}
    assert set(report["stq"]) >= {"STQ", "AQ", "IoU"}
    # 2 frames: windows k=0, 5 are perfect, k=15/25/35 have none -> 40.
    assert report["vpq"]["VPQ"] == 40 and "VPQ_thing" in text
