"""Clip-aware augmentations (§6): parameter draws, and each transform against hand-computed cases."""

import numpy as np
import pytest

from entitysam.training.augment import (
    AugmentationConfig,
    ClipParams,
    augment_clip,
    crop_and_pad,
    crop_offsets,
    resize_ids,
    rotate_ids,
    rotate_image,
    sample_clip_params,
    scaled_size,
)


def _params(T=1, flip=False, angles=None, center=(0.5, 0.5), scale=1.0, crop_u=0.0, jitter_r=None):
    angles = tuple(angles) if angles is not None else (0.0,) * T
    jitter_r = np.full((len(angles), 2), 0.5) if jitter_r is None else np.asarray(jitter_r)
    return ClipParams(flip, angles, center, scale, crop_u, jitter_r)


def test_sample_clip_params_ranges_and_monotonic_angles():
    rng = np.random.default_rng(0)
    flips, directions = [], set()
    for _ in range(400):
        p = sample_clip_params(rng, 8)
        a = np.array(p.angles)
        assert p.num_frames == 8 and np.all(np.abs(a) <= 15)
        d = np.diff(a)
        assert np.all(d >= 0) or np.all(d <= 0)  # sorted, maybe reversed (§6.2)
        directions.add(bool(np.all(d >= 0)))
        assert all(0.4 <= c <= 0.6 for c in p.center)
        assert 0.25 <= p.scale <= 4.0 and 0 <= p.crop_u <= 1 and p.jitter_r.shape == (8, 2)
        flips.append(p.flip)
    assert directions == {True, False}
    assert 0.4 < np.mean(flips) < 0.6  # p = 0.5 per clip
    p1 = sample_clip_params(np.random.default_rng(1), 1)  # stage 1: one random rotation
    assert p1.num_frames == 1 and p1.angles[0] != 0


def test_sample_clip_params_deterministic():
    a = sample_clip_params(np.random.default_rng(5), 8)
    b = sample_clip_params(np.random.default_rng(5), 8)
    assert a.angles == b.angles and a.scale == b.scale and np.array_equal(a.jitter_r, b.jitter_r)


def test_scaled_size():
    assert scaled_size(480, 640, 1.0, 1024) == (768, 1024)  # factor min(1024/480, 1024/640) = 1.6
    assert scaled_size(480, 640, 0.5, 1024) == (384, 512)
    assert scaled_size(5, 10, 0.25, 10) == (1, 2)  # 1.25 -> 1 and 2.5 -> 2: NumPy half to even


def test_crop_offsets_formula():
    cfg = AugmentationConfig(image_size=128)  # jitter bound int(0.1 * 128) = 12
    p = _params(angles=(0, 0, 0, 0), crop_u=0.5, jitter_r=[[0, 0], [0.75, 0.0], [0.3958, 1.0], [0.5, 0.5]])
    off = crop_offsets(p, (300, 200), cfg)  # max_offset (172, 72): frame 0 = round(86, 36)
    assert off[0].tolist() == [86, 36]
    # frame 1: trunc(0.5 * 12) = 6, trunc(-1 * 12) = -12; frame 2: trunc(-2.5008) = -2 (toward 0), +12
    assert off[1].tolist() == [92, 24] and off[2].tolist() == [84, 48] and off[3].tolist() == [86, 36]
    assert crop_offsets(_params(crop_u=0.5), (133, 128), cfg)[0].tolist() == [2, 0]  # 2.5 -> 2 (half to even)
    clamp = crop_offsets(_params(angles=(0, 0), crop_u=0.0, jitter_r=[[0, 0], [0, 0]]), (140, 128), cfg)
    assert clamp.tolist() == [[0, 0], [0, 0]]  # jitter clamped to [0, max_offset]
    small = crop_offsets(_params(angles=(0, 0), crop_u=0.7, jitter_r=[[0, 0], [1, 0]]), (64, 100), cfg)
    assert small.tolist() == [[0, 0], [0, 0]]  # smaller than the crop: no offset, no jitter


def test_crop_and_pad():
    a = np.arange(1, 7 * 5 + 1).reshape(7, 5)
    out = crop_and_pad(a, (2, 1), 6)
    assert out.shape == (6, 6)
    assert np.array_equal(out[:5, :4], a[2:, 1:]) and not out[5:].any() and not out[:, 4:].any()


def test_pil_crop_equals_numpy_crop_and_pad():
    from PIL import Image

    from entitysam.training.augment import _crop_and_pad_pil

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)
    ids = rng.integers(1, 2**24, (37, 50)).astype(np.int32)
    for off in [(0, 0), (5, 7), (30, 45), (36, 49)]:
        assert np.array_equal(_crop_and_pad_pil(Image.fromarray(img), np.array(off), 32), crop_and_pad(img, off, 32))
        assert np.array_equal(_crop_and_pad_pil(Image.fromarray(ids), np.array(off), 32), crop_and_pad(ids, off, 32))


def test_flip_is_shared_and_exact():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    ids = rng.integers(0, 5, (32, 32))
    cfg = AugmentationConfig(image_size=32)
    frames, maps = augment_clip(image, ids, _params(T=3, flip=True), cfg)  # no rotation, scale 1, no crop
    for t in range(3):
        assert np.array_equal(frames[t], image[:, ::-1]) and np.array_equal(maps[t], ids[:, ::-1])
    frames, maps = augment_clip(image, ids, _params(T=2, flip=False), cfg)
    assert np.array_equal(frames[1], image) and np.array_equal(maps[1], ids)


