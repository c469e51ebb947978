"""Pseudo-video clips and targets (§5, §7): determinism, identity consistency, the entity cap."""

import numpy as np
import pytest
import torch

from entitysam.io.frames import IMAGENET_MEAN, IMAGENET_STD, preprocess
from entitysam.training.augment import AugmentationConfig, augment_clip, sample_clip_params
from entitysam.training.clips import PseudoVideoClips, build_targets, make_clip, normalize_frames
from entitysam.training.coco_panoptic import CocoPanoptic, Segment

AUG = AugmentationConfig(image_size=64)


def _seg(sid, label=1, iscrowd=False):
    return Segment(id=sid, category_id=label, label=label, isthing=True, iscrowd=iscrowd, area=0, bbox=(0, 0, 0, 0))


def test_normalize_matches_preprocess():
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    frames[0, :8].reshape(-1, 3)[:256] = np.arange(256, dtype=np.uint8)[:, None]  # every level, every channel
    out = normalize_frames(frames)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 32, 32)
    for t in range(2):
        assert torch.equal(out[t], preprocess(frames[t], image_size=32))  # bit-identical
    back = out * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    assert torch.allclose(back * 255, torch.from_numpy(frames).permute(0, 3, 1, 2).float(), atol=1e-3)


def test_build_targets_absent_entities_and_rebase():
    maps = np.zeros((3, 4, 4), np.int64)
    maps[0, :2], maps[1, :1] = 11, 11  # entity A (JSON 0): frames 0, 1
    maps[2, 3, 3] = 33  # entity C (JSON 2): frame 2 only; entity B (JSON 1) never visible
    maps[:, 2, :2] = 44  # entity D (JSON 3): every frame
    tg = build_targets(maps, [_seg(11, 5), _seg(22, 6), _seg(33, 7), _seg(44, 8)])
    assert tg.segment_ids.tolist() == [11, 33, 44]  # B dropped (empty in every frame)
    assert tg.labels.tolist() == [5, 7, 8]
    assert tg.ids.tolist() == [[0, 0, -1], [-1, -1, 2], [3, 3, 3]]  # JSON index, -1 where absent
    assert tg.valid.tolist() == [[True, True, False], [False, False, True], [True, True, True]]
    assert tg.masks.shape == (3, 3, 4, 4) and tg.masks.dtype == torch.bool
    assert not tg.masks[0, 2].any() and tg.masks[1, 2].sum() == 1  # absent frame kept, all zero
    assert torch.equal(tg.masks[0, 0], torch.from_numpy(maps[0] == 11))
    assert tg.boxes[0, 0].tolist() == [0.0, 0.0, 1.0, 0.5] and tg.boxes[0, 2].tolist() == [0, 0, 0, 0]
    assert tg.boxes[1, 2].tolist() == [0.75, 0.75, 1.0, 1.0]  # xyxy, max index + 1, normalised
    # rebase: the first entity is never visible -> valid ids shift down by the minimum (1)
    tg = build_targets(maps, [_seg(99), _seg(11), _seg(44)])
    assert tg.ids.tolist() == [[0, 0, -1], [1, 1, 1]]


def test_build_targets_cap_first_in_json_order():
    maps = np.zeros((2, 8, 8), np.int64)
    maps.reshape(2, -1)[:, :40] = np.arange(1, 41)  # 40 visible entities
    ents = [_seg(100)] + [_seg(k) for k in range(1, 41)]  # first one never visible
    tg = build_targets(maps, ents, max_num_masks=30)
    assert len(tg) == 30 and tg.segment_ids.tolist() == list(range(1, 31))
    assert tg.ids[:, 0].tolist() == list(range(30))
    assert len(build_targets(maps, ents)) == 30  # official default cap


def test_empty_entities():
    tg = build_targets(np.zeros((2, 8, 8), np.int64), [])
    assert tg.masks.shape == (0, 2, 8, 8) and tg.ids.shape == (0, 2) and tg.labels.shape == (0,)


@pytest.mark.parametrize("T", [1, 8])
def test_clip_shapes_and_determinism(synth_root, T):
    clips = PseudoVideoClips(CocoPanoptic.from_root(synth_root), num_frames=T, aug=AUG)
    a, b = clips.clip(0, np.random.default_rng(3)), clips.clip(0, 3)
    assert a.frames.shape == (T, 3, 64, 64) and a.frames.dtype == torch.float32
    n = len(a.targets)
    assert a.targets.masks.shape == (n, T, 64, 64) and a.targets.ids.shape == (n, T)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.targets.masks, b.targets.masks)
    assert torch.equal(a.targets.ids, b.targets.ids)
    c = clips.clip(0, 4)
    assert not torch.equal(a.frames, c.frames)
    # masks never overlap (a panoptic map) and every kept entity is visible somewhere
    assert a.targets.masks.sum(0).max() <= 1 and a.targets.valid.any(1).all()


