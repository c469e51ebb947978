"""First-frame mask files: id PNGs and COCO RLE JSON in their accepted layouts."""

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from entitysam.baselines.init_masks import (
    find_init_mask_file,
    load_init_masks,
    read_id_png,
    read_rle_json,
)
from entitysam.errors import EntitySAMError
from entitysam.io.ids import id2rgb


def _ids():
    ids = np.zeros((20, 30), np.int64)
    ids[2:8, 3:12] = 7
    ids[10:18, 5:25] = 300000  # needs more than 16 bits: only the RGB encoding holds it
    ids[0:4, 20:30] = 12
    return ids


def _rle(mask, compressed=True):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    if compressed:
        return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    # uncompressed: run lengths in column-major order, starting with zeros
    flat = mask.T.ravel().astype(np.uint8)
    runs, cur, n = [], 0, 0
    for v in flat:
        if v == cur:
            n += 1
        else:
            runs.append(n)
            cur, n = v, 1
    runs.append(n)
    return {"size": list(mask.shape), "counts": runs}


def test_rgb_id_png(tmp_path):
    ids = _ids()
    Image.fromarray(id2rgb(ids)).save(tmp_path / "v.png")
    m = read_id_png(tmp_path / "v.png")
    assert m.source_ids == [7, 12, 300000]
    for k, v in enumerate(m.source_ids):
        assert np.array_equal(m.masks[k], ids == v)
    assert np.all(m.scores == 1.0)


@pytest.mark.parametrize("mode", ["L", "P", "I;16"])
def test_single_channel_id_png(tmp_path, mode):
    ids = np.where(_ids() == 300000, 200, _ids())
    arr = ids.astype(np.uint16 if mode == "I;16" else np.uint8)
    im = Image.fromarray(arr)  # uint16 -> I;16, uint8 -> L
    if mode == "P":
        im = im.convert("P")
        im.putpalette([i % 256 for i in range(768)])
    im.save(tmp_path / "v.png")
    m = read_id_png(tmp_path / "v.png")
    assert m.source_ids == [7, 12, 200]
    assert np.array_equal(m.masks[2], ids == 200)


def test_rle_json_layouts(tmp_path):
    ids = _ids()
    masks = [ids == 7, ids == 300000]
    layouts = {
        "coco.json": [{"segmentation": _rle(masks[0]), "score": 0.9, "id": 5},
                      {"segmentation": _rle(masks[1], compressed=False), "predicted_iou": 0.4}],
        "wrapped.json": {"annotations": [{"segmentation": _rle(masks[0]), "score": 0.9, "id": 5},
                                         {"segmentation": _rle(masks[1]), "score": 0.4}]},
        "bare.json": [_rle(masks[0]), _rle(masks[1])],
        "entitysam.json": {"format": "entitysam-rle/1", "tracks": [
            {"id": 5, "score": 0.9, "frames": [{"frame": 0, "rle": _rle(masks[0])}]},
            {"id": 9, "score": 0.1, "frames": [{"frame": 1, "rle": _rle(masks[0])}]},  # not on frame 0
            {"id": 2, "score": 0.4, "frames": [{"frame": 0, "rle": _rle(masks[1])}]}]},
    }
    for name, obj in layouts.items():
        (tmp_path / name).write_text(json.dumps(obj))
        m = read_rle_json(tmp_path / name)
        assert m.masks.shape == (2, 20, 30), name
        assert np.array_equal(m.masks[0], masks[0]) and np.array_equal(m.masks[1], masks[1]), name
        if name != "bare.json":
            assert m.scores.tolist() == [0.9, 0.4], name


def test_folder_lookup_and_errors(tmp_path):
    ids = _ids()
    (tmp_path / "many").mkdir()
    Image.fromarray(id2rgb(ids)).save(tmp_path / "many" / "clipA.png")
    Image.fromarray(id2rgb(ids)).save(tmp_path / "many" / "clipB.png")
    (tmp_path / "many" / "clipC").mkdir()
    Image.fromarray(id2rgb(ids)).save(tmp_path / "many" / "clipC" / "00000.png")
    assert find_init_mask_file(tmp_path / "many", "clipB").name == "clipB.png"
    assert find_init_mask_file(tmp_path / "many", "clipC").name == "00000.png"
    with pytest.raises(EntitySAMError, match="no first-frame masks for video 'other'"):
        find_init_mask_file(tmp_path / "many", "other")
    with pytest.raises(EntitySAMError, match="no such file"):
        load_init_masks(tmp_path / "missing.png", "x")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(EntitySAMError, match="no non-empty mask"):
        load_init_masks(tmp_path / "empty.png", "x")
    m = load_init_masks(tmp_path / "many", "clipA")
    with pytest.raises(EntitySAMError, match="masks are 30x20 but the video frames are 40x20"):
        m.check_size((20, 40))
    (tmp_path / "bad.json").write_text(json.dumps([{"segmentation": {"counts": "x"}}]))
    with pytest.raises(EntitySAMError, match="not a COCO RLE"):
        read_rle_json(tmp_path / "bad.json")
