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


def test_segment_dataset_with_a_baseline_equals_per_video_runs_and_resumes(tmp_path, capsys):
    """``--dataset folders --method sam2-everything``: one output for every video, each video's
    panoptic maps byte-identical to a per-video baseline run, the method and its options in the
    manifest, and a re-run with the same options does no work again."""
    from entitysam.synthetic.videos import write_synthetic_videos

    data = write_synthetic_videos(tmp_path / "data", num_videos=2, num_frames=2, size=(64, 96), seed=5)
    root = data / "images"
    base = ["--method", "sam2-everything", "--sam2-model", "sam2.1-test", "--points-per-side", "4",
            "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--device", "cpu", "--no-progress"]
    out = tmp_path / "ds"
    assert main(["segment", str(root), "--dataset", "folders", "-o", str(out), *base]) == 0, capsys.readouterr().err
    run = json.loads((out / "manifest.json").read_text())["run"]
    assert run["method"] == "sam2-everything"
    assert run["options"]["everything"]["points_per_side"] == 4
    videos = sorted(p.name for p in root.iterdir())
    pred = json.loads((out / "pred.json").read_text())["annotations"]
    assert [a["video_id"] for a in pred] == videos
    for video in videos:
        single = tmp_path / f"single_{video}"
        assert main(["segment", str(root / video), "-o", str(single), "--formats", "panoptic", *base]) == 0
        frames = sorted((single / "pan_pred" / video).iterdir())
        assert frames
        for f in frames:
            assert (out / "pan_pred" / video / f.name).read_bytes() == f.read_bytes()
    stamp = {p: p.stat().st_mtime_ns for p in (out / "pan_pred").rglob("*.png")}
    capsys.readouterr()
    assert main(["segment", str(root), "--dataset", "folders", "-o", str(out), *base]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "pan_pred").rglob("*.png")} == stamp
    # other generator options into the same OUT: refused with one line
    capsys.readouterr()
    assert main(["segment", str(root), "--dataset", "folders", "-o", str(out),
                 *[a if a != "4" else "8" for a in base]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
