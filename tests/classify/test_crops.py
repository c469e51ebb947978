"""Best frame of a track and the crop a classifier sees (entitysam.classify.crops)."""

import json

import numpy as np
import pytest
from PIL import Image

from entitysam.classify.crops import GREY, CropConfig, best_frame, crop_box, crop_entity, outline
from entitysam.classify.tracks import Track, TrackFrame, read_tracks
from entitysam.errors import EntitySAMError


def track(*frames):
    """frames: (frame, area, score) triples."""
    return Track(7, [TrackFrame(f, a, (0, 0, 1, 1), s) for f, a, s in frames])


def test_best_frame_prefers_score_over_area():
    assert best_frame(track((0, 500, 0.2), (1, 100, 0.9), (2, 900, 0.5))).frame == 1


def test_best_frame_breaks_score_ties_by_area_then_earliest():
    assert best_frame(track((0, 100, 0.7), (1, 300, 0.7), (2, 200, 0.7))).frame == 1
    assert best_frame(track((0, 100, 0.7), (1, 300, 0.7), (2, 300, 0.7))).frame == 1


def test_best_frame_without_scores_is_largest_area():
    assert best_frame(track((0, 10, None), (1, 30, None), (2, 20, None))).frame == 1
    # a frame with a score beats unscored frames
    assert best_frame(track((0, 10, None), (1, 30, None), (2, 5, 0.1))).frame == 2


def test_best_frame_on_segment_output_with_per_frame_scores(scene):
    videos = read_tracks(scene.tracks)
    (video,) = videos
    person = next(t for t in video.tracks if t.frames[0].area == 180 and len(t.frames) == len(scene.names))
    # the real writer stores the video-level score in every frame: equal areas -> earliest frame
    assert best_frame(person).frame == 0
    # a writer with per-frame confidence: the highest one wins
    pred = json.loads((scene.tracks / "pred.json").read_text())
    for t, frame in enumerate(pred["annotations"][0]["annotations"]):
        for seg in frame["segments_info"]:
            seg["score"] = 0.9 if t == 2 else 0.1 + t / 100
    (scene.tracks / "pred.json").write_text(json.dumps(pred))
    (video,) = read_tracks(scene.tracks)
    assert {best_frame(t).frame for t in video.tracks} == {2}


def test_crop_box_margin_and_square():
    mask = np.zeros((60, 80), bool)
    mask[10:20, 20:40] = True  # 20 wide, 10 high
    assert crop_box(mask, 0.0, False) == (20, 10, 40, 20)
    assert crop_box(mask, 0.1, False) == (18, 9, 42, 21)
    assert crop_box(mask, 0.0, True) == (20, 5, 40, 25)


def textured(h=60, w=80, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_plain_crop_is_the_box_resized():
    image = textured()
    mask = np.zeros((60, 80), bool)
    mask[10:20, 20:40] = True
    out = crop_entity(image, mask, CropConfig(margin=0.0, treatment="none", size=40))
    assert out.size == (40, 20)  # longer side = size, aspect kept
    expected = image.crop((20, 10, 40, 20)).resize((40, 20), Image.BICUBIC)
    assert np.array_equal(np.asarray(out), np.asarray(expected))


def test_square_crop_pads_outside_the_frame_with_grey():
    image = Image.new("RGB", (80, 60), (0, 0, 0))
    mask = np.zeros((60, 80), bool)
    mask[0:10, 60:80] = True  # top-right corner, wider than high
    out = np.asarray(crop_entity(image, mask, CropConfig(margin=0.0, treatment="none", size=20, square=True)))
    assert out.shape == (20, 20, 3)
    assert (out[0, 10] == GREY).all()       # above the frame: grey padding
    assert (out[15, 10] == 0).all()         # inside the frame: the black image


def crops_by_treatment():
    image = textured()
    mask = np.zeros((60, 80), bool)
    mask[15:45, 20:60] = True
    cfg = dict(margin=0.25, size=60)
    plain = np.asarray(crop_entity(image, mask, CropConfig(treatment="none", **cfg))).astype(int)
    fg = np.asarray(Image.fromarray(mask[7:53, 10:70].astype(np.uint8) * 255).resize(
        (plain.shape[1], plain.shape[0]), Image.BILINEAR)) >= 128
    out = {t: np.asarray(crop_entity(image, mask, CropConfig(treatment=t, **cfg))).astype(int)
           for t in ("blur", "grey", "contour")}
    return plain, fg, out


def test_mask_treatments():
    plain, fg, out = crops_by_treatment()
    assert fg.any() and (~fg).any()
    # blur: entity untouched, background smoothed (much lower pixel-to-pixel variation)
    assert np.array_equal(out["blur"][fg], plain[fg])
    bg_var = lambda a: np.abs(np.diff(a, axis=1))[~fg[:, 1:]].mean()
    assert bg_var(out["blur"]) < 0.5 * bg_var(plain)
    # grey: entity untouched, background exactly grey
    assert np.array_equal(out["grey"][fg], plain[fg]) and (out["grey"][~fg] == GREY).all()
    # contour: red on the mask border, background and mask interior untouched
    edge = outline(fg, 3)
    assert (out["contour"][edge] == (255, 0, 0)).all()
    assert np.array_equal(out["contour"][~edge], plain[~edge])
    assert edge.sum() < fg.sum() // 2


def test_crop_errors():
    with pytest.raises(EntitySAMError, match="treatment"):
        CropConfig(treatment="sparkle")
    with pytest.raises(EntitySAMError, match="differs from frame size"):
        crop_entity(textured(), np.ones((10, 10), bool))