def test_clip_frames_match_augmented_source(synth_root):
    """make_clip = sample params, augment, normalise, build targets; masks are id == segment id."""
    ds = CocoPanoptic.from_root(synth_root)
    rec = ds[1]
    image, ids = ds.load(rec)
    clip = make_clip(image, ids, rec.entities, 4, np.random.default_rng(11), AUG)
    params = sample_clip_params(np.random.default_rng(11), 4, AUG)
    frames, maps = augment_clip(image, ids, params, AUG)
    assert params.angles == clip.params.angles
    assert torch.equal(clip.frames, normalize_frames(frames))
    for n, sid in enumerate(clip.targets.segment_ids.tolist()):
        assert torch.equal(clip.targets.masks[n], torch.from_numpy(maps == sid))
    # crowd pixels are plain background: in no target mask (§4, quirk 1)
    crowd = [s.id for s in rec.segments if s.iscrowd]
    assert crowd and (maps == crowd[0]).any()
    assert not clip.targets.masks[:, torch.from_numpy(maps == crowd[0])].any()
    assert crowd[0] not in clip.targets.segment_ids.tolist()


def test_identity_consistent_across_frames():
    """Entity n is the same object in every frame: on a source whose colour encodes the
    entity, the pixels well inside masks[n, t] have entity n's colour for every t."""
    rng = np.random.default_rng(0)
    ids = np.zeros((48, 64), np.int64)
    ids[:24, :32], ids[:24, 32:], ids[24:, :] = 70000, 3, 512  # JSON order below: 3, 512, 70000
    ids[8:20, 8:24] = 9  # a crowd block: background in targets
    colours = {k: rng.integers(30, 255, 3) for k in (3, 512, 70000, 9)}
    image = np.zeros((48, 64, 3), np.uint8)
    for k, c in colours.items():
        image[ids == k] = c
    ents = [_seg(3), _seg(512), _seg(70000)]
    clip = make_clip(image, ids, ents, 8, np.random.default_rng(2), AugmentationConfig(image_size=32))
    frames = clip.frames * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    frames = (frames * 255).round().permute(0, 2, 3, 1).numpy()
    assert clip.targets.segment_ids.tolist() == [3, 512, 70000]
    checked = 0
    for n, sid in enumerate([3, 512, 70000]):
        for t in range(8):
            m = clip.targets.masks[n, t].numpy()
            pad = np.pad(m, 3)  # erode by 3 pixels (canvas border counts as outside)
            inner = m.copy()
            for dy in range(7):
                for dx in range(7):
                    inner &= pad[dy : dy + 32, dx : dx + 32]
            if inner.any():
                assert np.abs(frames[t][inner] - colours[sid]).max() <= 2
                checked += 1
    assert checked >= 8


def test_empty_image_gives_empty_targets(synth_root):
    ds = CocoPanoptic.from_root(synth_root)
    clip = PseudoVideoClips(ds, num_frames=2, aug=AUG).clip(len(ds) - 1, 0)
    assert clip.targets.masks.shape == (0, 2, 64, 64) and clip.frames.shape == (2, 3, 64, 64)


def test_clip_stream_index_addressed(synth_root):
    from entitysam.training.clips import ClipStream

    clips = PseudoVideoClips(CocoPanoptic.from_root(synth_root), num_frames=2, aug=AUG)
    s, n = ClipStream(clips, seed=3), len(clips)
    # every epoch visits every image once, in a seed- and epoch-dependent order
    for e in range(3):
        assert sorted(s.image_index(e * n + k) for k in range(n)) == list(range(n))
    orders = {tuple(s.image_index(e * n + k) for k in range(n)) for e in range(4)}
    assert len(orders) > 1
    # clip k depends only on (seed, k): a fresh stream, asked out of order, gives the same clip
    frames, tg = ClipStream(clips, seed=3)(7)
    s.image_index(0)
    f2, tg2 = s(7)
    assert torch.equal(frames, f2) and torch.equal(tg["masks"], tg2["masks"])
    assert set(tg) >= {"labels", "masks", "ids", "boxes"}
    assert not torch.equal(ClipStream(clips, seed=4)(7)[0], frames)
    # the same image in another epoch is augmented differently (the clip index seeds it)
    later = next(k for k in range(8, 8 + 3 * n) if s.image_index(k) == s.image_index(7))
    assert not torch.equal(s(later)[0], frames)
    assert [ClipStream(clips, shuffle=False).image_index(i) for i in range(n + 1)] == list(range(n)) + [0]
