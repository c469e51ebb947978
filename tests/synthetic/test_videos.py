"""Synthetic entity videos: VIPSeg layout, deterministic, entities that enter late / leave / get occluded."""

import hashlib
import json

import numpy as np
from PIL import Image

from entitysam.cli import main
from entitysam.io.ids import rgb2id


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_consistency_and_determinism(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["synthetic", "videos", "-o", str(a), "--videos", "3", "--frames", "12", "--size", "96x64", "--seed", "3"]) == 0
    assert main(["synthetic", "videos", "-o", str(b), "--videos", "3", "--frames", "12", "--size", "96x64", "--seed", "3"]) == 0
    assert _digest(a) == _digest(b)
    gt = json.loads((a / "panoptic_gt_synthetic.json").read_text())
    assert len(gt["videos"]) == 3 and {c["isthing"] for c in gt["categories"]} == {0, 1}
    ann = {v["video_id"]: v["annotations"] for v in gt["annotations"]}
    for video in gt["videos"]:
        vid = video["video_id"]
        assert len(video["images"]) == 12 and len(ann[vid]) == 12
        for img, fa in zip(video["images"], ann[vid]):
            ids = rgb2id(np.array(Image.open(a / "panomasksRGB" / vid / img["file_name"])))
            assert ids.shape == (64, 96)
            assert Image.open(a / "images" / vid / img["file_name"].replace(".png", ".jpg")).size == (96, 64)
            listed = {s["id"]: s["area"] for s in fa["segments_info"]}
            present, counts = np.unique(ids, return_counts=True)
            assert dict(zip(present.tolist(), counts.tolist())) == listed  # every pixel labelled, areas exact


def test_entities_enter_late_and_get_occluded(tmp_path):
    root = tmp_path / "v"
    assert main(["synthetic", "videos", "-o", str(root), "--videos", "6", "--frames", "16", "--size", "160x96"]) == 0
    ents = json.loads((root / "entities.json").read_text())
    things = [e for v in ents.values() for e in v if e["isthing"]]
    assert any(e["first_frame"] > 0 for e in things), "some things enter after frame 0"
    assert any(e["last_frame"] < 15 for e in things), "some things leave"
    gaps = [e for e in things if e["frames_visible"] < e["last_frame"] - e["first_frame"] + 1]
    assert gaps, "some thing disappears (occluded) and reappears"


def test_refuses_non_empty_output(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("1")
    assert main(["synthetic", "videos", "-o", str(tmp_path / "x")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_synthetic_coco_command_writes_a_readable_set(tmp_path):
    from entitysam.training.coco_panoptic import CocoPanoptic

    out = tmp_path / "coco"
    assert main(["synthetic", "coco", str(out), "--num-images", "3", "--size", "48", "64", "--seed", "1"]) == 0
    ds = CocoPanoptic.from_root(out)
    assert len(ds) == 3 and ds.load(ds[0])[0].shape == (48, 64, 3)
