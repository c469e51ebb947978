"""Task conversion rules on hand-made labelled tracks (entitysam.classify.convert)."""

import json

import numpy as np
import pytest

from entitysam.classify.backends.base import Label
from entitysam.classify.convert import (
    LabelledVideo, TrackLabel, instance_results, panoptic_ids, remap, semantic_map,
    write_semantic, ytvis_video_ids,
)
from entitysam.classify.tracks import Track, TrackFrame, VideoTracks
from entitysam.classify.vocab import Category
from entitysam.errors import EntitySAMError

SKY = Category.make(28, "sky", False)
ROAD = Category.make(18, "road", False)
CAR = Category.make(48, "car", True)
THING_UNKNOWN = Category.make(3, "kite", None)

# 1 x 6 frames: ids 10 11 | 12 | 13 | 14 | 0
MAP = np.array([[10, 11, 12, 13, 14, 0]])


def labelled(cats: dict, conf=None, scores=None):
    tracks = [Track(tid, [TrackFrame(0, 1, (tid - 10, 0, 0, 0))], score=(scores or {}).get(tid)) for tid in cats]
    video = VideoTracks("v", ["f0.jpg"], tracks, lambda i: MAP, "test")
    out = LabelledVideo(video)
    for t in tracks:
        cat = cats[t.id]
        c = (conf or {}).get(t.id, 1.0 if cat else 0.0)
        out.labels[t.id] = TrackLabel(t, t.frames[0], Label(cat, c, cat.prompt if cat else "none"))
    return out


def test_stuff_of_one_category_is_merged_things_are_not():
    video = labelled({10: SKY, 11: SKY, 12: CAR, 13: CAR, 14: None})
    lut, cats = panoptic_ids(video)
    assert lut == {10: 10, 11: 10, 12: 12, 13: 13}  # none (14) -> absent -> void
    assert cats == {10: SKY, 12: CAR, 13: CAR}
    assert remap(MAP, lut).tolist() == [[10, 10, 12, 13, 0, 0]]
    lut, _ = panoptic_ids(video, merge_stuff=False)
    assert lut == {10: 10, 11: 11, 12: 12, 13: 13}


def test_instance_drops_none_and_stuff_and_scales_scores():
    video = labelled({10: SKY, 11: ROAD, 12: CAR, 13: THING_UNKNOWN, 14: None},
                     conf={12: 0.5}, scores={12: 0.8})
    results = instance_results([video], {"v": 9})
    assert [(r["category_id"], r["video_id"]) for r in results] == [(48, 9), (3, 9)]
    assert results[0]["score"] == pytest.approx(0.4)   # entity score x label confidence
    assert results[1]["score"] == 1.0                   # no entity score: 1 x confidence
    assert results[0]["segmentations"][0]["size"] == [1, 6]
    with pytest.raises(EntitySAMError, match="not in the YouTube-VIS JSON"):
        instance_results([video], {"other": 1})


def test_semantic_map_fills_unlabelled_pixels_from_the_nearest_entity():
    lut = {10: 28, 13: 48}  # no pixel is equally near to both
    assert semantic_map(MAP, lut).tolist() == [[28, 28, 48, 48, 48, 48]]
    assert semantic_map(MAP, lut, fill=False).tolist() == [[28, 255, 255, 48, 255, 255]]
    assert semantic_map(MAP, {}).tolist() == [[255] * 6]  # nothing labelled: void


def test_semantic_ids_must_fit_a_png(tmp_path):
    video = labelled({10: Category.make(300, "big", True)})
    with pytest.raises(EntitySAMError, match="does not fit"):
        write_semantic([video], tmp_path)


def test_ytvis_video_ids(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps({"videos": [
        {"id": 3, "file_names": ["abc/00000.jpg", "abc/00005.jpg"]},
        {"id": 8, "file_names": ["xyz/00000.jpg"]}]}))
    assert ytvis_video_ids(tmp_path / "gt.json") == {"abc": 3, "xyz": 8}
    (tmp_path / "bad.json").write_text('{"videos": [{"id": 1}]}')
    with pytest.raises(EntitySAMError, match="video ids"):
        ytvis_video_ids(tmp_path / "bad.json")


def test_segments_of_a_frame():
    from entitysam.classify.convert import segments_of

    pan = np.zeros((5, 7), np.int64)
    pan[1:3, 2:6] = 70000  # a 24-bit id
    pan[4, 0] = 3
    assert segments_of(pan) == [(3, [0, 4, 0, 0], 1), (70000, [2, 1, 3, 1], 8)]
