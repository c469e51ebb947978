"""--task semantic: VSPW mIoU / mVC8 / mVC16 on hand-built cases (arithmetic in docstrings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eval_testkit import run_cli
from entitysam.evaluation.vspw import evaluate_semantic, shift_gt, video_consistency

# Raw VSPW values: 1 -> class 0, 2 -> class 1 (row 0: class 0, row 1: class 1), 2x3 frames.
RAW = np.array([[1, 1, 1], [2, 2, 2]], np.uint8)
CLASSES = RAW.astype(np.int64) - 1


def write_vspw(root: Path, videos: dict[str, tuple[list, list | None]]) -> tuple[str, str]:
    """videos: name -> (raw GT masks, predicted class maps or None = no prediction folder)."""
    (root / "vspw").mkdir(parents=True)
    (root / "vspw" / "val.txt").write_text("\n".join(videos) + "\n")
    for name, (gts, preds) in videos.items():
        for i, gt in enumerate(gts):
            path = root / "vspw" / "data" / name / "mask" / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(gt, np.uint8)).save(path)
            if preds is not None:
                path = root / "pred" / name / f"{i:05d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.asarray(preds[i], np.uint8)).save(path)
    (root / "pred").mkdir(exist_ok=True)
    return str(root / "pred"), str(root / "vspw")


def test_label_shift():
    assert shift_gt(np.array([0, 1, 124, 125, 255])).tolist() == [254, 0, 123, 124, 254]


def test_perfect_prediction_is_1(tmp_path):
    pred, root = write_vspw(tmp_path, {"a": ([RAW] * 18, [CLASSES] * 18)})
    report = evaluate_semantic(pred, root)
    assert (report["mIoU"], report["mVC8"], report["mVC16"]) == (1, 1, 1)
    # L = 18: starts 0..L-n-1 -> 10 windows of 8, 2 windows of 16 (one short, as VC_perclip)
    assert report["vc_windows"] == {"8": 10, "16": 2}


def test_all_wrong_prediction_has_zero_miou(tmp_path):
    """Every pixel predicted class 5: IoU_0 = IoU_1 = 0; class 5 is only predicted (no GT)
    and does not enter the mean -> mIoU 0. The constant prediction is perfectly consistent."""
    pred, root = write_vspw(tmp_path, {"a": ([RAW] * 9, [np.full((2, 3), 5)] * 9)})
    report = evaluate_semantic(pred, root)
    assert report["mIoU"] == 0 and report["mVC8"] == 1 and report["mVC16"] is None


def test_flickering_pixel(tmp_path):
    """Pixel (0, 0) predicted class 1 on odd frames (wrong), correct otherwise; 18 frames.

    Confusion: GT class 0: 3 px x 18 = 54, of which 9 predicted 1; GT class 1: 54 all right.
    IoU_0 = 45 / (54 + 45 - 45) = 45/54; IoU_1 = 54 / (54 + 63 - 54) = 54/63.
    VC: GT constant everywhere; the flickering pixel is never constant in a window of 8 or
    16 -> VC = 5/6 in every window.
    """
    preds = []
    for t in range(18):
        p = CLASSES.copy()
        p[0, 0] = t % 2
        preds.append(p)
    pred, root = write_vspw(tmp_path, {"a": ([RAW] * 18, preds)})
    report = evaluate_semantic(pred, root)
    assert report["mIoU"] == pytest.approx((45 / 54 + 54 / 63) / 2, abs=1e-15)
    assert report["mVC8"] == pytest.approx(5 / 6) and report["mVC16"] == pytest.approx(5 / 6)


def test_ignored_labels(tmp_path):
    """Raw 0 ("others") and 255 are ignored by mIoU whatever is predicted there."""
    gt = RAW.copy()
    gt[0, 0], gt[1, 0] = 0, 255
    pred_map = CLASSES.copy()
    pred_map[0, 0], pred_map[1, 0] = 1, 0  # wrong, but on ignored pixels
    pred, root = write_vspw(tmp_path, {"a": ([gt] * 3, [pred_map] * 3)})
    assert evaluate_semantic(pred, root)["mIoU"] == 1.0


def test_mvc_pools_windows_over_videos(tmp_path):
    """Video a: 18 frames, VC 1 in its 10 windows of 8. Video b: 9 frames (one window of 8),
    pixel (0, 0) flickers: VC = 5/6. Pooled over windows (VC_perclip.py):
    (10 * 1 + 5/6) / 11, not the mean of the per-video values (1 + 5/6) / 2."""
    flicker = []
    for t in range(9):
        p = CLASSES.copy()
        p[0, 0] = t % 2
        flicker.append(p)
    pred, root = write_vspw(tmp_path, {"a": ([RAW] * 18, [CLASSES] * 18), "b": ([RAW] * 9, flicker)})
    assert evaluate_semantic(pred, root)["mVC8"] == pytest.approx((10 + 5 / 6) / 11, abs=1e-15)


def test_video_consistency_windows():
    """GT pixel 1 changes between frames 4 and 5; predicted pixel 0 between frames 6 and 7.

    L = 10, n = 4: starts 0..5 (L - n - 1 = 5; the last start 6 is skipped as VC_perclip).
    Window i covers i..i+3: the GT change is inside for i in {2, 3, 4}, the predicted one for
    i in {4, 5}. i = 0, 1: 2/2; i = 2, 3: C_gt = {0}, pred constant -> 1/1; i = 4: C_gt = {0},
    pixel 0 not constant in the prediction -> 0/1; i = 5: C_gt = {0, 1}, only pixel 1 -> 1/2.
    """
    gt = np.zeros((10, 1, 2), np.int64)
    gt[5:, 0, 1] = 3
    pred = np.zeros((10, 1, 2), np.int64)
    pred[7:, 0, 0] = 1
    assert video_consistency(gt, pred, 4) == [1.0, 1.0, 1.0, 1.0, 0.0, 0.5]


def test_semantic_cli_errors_and_json(tmp_path, capsys):
    pred, root = write_vspw(tmp_path, {"a": ([RAW] * 2, [CLASSES] * 2), "b": ([RAW] * 2, None)})
    code, _, err = run_cli(["eval", "--task", "semantic", "--pred", pred, "--gt", root,
                            "--no-progress"], capsys)
    assert code == 2 and "prediction video missing" in err and str(Path(pred) / "b") in err
    out = tmp_path / "r.json"
    code, text, err = run_cli(["eval", "--task", "semantic", "--pred", pred, "--gt", root,
                               "--missing", "skip", "--json", str(out), "--no-progress"], capsys)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["mIoU"] == 1 and report["missing"]["videos"] == ["b"] and "mIoU" in text
    Image.fromarray(np.full((2, 3), 200, np.uint8)).save(Path(pred) / "a" / "00001.png")
    code, _, err = run_cli(["eval", "--task", "semantic", "--pred", pred, "--gt", root,
                            "--missing", "skip", "--no-progress"], capsys)
    assert code == 2 and "class indices 0..123" in err and "00001.png" in err
