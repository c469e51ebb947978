"""Bad dataset inputs: one `error:` line naming the first problem, exit 2, nothing written
(validation runs before the model is built); --skip-missing goes on without such videos."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from entitysam.cli import main
from entitysam.segment import segment_dataset
from entitysam.synthetic.datasets import write_mini_dataset
from tests.datasets.dataset_testkit import fake_factory

V0, V1 = "synth_0000_000", "synth_0000_001"


def make_case(tmp_path, case):
    """(CLI arguments after ROOT, expected message fragment)."""
    layout = {"vspw_list": "vspw", "ytvis_json": "ytvis", "ytvis_folder": "ytvis"}.get(case, "vipseg")
    root = write_mini_dataset(tmp_path / "data", layout, num_videos=2, num_frames=2, size=(24, 32))
    if case == "json":
        (root / "panoptic_gt_VIPSeg_val.json").unlink()
        return [str(root), "--dataset", "vipseg"], "VIPSeg GT JSON not found"
    if case == "no_folder":
        shutil.rmtree(root / "images" / V1)
        return [str(root), "--dataset", "vipseg"], f"video {V1}: frame folder"
    if case == "no_frames":
        for p in (root / "images" / V0).iterdir():
            p.unlink()
        return [str(root), "--dataset", "vipseg"], f"video {V0}: no .jpg frames"
    if case == "sizes":
        Image.fromarray(np.zeros((30, 32, 3), np.uint8)).save(root / "images" / V1 / "00000001.jpg")
        return [str(root), "--dataset", "vipseg"], f"video {V1}: frames of different sizes"
    if case == "unreadable":
        (root / "images" / V0 / "00000001.jpg").write_bytes(b"not a jpeg")
        return [str(root), "--dataset", "vipseg"], "cannot read frame"
    if case == "vspw_list":
        (root / "val.txt").unlink()
        return [str(root), "--dataset", "vspw"], "VSPW video list not found"
    if case == "ytvis_json":
        (root.parent / "valid.json").unlink()
        return [str(root), "--dataset", "ytvis"], "no YouTube-VIS/OVIS instances JSON found"
    if case == "ytvis_folder":
        data = json.loads((root.parent / "valid.json").read_text())
        data["videos"][1]["file_names"][1] = f"{V1}/99999.jpg"
        (root.parent / "valid.json").write_text(json.dumps(data))
        return [str(root), "--dataset", "ytvis"], f"video {V1}: frame"
    if case == "root":
        return [str(tmp_path / "nowhere"), "--dataset", "vipseg"], "dataset root not found"
    if case == "videos":
        return [str(root), "--dataset", "vipseg", "--videos", "x"], "--videos: 'x' is not a video"
    if case == "max_frames":
        return [str(root), "--dataset", "vipseg", "--max-frames", "2"], "--max-frames does not apply"
    if case == "baseline_model_option":
        return ([str(root), "--dataset", "vipseg", "--method", "sam2-everything", "--no-memory"],
                "--model, --no-memory apply only to --method entitysam")
    raise AssertionError(case)


CASES = ["json", "no_folder", "no_frames", "sizes", "unreadable", "vspw_list", "ytvis_json",
         "ytvis_folder", "root", "videos", "max_frames", "baseline_model_option"]


@pytest.mark.parametrize("case", CASES)
def test_bad_dataset_is_one_line_and_writes_nothing(tmp_path, capsys, case):
    args, fragment = make_case(tmp_path, case)
    out = tmp_path / "out" / "run"
    code = main(["segment", *args, "-o", str(out), "--model", "tiny", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert not (tmp_path / "out").exists()


def test_dataset_options_need_dataset(tmp_path, capsys):
    code = main(["segment", str(tmp_path), "-o", str(tmp_path / "o"), "--videos", "a"])
    assert code == 2 and capsys.readouterr().err.strip() == "error: --videos needs --dataset"


@pytest.mark.parametrize("case", ["no_folder", "sizes"])
def test_skip_missing_goes_on_and_lists_the_skipped(tmp_path, case):
    args, fragment = make_case(tmp_path, case)
    calls = []
    summary = segment_dataset(args[0], "vipseg", tmp_path / "out", skip_missing=True,
                              runner_factory=fake_factory(calls), progress=False)
    assert calls == [V0] and summary.videos == 1
    assert [s["video"] for s in summary.skipped] == [V1] and fragment in summary.skipped[0]["problem"]
    pred = json.loads((tmp_path / "out" / "pred.json").read_text())
    assert [a["video_id"] for a in pred["annotations"]] == [V0]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == {V0: "done"} and manifest["skipped"][0]["video"] == V1
    assert "skipped 1: " + V1 in summary.line()


def test_resume_with_other_options_is_refused(tmp_path, capsys):
    root = write_mini_dataset(tmp_path / "data", "vipseg", num_videos=2, num_frames=2, size=(24, 32))
    out = tmp_path / "out"
    segment_dataset(root, "vipseg", out, runner_factory=fake_factory(), progress=False)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    code = main(["segment", str(root), "--dataset", "vipseg", "-o", str(out), "--model", "tiny",
                 "--formats", "panoptic,rle", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "holds a run with other options" in err[0], err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    # a non-empty folder that is no run is refused as for one video
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    code = main(["segment", str(root), "--dataset", "vipseg", "-o", str(tmp_path / "other"), "--no-progress"])
    assert code == 2 and "not empty" in capsys.readouterr().err
