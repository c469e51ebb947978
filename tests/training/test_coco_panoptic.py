"""COCO-panoptic reader: round trip on the synthetic set, crowd/empty handling, clear errors."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.ids import id2rgb
from entitysam.training.coco_panoptic import CocoPanoptic, coco_panoptic_paths
from entitysam.synthetic.coco import generate_image


def test_round_trip_entities(synth_root, synth_cfg):
    ds = CocoPanoptic.from_root(synth_root)
    assert len(ds) == synth_cfg.num_images  # empty images are kept (§4)
    for i, rec in enumerate(ds):
        scene = generate_image(synth_cfg, i)
        image, ids = ds.load(rec)
        assert image.dtype == np.uint8 and image.shape == (synth_cfg.height, synth_cfg.width, 3)
        assert np.array_equal(ids, scene.ids)  # PNG id encoding is lossless
        assert np.abs(image.astype(int) - scene.image).mean() < 8  # JPEG, lossy but close
        assert [(s.id, s.area, s.iscrowd) for s in rec.segments] == [
            (s["id"], s["area"], bool(s["iscrowd"])) for s in scene.segments_info
        ]
        for s in rec.segments:
            assert (ids == s.id).sum() == s.area


def test_crowd_is_not_an_entity(synth_root):
    ds = CocoPanoptic.from_root(synth_root)
    crowd = [s for r in ds for s in r.segments if s.iscrowd]
    assert crowd  # the fixture has a crowd segment in every non-empty image
    for rec in ds:
        assert [s.id for s in rec.entities] == [s.id for s in rec.segments if not s.iscrowd]  # JSON order


def test_empty_image_kept(synth_root):
    rec = CocoPanoptic.from_root(synth_root)[-1]
    assert rec.segments == () and rec.entities == ()


def _write(root, categories, segments_info, images=True, size=(4, 6)):
    json_path, png_dir, image_dir = coco_panoptic_paths(root)
    for d in (json_path.parent, png_dir, image_dir):
        d.mkdir(parents=True, exist_ok=True)
    ids = np.zeros(size, np.int64)
    for k, s in enumerate(segments_info):
        ids[k] = s["id"]
    Image.fromarray(id2rgb(ids)).save(png_dir / "a.png")
    Image.fromarray(np.zeros(size + (3,), np.uint8)).save(image_dir / "a.jpg")
    data = {"annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": segments_info}],
            "categories": categories}
    if images:
        data["images"] = [{"id": 1, "file_name": "a.jpg", "height": size[0], "width": size[1]}]
    json_path.write_text(json.dumps(data))
    return json_path


def test_contiguous_labels_things_first(tmp_path):
    cats = [{"id": 3, "name": "sky", "isthing": 0}, {"id": 9, "name": "dog", "isthing": 1},
            {"id": 1, "name": "wall", "isthing": 0}, {"id": 5, "name": "cat", "isthing": 1}]
    segs = [{"id": 10 + c["id"], "category_id": c["id"], "iscrowd": 0, "area": 6, "bbox": [0, 0, 6, 1]} for c in cats]
    _write(tmp_path, cats, segs)
    ds = CocoPanoptic.from_root(tmp_path)
    # things by id (5 -> 0, 9 -> 1), then stuff by id (1 -> 2, 3 -> 3); label = contiguous + 1
    assert {s.category_id: s.label for s in ds[0].segments} == {5: 1, 9: 2, 1: 3, 3: 4}
    assert {s.category_id: s.isthing for s in ds[0].segments} == {5: True, 9: True, 1: False, 3: False}


def test_image_path_rule(tmp_path):
    cats = [{"id": 1, "name": "x", "isthing": 1}]
    segs = [{"id": 5, "category_id": 1, "iscrowd": 0, "area": 6, "bbox": [0, 0, 6, 1]}]
    _write(tmp_path, cats, segs, images=False)  # no 'images': the official stem + .jpg rule
    ds = CocoPanoptic.from_root(tmp_path)
    assert ds[0].image_path.name == "a.jpg"
    image, ids = ds.load(ds[0])
    assert image.shape == (4, 6, 3) and (ids == 5).sum() == 6


def _one_line(exc):
    return "\n" not in str(exc.value)


def test_errors(tmp_path, synth_root):
    root = tmp_path / "c"
    shutil.copytree(synth_root, root)
    json_path, png_dir, image_dir = coco_panoptic_paths(root)
    good = json_path.read_text()

    with pytest.raises(EntitySAMError, match="not found") as e:
        CocoPanoptic.from_root(root, split="val2017")
    assert "panoptic_val2017.json" in str(e.value) and _one_line(e)

    json_path.write_text(good[:-10])
    with pytest.raises(EntitySAMError, match="malformed JSON at line 1") as e:
        CocoPanoptic.from_root(root)
    assert _one_line(e)

    json_path.write_text(json.dumps({"images": []}))
    with pytest.raises(EntitySAMError, match="'annotations'"):
        CocoPanoptic.from_root(root)

    data = json.loads(good)
    data["annotations"][0]["segments_info"][0]["category_id"] = 999
    json_path.write_text(json.dumps(data))
    with pytest.raises(EntitySAMError, match="category_id 999"):
        CocoPanoptic.from_root(root)

    data = json.loads(good)
    del data["annotations"][1]["segments_info"][0]["id"]
    json_path.write_text(json.dumps(data))
    with pytest.raises(EntitySAMError, match=r"annotations\[1\]: malformed segment"):
        CocoPanoptic.from_root(root)

    data = json.loads(good)
    data["annotations"][0]["segments_info"][0]["bbox"] = None
    json_path.write_text(json.dumps(data))
    with pytest.raises(EntitySAMError, match=r"annotations\[0\]: malformed segment .*TypeError") as e:
        CocoPanoptic.from_root(root)
    assert _one_line(e)

    data = json.loads(good)
    data["annotations"][0]["segments_info"][0]["id"] = 2**24
    json_path.write_text(json.dumps(data))
    with pytest.raises(EntitySAMError, match="outside"):
        CocoPanoptic.from_root(root)

    json_path.write_text(good)
    ds = CocoPanoptic.from_root(root)
    ds[0].image_path.unlink()
    with pytest.raises(EntitySAMError, match="image not found") as e:
        ds.load(ds[0])
    assert _one_line(e)
    ds[1].png_path.write_bytes(b"not a png")
    with pytest.raises(EntitySAMError, match="cannot read image"):
        ds.load(ds[1])
    Image.new("RGB", (5, 5)).save(ds[2].png_path)
    with pytest.raises(EntitySAMError, match="differs from image"):
        ds.load(ds[2])

    shutil.rmtree(png_dir)
    with pytest.raises(EntitySAMError, match="panoptic PNG folder not found"):
        CocoPanoptic.from_root(root)
