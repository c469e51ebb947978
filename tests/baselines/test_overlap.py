"""Overlap resolution (SAM 2's highest-logit rule), segments and running track scores."""

import numpy as np
import torch
import torch.nn.functional as F

from entitysam.baselines.overlap import TrackScores, frame_segments, resolve_overlaps


def test_highest_logit_wins_and_ties_go_to_the_first_object():
    logits = torch.full((3, 4, 5), -5.0)
    logits[0, :2] = 2.0
    logits[1, 1:3] = 3.0  # overlaps object 0 on row 1 with a higher logit
    logits[2, 3, :2] = 1.0
    logits[0, 3, 4] = logits[2, 3, 4] = 0.5  # tie: object 0 (listed first) wins
    ids = np.array([4, 9, 2])
    got = resolve_overlaps(logits, ids)
    want = np.zeros((4, 5), np.int32)
    want[0] = 4
    want[1:3] = 9
    want[3, :2] = 2
    want[3, 4] = 4
    assert got.dtype == np.int32 and np.array_equal(got, want)


def test_chunks_and_upsampling_do_not_change_the_result():
    g = torch.Generator().manual_seed(0)
    low = torch.randn(11, 1, 8, 8, generator=g) * 3
    ids = np.arange(1, 12)
    a = resolve_overlaps(low, ids, (30, 41), chunk=3)
    b = resolve_overlaps(low, ids, (30, 41), chunk=100)
    full = F.interpolate(low, size=(30, 41), mode="bilinear", align_corners=False)[:, 0]
    ref = np.where(full.max(0).values.numpy() > 0, full.argmax(0).numpy() + 1, 0)
    assert np.array_equal(a, b) and np.array_equal(a, ref)
    assert len(np.unique(a)) > 3


def test_segments_bbox_convention():
    id_map = np.zeros((10, 12), np.int32)
    id_map[2:5, 3:9] = 2  # x 3..8, y 2..4 -> [3, 2, 5, 2] (w = xmax - xmin, no +1)
    id_map[7, 0] = 5
    segs = frame_segments(id_map, {2: 1, 5: 4}, {2: 0.5, 5: 0.25})
    assert [(s.id, s.slot, s.score, s.area, s.bbox) for s in segs] == [
        (2, 1, 0.5, 18, (3, 2, 5, 2)), (5, 4, 0.25, 1, (0, 7, 0, 0))]
    assert frame_segments(np.zeros((3, 3), np.int32), {}, {}) == []


def test_track_scores_are_running_means():
    s = TrackScores(np.array([0.9, 1.0]))
    s.update(torch.tensor([0.0, 100.0]))  # sigmoid: 0.5, 1.0
    np.testing.assert_allclose(s.mean, [0.7, 1.0])
