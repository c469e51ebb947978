"""The synthetic generator writes the exact COCO-panoptic layout, deterministically by seed."""

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.ids import rgb2id
from entitysam.cli import main as cli_main
from entitysam.synthetic.coco import CATEGORIES, generate_image, write_synthetic_coco_panoptic


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_json_schema(synth_root, synth_cfg):
    data = json.loads((synth_root / "annotations" / "panoptic_train2017.json").read_text())
    assert set(data) >= {"images", "annotations", "categories"}
    assert data["categories"] == CATEGORIES
    assert {c["isthing"] for c in data["categories"]} == {0, 1}
    assert len(data["images"]) == len(data["annotations"]) == synth_cfg.num_images
    for im, ann in zip(data["images"], data["annotations"]):
        assert (synth_root / "train2017" / im["file_name"]).is_file()
        assert im["file_name"].endswith(".jpg") and ann["file_name"] == im["file_name"][:-4] + ".png"
        png = np.asarray(Image.open(synth_root / "panoptic_train2017" / ann["file_name"]))
        assert png.shape == (synth_cfg.height, synth_cfg.width, 3) and png.dtype == np.uint8
        ids = rgb2id(png)
        for s in ann["segments_info"]:
            assert set(s) == {"id", "category_id", "iscrowd", "area", "bbox"}
            mask = ids == s["id"]
            assert s["area"] == mask.sum() > 0
            ys, xs = np.nonzero(mask)
            assert s["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        # every non-void pixel belongs to a listed segment
        assert set(np.unique(ids)) - {0} == {s["id"] for s in ann["segments_info"]}


def test_content_features(synth_root):
    data = json.loads((synth_root / "annotations" / "panoptic_train2017.json").read_text())
    segs = [s for a in data["annotations"] for s in a["segments_info"]]
    isthing = {c["id"]: c["isthing"] for c in data["categories"]}
    assert any(s["iscrowd"] for s in segs)  # crowd regions (crowd_prob = 1)
    assert any(isthing[s["category_id"]] for s in segs) and any(not isthing[s["category_id"]] for s in segs)
    assert data["annotations"][-1]["segments_info"] == []  # num_empty_images = 1
    # random 24-bit ids exercise the G and B channels of the PNG encoding
    assert any(s["id"] >= 65536 for s in segs)


def test_deterministic_by_seed(tmp_path, synth_cfg):
    a = _files(write_synthetic_coco_panoptic(tmp_path / "a", synth_cfg))
    b = _files(write_synthetic_coco_panoptic(tmp_path / "b", synth_cfg))
    c = _files(write_synthetic_coco_panoptic(tmp_path / "c", replace(synth_cfg, seed=8)))
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_image_independent_of_dataset_length(synth_cfg):
    a = generate_image(replace(synth_cfg, num_images=2, num_empty_images=0), 1)
    b = generate_image(replace(synth_cfg, num_images=9, num_empty_images=0), 1)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.ids, b.ids)
    assert a.segments_info == b.segments_info


def test_entity_count_parameters(synth_cfg):
    cfg = replace(synth_cfg, stuff_per_image=(2, 2), things_per_image=(0, 0), crowd_prob=0.0, void_prob=0.0,
                  num_empty_images=0)
    for i in range(3):
        segs = generate_image(cfg, i).segments_info
        assert len(segs) <= 2 and all(s["category_id"] > 3 for s in segs)  # stuff only


def test_refuses_non_empty_output(tmp_path, synth_cfg):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(EntitySAMError, match="already exists"):
        write_synthetic_coco_panoptic(tmp_path / "x", synth_cfg)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    with pytest.raises(EntitySAMError, match="num_images"):
        write_synthetic_coco_panoptic(tmp_path / "y", replace(synth_cfg, num_images=0))
    assert not (tmp_path / "y").exists()


def test_command_line(tmp_path, capsys):
    rc = cli_main(["synthetic", "coco", str(tmp_path / "cli"), "--num-images", "2", "--size", "40", "56", "--seed", "3", "--things", "1", "2"])
    assert rc == 0
    im = Image.open(tmp_path / "cli" / "train2017" / "000000000001.jpg")
    assert im.size == (56, 40)
    assert cli_main(["synthetic", "coco", str(tmp_path / "cli")]) == 2  # exists: one-line error, exit code 2
    assert "error:" in capsys.readouterr().err


def test_void_band(synth_cfg):
    cfg = replace(synth_cfg, void_prob=1.0, num_empty_images=0)
    no_void = replace(cfg, void_prob=0.0)
    for i in range(3):
        ids = generate_image(cfg, i).ids
        assert (ids == 0).all(axis=1).sum() >= cfg.height // 8  # unlabelled rows (id 0)
        assert (generate_image(no_void, i).ids > 0).all()  # stuff covers the canvas otherwise


def test_entities_have_distinct_colour_pairs(synth_cfg):
    """Every entity of an image gets its own texture colour pair, far from the others'."""
    from entitysam.synthetic.coco import PALETTE_MIN_DISTANCE, _pair_distance

    cfg = replace(synth_cfg, things_per_image=(6, 8), stuff_per_image=(3, 3))
    for i in range(4):
        scene = generate_image(cfg, i)
        sids = [s["id"] for s in scene.segments_info]
        assert len(sids) >= 6 and set(sids) <= set(scene.colours)
        for a in range(len(sids)):
            c0, c1 = scene.colours[sids[a]]
            assert np.abs(c0 - c1).sum() > 180  # visible texture contrast
            for b in range(a):
                assert _pair_distance(scene.colours[sids[a]], scene.colours[sids[b]]) >= PALETTE_MIN_DISTANCE
