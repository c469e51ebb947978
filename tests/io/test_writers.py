"""Writers: each format round-trips to the id maps it was given (spec model.md §8)."""

import json

import av
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from entitysam.errors import EntitySAMError
from entitysam.core.segments import SegmentInfo
from entitysam.inference.merge.steps import frame_segments
from entitysam.io.ids import rgb2id
from entitysam.io.writers import WRITERS, entity_colour, make_writers, parse_formats
from entitysam.io.writers.overlay import contour, render_overlay

H, W = 21, 33


def synthetic_video(n=4, seed=0, late=3):
    """n id maps (H, W) int32 with entities 1..3; entity ``late`` only in frames 1 and 2."""
    rng = np.random.default_rng(seed)
    infos = {i: SegmentInfo(i, slot=10 + i, score=0.5 + i / 10, mean_eiou=0.5, quality=0.1,
                            overlap_ratio=1.0) for i in (1, 2, 3)}
    frames = []
    for t in range(n):
        m = np.zeros((H, W), np.int32)
        m[2 + t:9 + t, 3:12] = 1
        m[12:20, 15 + t:30] = 2
        if t in (1, 2):
            m[0:3, 25:33] = 3
        m[rng.random((H, W)) < 0.02] = 0
        if late != 3:  # swap labels: a lower id appears after the higher ones
            m = np.array([0] + [{late: 3, 3: late}.get(i, i) for i in (1, 2, 3)], np.int32)[m]
        frames.append((m, frame_segments(m, infos)))
    return frames


def write_all(tmp_path, fmt, frames, names=None, **kw):
    writer = WRITERS[fmt](tmp_path, **kw)
    writer.open("vid", (H, W), 12.0)
    rng = np.random.default_rng(1)
    for t, (m, segs) in enumerate(frames):
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        writer.write_frame(t, (names or [f"{t:05d}.a.jpg" for t in range(len(frames))])[t], m, segs, rgb)
    writer.close()
    return writer


