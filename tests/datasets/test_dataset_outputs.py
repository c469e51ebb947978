"""A dataset run writes, per format, exactly what per-video runs write, assembled in dataset
order; `entitysam eval` reads the assembled output as is (fast: a fake predictor)."""

import json

import pytest

from entitysam.cli import main
from entitysam.segment import segment_dataset, segment_video
from entitysam.synthetic.datasets import write_mini_dataset
from tests.datasets.dataset_testkit import fake_factory
from tests.inference.test_segment import FakePredictor

ALL = "panoptic,rle,ytvis,davis,overlay"


def single_runs(tmp_path, ds):
    """Each video segmented alone with segment_video (the reference)."""
    refs = {}
    for v in ds.videos:
        out = tmp_path / "single" / v.id
        segment_video(v.path, out, formats=ALL, predictor=FakePredictor(), video_name=v.id,
                      frames=v.frames, progress=False)
        refs[v.id] = out
    return refs


@pytest.mark.parametrize("layout", ["vipseg", "vspw", "ytvis", "folders"])
def test_dataset_output_is_the_per_video_outputs_assembled(tmp_path, layout):
    from entitysam.io.datasets import open_dataset

    root = write_mini_dataset(tmp_path / "data", layout, num_videos=3, num_frames=3, size=(24, 32))
    out = tmp_path / "out"
    summary = segment_dataset(root, layout, out, formats=ALL, runner_factory=fake_factory(), progress=False)
    ds = open_dataset(root, layout)
    assert summary.videos == 3 and summary.frames == 9
    refs = single_runs(tmp_path, ds)
    pred = json.loads((out / "pred.json").read_text())
    results = json.loads((out / "results.json").read_text())
    assert [a["video_id"] for a in pred["annotations"]] == [v.id for v in ds.videos]
    expected_results = []
    for k, v in enumerate(ds.videos):
        ref = refs[v.id]
        assert pred["annotations"][k] == json.loads((ref / "pred.json").read_text())["annotations"][0]
        for sub in ("pan_pred", "davis"):
            names = sorted(p.name for p in (ref / sub / v.id).iterdir())
            assert names == sorted(f.split(".")[0] + ".png" for f in (v.frames or []))
            assert sorted(p.name for p in (out / sub / v.id).iterdir()) == names
            for n in names:
                assert (out / sub / v.id / n).read_bytes() == (ref / sub / v.id / n).read_bytes()
        assert (out / "rle" / f"{v.id}.json").read_bytes() == (ref / "rle.json").read_bytes()
        assert (out / "overlay" / f"{v.id}.mp4").read_bytes() == (ref / "overlay.mp4").read_bytes()
        vid = v.dataset_id if layout == "ytvis" else k + 1
        expected_results += [{**e, "video_id": vid} for e in json.loads((ref / "ytvis.json").read_text())]
    assert results == expected_results and results
    if layout == "ytvis":
        assert {r["video_id"] for r in results} <= {10, 20, 30}
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["status"].values()) == {"done"}
    # nothing is left where the evaluators look except the assembled layout
    assert sorted(p.name for p in out.iterdir()) == [".parts", "davis", "manifest.json", "overlay",
                                                       "pan_pred", "pred.json", "results.json", "rle",
                                                       "summary.json"]


def test_eval_reads_the_dataset_output(tmp_path, capsys):
    root = write_mini_dataset(tmp_path / "data", "vipseg", num_videos=2, num_frames=3, size=(24, 32))
    out = tmp_path / "out"
    segment_dataset(root, "vipseg", out, runner_factory=fake_factory(), progress=False)
    assert main(["eval", "--task", "entity", "--pred", str(out), "--gt", str(root / "panomasksRGB"),
                 "--gt-json", str(root / "panoptic_gt_VIPSeg_val.json"), "--no-progress",
                 "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert "STQ^EN" in capsys.readouterr().out and len(report["stq"]["per_sequence"]) == 2 and report["missing"]["videos"] == []


def test_ytvis_results_evaluate_against_the_instances_json(tmp_path, capsys):
    root = write_mini_dataset(tmp_path / "data", "ytvis", num_videos=2, num_frames=3, size=(24, 32))
    out = tmp_path / "out"
    segment_dataset(root, "ytvis", out, formats="ytvis", runner_factory=fake_factory(), progress=False)
    assert main(["eval", "--task", "instance", "--pred", str(out / "results.json"),
                 "--gt-json", str(root.parent / "valid.json")]) == 0
    assert "AP" in capsys.readouterr().out
