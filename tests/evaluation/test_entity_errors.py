"""Clear one-line errors (exit code 2) naming the offending file, for bad entity inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from eval_testkit import GOLDEN, run_cli

VIDEO = "e2_void_threshold"  # 3 frames, 12x16, in gt_edge/


@pytest.fixture
def case(tmp_path):
    """A writable copy of the golden edge case (GT + pred_edge_a)."""
    shutil.copytree(GOLDEN / "gt_edge", tmp_path / "gt")
    shutil.copytree(GOLDEN / "pred_edge_a", tmp_path / "pred")
    return tmp_path


def run(case, capsys, *extra):
    code, out, err = run_cli(
        ["eval", "--pred", str(case / "pred"), "--gt", str(case / "gt" / "panomasksRGB"),
         "--gt-json", str(case / "gt" / "panoptic_gt.json"), "--no-progress", *extra], capsys)
    return code, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def frame_png(case, i=1):
    return case / "pred" / "pan_pred" / VIDEO / sorted(
        p.name for p in (case / "pred" / "pan_pred" / VIDEO).iterdir())[i]


def edit_pred_json(case, fn):
    path = case / "pred" / "pred.json"
    data = json.loads(path.read_text())
    frames = next(v for v in data["annotations"] if v["video_id"] == VIDEO)["annotations"]
    fn(data, frames)
    path.write_text(json.dumps(data))


def test_unmodified_copy_runs(case, capsys):
    assert run(case, capsys)[0] == 0


def test_missing_prediction_frame(case, capsys):
    png = frame_png(case)
    png.unlink()
    assert_one_line_error(*run(case, capsys), "prediction frame missing", str(png))


def test_size_mismatch(case, capsys):
    png = frame_png(case)
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(png)
    assert_one_line_error(*run(case, capsys), "size mismatch", str(png), "7x5", "16x12")


def test_unreadable_png(case, capsys):
    png = frame_png(case)
    png.write_bytes(b"not a png at all")
    assert_one_line_error(*run(case, capsys), "cannot read prediction frame", str(png))


def test_grey_png_is_not_an_id_map(case, capsys):
    png = frame_png(case)
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(png)
    assert_one_line_error(*run(case, capsys), "not an RGB PNG", str(png))


def test_malformed_prediction_json(case, capsys):
    (case / "pred" / "pred.json").write_text('{"annotations": [')
    assert_one_line_error(*run(case, capsys), "malformed prediction JSON", "pred.json")


def test_prediction_json_with_wrong_layout(case, capsys):
    (case / "pred" / "pred.json").write_text('{"videos": []}')
    assert_one_line_error(*run(case, capsys), "malformed prediction JSON", "pred.json")


def test_malformed_gt_json(case, capsys):
    (case / "gt" / "panoptic_gt.json").write_text("[1, 2")
    assert_one_line_error(*run(case, capsys), "malformed GT JSON", "panoptic_gt.json")


def test_gt_json_not_found(case, capsys):
    (case / "gt" / "panoptic_gt.json").unlink()
    assert_one_line_error(*run(case, capsys), "GT JSON not found", "panoptic_gt.json")


def test_missing_gt_png(case, capsys):
    png = case / "gt" / "panomasksRGB" / VIDEO / "00000005.png"
    png.unlink()
    assert_one_line_error(*run(case, capsys), "GT PNG missing", str(png))


def test_png_id_not_listed_in_json(case, capsys):
    edit_pred_json(case, lambda d, frames: frames[1]["segments_info"].pop())
    assert_one_line_error(*run(case, capsys), "is not listed in", str(frame_png(case)),
                          str(case / "pred" / "pred.json"))


def test_listed_id_absent_from_png(case, capsys):
    edit_pred_json(case, lambda d, frames: frames[1]["segments_info"].append(
        {"id": 424242, "category_id": 1, "iscrowd": 0, "area": 3}))
    assert_one_line_error(*run(case, capsys), "segment id 424242", "does not occur in",
                          str(frame_png(case)))


def test_json_area_differs_from_png(case, capsys):
    def inflate(d, frames):
        frames[1]["segments_info"][0]["area"] += 1
    edit_pred_json(case, inflate)
    assert_one_line_error(*run(case, capsys), "areas must equal the PNG pixel counts",
                          str(frame_png(case)))


def test_frame_count_mismatch(case, capsys):
    edit_pred_json(case, lambda d, frames: frames.pop())
    assert_one_line_error(*run(case, capsys), f"video {VIDEO} lists 2 frames", "pred.json")


def test_task_needs_its_inputs(case, capsys):
    code, _, err = run_cli(["eval", "--pred", str(case / "pred")], capsys)
    assert_one_line_error(code, err, "--task entity needs --gt")


def test_bad_worker_count(case, capsys):
    assert_one_line_error(*run(case, capsys, "--workers", "0"), "--workers: must be an integer >= 1")


def test_malformed_segment_names_the_json(case, capsys):
    def break_id(d, frames):
        frames[0]["segments_info"][0]["id"] = "not-an-id"
    edit_pred_json(case, break_id)
    assert_one_line_error(*run(case, capsys), "malformed segment", str(case / "pred" / "pred.json"))
