"""segment --dataset (tiny model) -> classify --dataset (a tiny random-weight CLIP, no network)
-> eval, for the task of each dataset layout: the chain runs end to end on the generated
mini-datasets, and eval reads exactly the files the driver and classify wrote."""

import json

import pytest

from entitysam.cli import main
from entitysam.segment import segment_dataset
from entitysam.synthetic.datasets import write_mini_dataset
from entitysam.synthetic.videos import CATEGORIES


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.mark.filterwarnings("ignore:model 'tiny' has no trained weights")
@pytest.mark.parametrize("layout", ["vipseg", "vspw", "ytvis"])
def test_segment_classify_eval(layout, tmp_path, tiny_clip, capsys):
    import torch

    root = write_mini_dataset(tmp_path / "data", layout, num_videos=2, num_frames=2, size=(24, 32))
    seg = tmp_path / "seg"
    summary = segment_dataset(root, layout, seg, model="tiny", device="cpu", progress=False)
    assert summary.videos == 2 and (seg / "pred.json").is_file()
    if layout == "vipseg":
        vocab = root / "panoptic_gt_VIPSeg_val.json"
    elif layout == "vspw":
        vocab = tmp_path / "classes.json"  # class index = raw VSPW value - 1
        vocab.write_text(json.dumps({"categories": CATEGORIES}))
    else:
        vocab = root.parent / "valid.json"
    cls = tmp_path / "cls"
    state = torch.random.get_rng_state()
    torch.manual_seed(0)  # the random CLIP weights
    run(capsys, "classify", str(seg), "--frames", str(root), "--dataset", layout, "--vocab", str(vocab),
        "--backend", "clip", "--clip-model", tiny_clip, "-o", str(cls))
    torch.random.set_rng_state(state)
    if layout == "vipseg":
        pred = json.loads((cls / "pred.json").read_text())
        assert [a["video_id"] for a in pred["annotations"]] == ["synth_0000_000", "synth_0000_001"]
        out = run(capsys, "eval", "--task", "panoptic", "--pred", str(cls), "--gt", str(root / "panomasksRGB"),
                  "--gt-json", str(vocab), "--no-progress")
        assert "VPQ" in out
        out = run(capsys, "eval", "--task", "entity", "--pred", str(seg), "--gt", str(root / "panomasksRGB"),
                  "--gt-json", str(vocab), "--no-progress")
        assert "STQ^EN" in out
    elif layout == "vspw":
        assert sorted(p.name for p in cls.iterdir() if p.is_dir() and not p.name.startswith(".")) == \
            ["synth_0000_000", "synth_0000_001"]
        out = run(capsys, "eval", "--task", "semantic", "--pred", str(cls), "--gt", str(root), "--no-progress")
        assert "mIoU" in out
    else:
        results = json.loads((cls / "results.json").read_text())
        assert results and {r["video_id"] for r in results} <= {10, 20}
        out = run(capsys, "eval", "--task", "instance", "--pred", str(cls / "results.json"),
                  "--gt-json", str(vocab))
        assert "AP" in out