@pytest.mark.parametrize("late", [3, 1])
def test_panoptic_layout_ids_and_json(tmp_path, late):
    frames = synthetic_video(late=late)
    write_all(tmp_path, "panoptic", frames)
    pred = json.loads((tmp_path / "pred.json").read_text())
    (video,) = pred["annotations"]
    assert video["video_id"] == "vid" and len(video["annotations"]) == len(frames)
    id_of = {}
    for t, ((m, segs), rec) in enumerate(zip(frames, video["annotations"])):
        assert rec["file_name"] == f"{t:05d}.a.jpg"
        png = np.asarray(Image.open(tmp_path / "pan_pred" / "vid" / f"{t:05d}.png"))  # stem before first dot
        assert png.dtype == np.uint8 and png.shape == (H, W, 3)
        pan = rgb2id(png)
        assert [s["slot"] for s in rec["segments_info"]] == [s.slot for s in segs]
        for seg, info in zip(segs, rec["segments_info"]):
            assert id_of.setdefault(seg.id, info["id"]) == info["id"]  # constant over the video
            mask = pan == info["id"]
            assert np.array_equal(mask, m == seg.id)
            ys, xs = np.nonzero(mask)
            assert info["area"] == mask.sum()
            assert info["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
            assert info["iscrowd"] == 0 and 0 <= info["category_id"] < 123
            assert info["slot"] == seg.slot and info["score"] == seg.score
        assert np.array_equal(pan == 0, m == 0)
    assert len(set(id_of.values())) == 3 and 0 not in id_of.values()  # unique, non-zero, stable


def test_panoptic_ids_are_seeded(tmp_path):
    frames = synthetic_video()
    write_all(tmp_path / "a", "panoptic", frames)
    write_all(tmp_path / "b", "panoptic", frames)
    assert (tmp_path / "a" / "pred.json").read_text() == (tmp_path / "b" / "pred.json").read_text()


def test_rle_tracks_decode_to_the_id_maps(tmp_path):
    frames = synthetic_video()
    write_all(tmp_path, "rle", frames)
    data = json.loads((tmp_path / "rle.json").read_text())
    assert (data["height"], data["width"], data["num_frames"]) == (H, W, len(frames))
    tracks = {t["id"]: t for t in data["tracks"]}
    assert sorted(tracks) == [1, 2, 3]
    assert (tracks[3]["first_frame"], tracks[3]["last_frame"]) == (1, 2)
    assert tracks[3]["slot"] == 13 and tracks[3]["score"] == pytest.approx(0.8)
    for tid, track in tracks.items():
        present = {f["frame"]: f for f in track["frames"]}
        for t, (m, _) in enumerate(frames):
            if t in present:
                assert np.array_equal(mask_utils.decode(present[t]["rle"]).astype(bool), m == tid)
                assert present[t]["area"] == int((m == tid).sum())
            else:
                assert not (m == tid).any()
    assert [p.name for p in tmp_path.iterdir()] == ["rle.json"]  # spool folder removed


def test_ytvis_one_segmentation_per_frame(tmp_path):
    frames = synthetic_video(n=5)
    write_all(tmp_path, "ytvis", frames)
    data = json.loads((tmp_path / "ytvis.json").read_text())
    assert len(data) == 3
    for entry in data:
        assert entry["category_id"] == 1 and entry["video_id"] == 1
        assert len(entry["segmentations"]) == 5
    e3 = next(e for e in data if e["score"] == pytest.approx(0.8))
    assert [s is None for s in e3["segmentations"]] == [True, False, False, True, True]
    for t in (1, 2):
        assert np.array_equal(mask_utils.decode(e3["segmentations"][t]).astype(bool), frames[t][0] == 3)


def test_davis_palette_pngs(tmp_path):
    frames = synthetic_video()
    write_all(tmp_path, "davis", frames)
    for t, (m, _) in enumerate(frames):
        im = Image.open(tmp_path / "davis" / "vid" / f"{t:05d}.png")
        assert im.mode == "P"
        assert np.array_equal(np.asarray(im), m)
        assert im.getpalette()[3:6] == [128, 0, 0]  # DAVIS / VOC colour of id 1


def test_davis_refuses_more_than_255_entities(tmp_path):
    m = np.zeros((H, W), np.int32)
    m[0, 0] = 256
    w = WRITERS["davis"](tmp_path)
    w.open("vid", (H, W), None)
    with pytest.raises(EntitySAMError, match="at most 255"):
        w.write_frame(0, "0.png", m, [], None)


@pytest.mark.parametrize("size", [(H, W), (20, 32)])
def test_overlay_decodes_back(tmp_path, size):
    global H, W
    old = H, W
    H, W = size
    try:
        frames = synthetic_video(n=6)
        write_all(tmp_path, "overlay", frames)
        with av.open(str(tmp_path / "overlay.mp4")) as c:
            s = c.streams.video[0]
            assert s.codec_context.name == "h264"
            decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(decoded) == 6
        assert decoded[0].shape == (H + H % 2, W + W % 2, 3)  # padded to even sides
    finally:
        H, W = old


def test_render_overlay_blends_and_outlines():
    rgb = np.full((10, 10, 3), 100, np.uint8)
    m = np.zeros((10, 10), np.int32)
    m[2:8, 2:8] = 5
    out = render_overlay(rgb, m, alpha=0.5)
    c = np.array(entity_colour(5))
    assert np.array_equal(out[0, 0], rgb[0, 0])  # background untouched
    assert np.array_equal(out[4, 4], np.round(0.5 * 100 + 0.5 * c).astype(np.uint8))
    assert np.array_equal(out[2, 4], c.astype(np.uint8))  # contour in full colour
    edge = contour(m)
    assert edge.sum() == 20 and not edge[3:7, 3:7].any()
    assert entity_colour(5) == entity_colour(5) and entity_colour(5) != entity_colour(6)


def test_format_parsing():
    assert parse_formats("panoptic, rle,panoptic") == ["panoptic", "rle"]
    with pytest.raises(EntitySAMError, match="unknown format 'png'"):
        parse_formats("png")
    assert [w.name for w in make_writers(("davis", "overlay"), ".")] == ["davis", "overlay"]


def test_rle_and_ytvis_share_one_encoding_per_mask(tmp_path, monkeypatch):
    """With both RLE-based formats on, each entity mask of a frame is encoded once, and both
    files carry the same RLE."""
    import entitysam.io.rle as rle_module

    calls = []
    real = rle_module.mask_utils.encode
    monkeypatch.setattr(rle_module.mask_utils, "encode", lambda m: calls.append(1) or real(m))
    frames = synthetic_video()
    writers = make_writers("rle,ytvis", tmp_path)
    for w in writers:
        w.open("vid", (H, W), 12.0)
    for t, (m, segs) in enumerate(frames):
        for w in writers:
            w.write_frame(t, f"{t:05d}.jpg", m, segs, None)
    for w in writers:
        w.close()
    assert len(calls) == sum(len(segs) for _, segs in frames)
    rle = json.loads((tmp_path / "rle.json").read_text())
    ytvis = json.loads((tmp_path / "ytvis.json").read_text())
    for track, entry in zip(rle["tracks"], ytvis):
        for f in track["frames"]:
            assert entry["segmentations"][f["frame"]] == f["rle"]
