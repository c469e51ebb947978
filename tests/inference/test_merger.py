"""Video-level panoptic merge (spec model.md §7): the streaming merge == the spec's per-pixel
oracle (tests/oracles/panoptic_merge.py, which shares no code with the implementation)."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from entitysam.inference.merge import MergeOptions, OnlineMerger, VideoMerger
from tests.oracles.panoptic_merge import official_merge

WARMUP = 3


@dataclass
class Pos:  # same fields as entitysam.inference.predictor.PositionOutput
    position: int
    frame_index: int
    is_warmup: bool
    lowres_logits: torch.Tensor
    eiou: torch.Tensor
    iou: torch.Tensor
    entity_logits: torch.Tensor
    points: torch.Tensor


def make_video(n=7, q=6, s=16, seed=0, eiou_scale=1.0, blobs=True):
    """Random per-position eIoU (P, Q) and real-frame logits (Q, N, s, s)."""
    g = torch.Generator().manual_seed(seed)
    eiou = torch.rand(n + WARMUP, q, generator=g) * eiou_scale
    logits = torch.randn(q, n, s, s, generator=g) * 3
    if blobs:  # give each slot a region where it dominates, so some slots pass the 0.7 test
        logits -= 4
        for b in range(q):
            r = (b * 5) % (s - 4)
            logits[b, :, r:r + 4, r:r + 4] += 12
    return eiou, logits


def positions(eiou, logits):
    q, n = logits.shape[:2]
    order = [0] * WARMUP + list(range(n))
    for p, f in enumerate(order):
        warm = p < WARMUP
        lg = logits[:, 0 if warm else f][:, None]
        yield Pos(p, f, warm, lg.clone(), eiou[p], torch.zeros(q), torch.zeros(q, 2), torch.zeros(q, 2))


def run_streaming(eiou, logits, out_size, options=None, tmp_path=None):
    with VideoMerger(out_size, options, spill_dir=tmp_path) as m:
        for out in positions(eiou, logits):
            m.add(out)
        segs = m.finalize()
        frames = list(m.frames())
        return m, segs, frames


def oracle(eiou, logits, out_size, options=None):
    o = options or MergeOptions()
    return official_merge(eiou, logits, out_size, WARMUP, overlap_threshold=o.overlap_threshold,
                          mask_binary_threshold=o.mask_binary_threshold,
                          object_mask_threshold=o.object_mask_threshold,
                          test_topk_per_image=o.test_topk_per_image, score_over=o.score_over,
                          slot_order=o.slot_order)


def check_equal(eiou, logits, out_size, options=None, tmp_path=None):
    ref_ids, ref_segs = oracle(eiou, logits, out_size, options)
    m, segs, frames = run_streaming(eiou, logits, out_size, options, tmp_path)
    ids = np.stack([f.id_map for f in frames])
    assert ids.dtype == np.int32 and ids.shape == (logits.shape[1],) + out_size
    np.testing.assert_array_equal(ids, ref_ids)
    assert [(s.id, s.slot) for s in m.segments] == [(r[0], r[1]) for r in ref_segs]
    assert [s.score for s in m.segments] == [r[2] for r in ref_segs]
    assert [s.overlap_ratio for s in m.segments] == [r[3] for r in ref_segs]
    for s in m.segments:  # per-frame areas recorded by the writing pass match the id map
        assert list(s.area_per_frame) == [int((f == s.id).sum()) for f in ids]
    return m, ids


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("out_size", [(23, 37), (16, 16), (40, 9)])
def test_streaming_equals_reference(seed, out_size, tmp_path):
    eiou, logits = make_video(seed=seed)
    m, ids = check_equal(eiou, logits, out_size, tmp_path=tmp_path)
    assert len(m.segments) >= 1  # the blobs make at least one slot pass the 0.7 test
    assert sorted(np.unique(ids).tolist()) == list(range(len(m.segments) + 1))


def test_overlap_threshold_025_keeps_more(tmp_path):
    eiou, logits = make_video(seed=3, blobs=False)
    m07, _ = check_equal(eiou, logits, (20, 30), tmp_path=tmp_path)
    m025, _ = check_equal(eiou, logits, (20, 30), MergeOptions(overlap_threshold=0.25), tmp_path)
    assert len(m025.segments) > len(m07.segments)


def test_all_slots_skipped_gives_empty_output(tmp_path):
    # three slots on a ring of three regions, each covering two of them and winning one:
    # every slot owns half of its own area (< 0.7), so every slot is skipped.
    eiou, logits = make_video(n=3, q=3, s=12, seed=4, blobs=False)
    eiou[:] = 0.5
    logits[:] = -10.0
    regions = [(slice(0, 12), slice(0, 4)), (slice(0, 12), slice(4, 8)), (slice(0, 12), slice(8, 12))]
    for slot, (strong, weak) in enumerate([(0, 1), (1, 2), (2, 0)]):
        logits[(slot, slice(None)) + regions[strong]] = 4.0
        logits[(slot, slice(None)) + regions[weak]] = 2.0
    m, ids = check_equal(eiou, logits, (12, 12), tmp_path=tmp_path)
    assert m.segments == [] and len(m.kept_slots) == 3 and not ids.any()
    assert all(0.3 < r < 0.7 for r in m.overlap_ratios.values()), m.overlap_ratios


def test_no_slot_kept(tmp_path):
    eiou, logits = make_video(seed=5, eiou_scale=0.049)  # every mean eIoU < 0.05
    m, ids = check_equal(eiou, logits, (10, 14), tmp_path=tmp_path)
    assert m.kept_slots == [] and m.segments == [] and not ids.any()


def test_ties_go_to_first_slot(tmp_path):
    # two slots with identical scores and logits: argmax picks the lower slot index.
    eiou, logits = make_video(n=5, q=3, seed=6)
    eiou[:, 2] = eiou[:, 1]
    logits[2] = logits[1]
    m, ids = check_equal(eiou, logits, (16, 16), tmp_path=tmp_path)
    assert 2 not in [s.slot for s in m.segments]


def test_warmups_count_in_score_and_real_option(tmp_path):
    eiou, logits = make_video(seed=7)
    eiou[:WARMUP, 0] = 0.0  # slot 0: bad warm-ups only -> dropped officially...
    eiou[WARMUP:, 0] = 0.06
    eiou[:WARMUP, 1] = 1.0  # slot 1: good warm-ups only -> kept officially
    eiou[WARMUP:, 1] = 0.0
    m, _ = check_equal(eiou, logits, (16, 16), tmp_path=tmp_path)
    assert 0 not in m.kept_slots and 1 in m.kept_slots
    assert torch.equal(m.mean_eiou, eiou.mean(0))
    real = MergeOptions(score_over="real")
    m2, _ = check_equal(eiou, logits, (16, 16), real, tmp_path)
    assert 0 in m2.kept_slots and 1 not in m2.kept_slots


def test_quality_uses_every_fifth_real_frame(tmp_path):
    eiou, logits = make_video(n=11, q=2, s=8, seed=8, blobs=False)
    logits[:] = -5.0
    logits[0, 0, :2] = 3.0  # frames 0, 5, 10 count; frame 1 does not
    logits[0, 1] = 0.0  # > -1 but not > 1: would give 16 / 80 if frame 1 were counted
    logits[0, 4] = 0.0
    logits[0, 10, 0, :4] = 0.0  # frame 10 counts: 16 / 20
    m = run_streaming(eiou, logits, (8, 8), tmp_path=tmp_path)[0]
    assert m.quality[0].item() == (torch.tensor(16) / torch.tensor(20)).item()
    assert m.quality[1].item() == 0.0  # 0 / max(0, 1)


def test_score_order_option(tmp_path):
    eiou, logits = make_video(seed=9)
    opt = MergeOptions(slot_order="score")
    m, _ = check_equal(eiou, logits, (20, 20), opt, tmp_path)
    scores = [s.score for s in m.segments]
    assert scores == sorted(scores, reverse=True)


def test_float16_spill_close_and_halves_disk(tmp_path):
    eiou, logits = make_video(seed=0)
    m32, _, f32 = run_streaming(eiou, logits, (23, 37), tmp_path=tmp_path)
    m16, _, f16 = run_streaming(eiou, logits, (23, 37), MergeOptions(spill_dtype="float16"), tmp_path)
    a, b = np.stack([f.id_map for f in f32]), np.stack([f.id_map for f in f16])
    assert (a == b).mean() > 0.99
    assert m16._logits.nbytes * 2 == m32._logits.nbytes


def test_spill_folder_removed_on_close(tmp_path):
    eiou, logits = make_video(seed=0)
    m, _, _ = run_streaming(eiou, logits, (8, 8), tmp_path=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_segment_bbox_and_area(tmp_path):
    eiou, logits = make_video(seed=1)
    m, _, frames = run_streaming(eiou, logits, (23, 37), tmp_path=tmp_path)
    for f in frames:
        for seg in f.segments:
            ys, xs = np.nonzero(f.id_map == seg.id)
            assert seg.area == len(ys)
            assert seg.bbox == (xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min())


def test_online_merger_is_stable_and_close_on_static_video(tmp_path):
    # a static video (every frame identical): running scores equal the final ones up to
    # the warm-up share, so the online labels agree with the offline ones on most pixels.
    eiou, logits = make_video(n=6, seed=10)
    logits[:] = logits[:, :1]
    eiou[:] = eiou[:1]
    _, _, frames = run_streaming(eiou, logits, (20, 20), tmp_path=tmp_path)
    online = list(OnlineMerger((20, 20)).add_all(positions(eiou, logits)))
    assert len(online) == len(frames)
    for a, b in zip(online, frames):
        assert np.array_equal(a.id_map > 0, b.id_map > 0)
    ids = {(s.id, s.slot) for f in online for s in f.segments}
    assert len({i for i, _ in ids}) == len(ids)  # one slot per id for the whole video


def test_merge_video_helper_equals_reference(tmp_path):
    # the helper used by `entitysam golden check` (both golden parameter sets: 0.7 and 0.25)
    from entitysam.inference.merge import merge_video

    eiou, logits = make_video(seed=11)
    frames = [logits[:, t][:, None] for t in range(logits.shape[1])]
    for thr in (0.7, 0.25):
        ids, segs = merge_video(eiou, frames, (23, 37), overlap_threshold=thr, spill_dir=tmp_path)
        ref_ids, ref = oracle(eiou, logits, (23, 37), MergeOptions(overlap_threshold=thr))
        np.testing.assert_array_equal(ids, ref_ids)
        assert [(s["id"], s["slot"]) for s in segs] == [(r[0], r[1]) for r in ref]
        assert all(len(s["area_per_frame"]) == logits.shape[1] for s in segs)


@pytest.mark.parametrize("max_elements", [1, 2 * 23 * 37, 10**9])
def test_slot_chunking_does_not_change_owners(max_elements):
    # chunks of 1, 2 and all slots give bit-identical owners (ties included: slots 1 and 2 equal)
    from entitysam.inference.merge.steps import assign_owners

    _, logits = make_video(n=1, q=6, seed=12)
    logits = logits[:, 0]
    logits[2] = logits[1]
    final = torch.tensor([0.3, 0.5, 0.5, 0.2, 0.4, 0.45])
    ref = assign_owners(logits, final, (23, 37), 0.5, max_elements=10**9)
    got = assign_owners(logits, final, (23, 37), 0.5, max_elements=max_elements)
    for a, b in zip(ref.counts(0.5), got.counts(0.5)):
        assert torch.equal(a, b)
    assert torch.equal(ref.owner, got.owner) and torch.equal(ref.owner_prob, got.owner_prob)
    assert not (got.owner == 2).any()  # the tie always goes to slot 1
