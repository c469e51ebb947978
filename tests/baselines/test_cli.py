"""``entitysam segment --method sam2-everything|sam2-mask-init``: the baselines through the CLI."""

import json

from entitysam.cli import main


def test_segment_cli_runs_mask_init_baseline(synthetic_root, tmp_path, capsys):
    video = "synth_0003_000"
    init = synthetic_root / "panomasksRGB" / video / "00000000.png"
    out = tmp_path / "out"
    rc = main(["segment", str(synthetic_root / "images" / video), "-o", str(out), "--method", "sam2-mask-init",
               "--sam2-model", "sam2.1-test", "--init-masks", str(init), "--formats", "panoptic,rle",
               "--device", "cpu", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    pred = json.loads((out / "pred.json").read_text())["annotations"][0]
    gt = json.loads((synthetic_root / "panoptic_gt_synthetic.json").read_text())["annotations"][0]
    # frame 0 reproduces the given masks: same number of segments with the same areas
    assert sorted(s["area"] for s in pred["annotations"][0]["segments_info"]) == \
        sorted(s["area"] for s in gt["annotations"][0]["segments_info"])
    assert (out / "rle.json").is_file() and json.loads((out / "summary.json").read_text())["frames"] == 3


def test_segment_cli_everything_baseline_and_flag_errors(synthetic_root, tmp_path, capsys):
    src = str(synthetic_root / "images" / "synth_0003_000")
    out = tmp_path / "e"
    assert main(["segment", src, "-o", str(out), "--method", "sam2-everything", "--sam2-model", "sam2.1-test",
                 "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
                 "--formats", "panoptic", "--device", "cpu", "--no-progress"]) == 0
    assert (out / "pred.json").is_file()
    capsys.readouterr()
    assert main(["segment", src, "-o", str(tmp_path / "f"), "--method", "sam2-everything", "--online",
                 "--sam2-model", "sam2.1-test", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --online applies only to --method entitysam, not sam2-everything"]
    assert not (tmp_path / "f").exists()
    assert main(["segment", src, "-o", str(tmp_path / "g"), "--method", "sam2-mask-init", "--entity-score",
                 "foreground", "--sam2-model", "sam2.1-test", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --entity-score applies only to --method entitysam, not sam2-mask-init"]
    assert not (tmp_path / "g").exists()