def test_rotation_90_is_rot90_counter_clockwise():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    ids = rng.integers(1, 9, (16, 16))
    # about the exact centre, +90 degrees (counter-clockwise) permutes pixels like np.rot90
    assert np.array_equal(rotate_image(image, 90.0, (0.5, 0.5)), np.rot90(image))
    assert np.array_equal(rotate_ids(ids, 90.0, (0.5, 0.5)), np.rot90(ids))
    assert np.array_equal(rotate_ids(ids, -90.0, (0.5, 0.5)), np.rot90(ids, -1))


def test_rotation_uncovered_corners_are_zero():
    image = np.full((40, 60, 3), 200, np.uint8)
    ids = np.full((40, 60), 7)
    r_img, r_ids = rotate_image(image, 15.0, (0.4, 0.6)), rotate_ids(ids, 15.0, (0.4, 0.6))
    assert r_ids[0, -1] == 0 and r_img[0, -1].max() == 0  # a corner rotated out of the canvas
    assert r_ids[20, 24] == 7 and np.all(r_img[20, 24] == 200)  # near the centre: unchanged colour
    # nearest keeps the id map an id map; the image/ids geometry agree away from edges
    assert set(np.unique(r_ids)) <= {0, 7}
    inner = (r_img[..., 0] == 200)
    assert np.all(r_ids[inner] == 7)


def test_resize_ids_nearest():
    ids = np.array([[1, 2], [3, 70000]])
    assert np.array_equal(resize_ids(ids, (4, 4)), np.kron(ids, np.ones((2, 2), int)))
    # the same pixels as Pillow nearest on the RGB PNG (what detectron2 resizes)
    from PIL import Image

    from entitysam.io.ids import id2rgb, rgb2id

    big = np.random.default_rng(0).integers(1, 2**24, (23, 31))
    for size in [(70, 45), (9, 13), (23, 64)]:
        rgb = np.asarray(Image.fromarray(id2rgb(big)).resize((size[1], size[0]), Image.NEAREST))
        assert np.array_equal(resize_ids(big, size), rgb2id(rgb))


def _flat_scene(h=60, w=80, seed=0):
    """Image whose colour encodes the entity: colour = palette[id]; ids 1..4 in blocks."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((h, w), np.int64)
    ids[: h // 2, : w // 2], ids[: h // 2, w // 2 :], ids[h // 2 :, : w // 3] = 1, 2, 3
    ids[h // 2 :, w // 3 :] = 4
    ids[10:25, 30:60] = 5
    palette = {k: rng.integers(20, 255, 3) for k in range(6)}
    palette[0] = np.zeros(3, int)
    image = np.stack([palette[int(k)] for k in ids.ravel()]).reshape(h, w, 3).astype(np.uint8)
    return image, ids, palette


def _interior(m: np.ndarray, r: int) -> np.ndarray:
    """Pixels whose (2r+1)^2 neighbourhood has one id and lies inside the canvas."""
    pad = np.pad(m, r, constant_values=-1)
    same = np.ones_like(m, bool)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            same &= pad[dy : dy + m.shape[0], dx : dx + m.shape[1]] == m
    return same


@pytest.mark.parametrize("seed", range(10))
def test_image_and_ids_get_identical_geometry(seed):
    """Flip, rotation, scale and crop act alike on image and ids: away from id boundaries
    (two source pixels: rotation and resize each blend one), the bilinear image colour is that id's colour."""
    image, ids, palette = _flat_scene()
    cfg = AugmentationConfig(image_size=64)
    params = sample_clip_params(np.random.default_rng(seed), 4, cfg)
    frames, maps = augment_clip(image, ids, params, cfg)
    factor = scaled_size(*ids.shape, params.scale, cfg.image_size)[0] / ids.shape[0]
    checked = 0
    for t in range(4):
        inner = _interior(maps[t], 1 + 2 * int(np.ceil(factor)))  # two resamplings
        for k, colour in palette.items():
            sel = inner & (maps[t] == k)
            if k and sel.any():
                assert np.abs(frames[t][sel].astype(int) - colour).max() <= 2
                checked += sel.sum()
    assert checked > 50


def test_geometry_check_detects_a_mismatch():
    """The check above fails when the image is flipped but the ids are not."""
    image, ids, palette = _flat_scene()
    cfg = AugmentationConfig(image_size=64)
    frames, maps = augment_clip(image[:, ::-1].copy(), ids, _params(T=1, scale=0.8), cfg)
    inner = _interior(maps[0], 2)
    bad = [np.abs(frames[0][inner & (maps[0] == k)].astype(int) - c).max() for k, c in palette.items()
           if k and (inner & (maps[0] == k)).any()]
    assert max(bad) > 20


def test_rotation_bit_exact_with_opencv4_warp_affine():
    """Golden outputs of detectron2's RotationTransform by OpenCV 4.10 (data/make_cv2_rotation_golden.py)."""
    from pathlib import Path

    from entitysam.io.ids import rgb2id

    g = np.load(Path(__file__).parent / "data" / "cv2_rotation.npz")
    assert str(g["opencv"]).startswith("4.")
    for k in range(4):
        angle, cx, cy = g[f"params_{k}"]
        assert np.array_equal(rotate_image(g[f"image_{k}"], angle, (cx, cy)), g[f"image_rot_{k}"])
        ids = rgb2id(g[f"png_{k}"])
        assert np.array_equal(rotate_ids(ids, angle, (cx, cy)), rgb2id(g[f"png_rot_{k}"]))
