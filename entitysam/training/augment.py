"""Clip-aware augmentations of the pseudo-video pipeline (spec training.md §6).

One source image (and its panoptic id map) becomes T frames. The random parameters are
drawn once per clip by :func:`sample_clip_params` (the spec's implementation note: explicit
per-clip draws, injectable generator) and applied per frame by :func:`augment_clip`, in the
official order:

1. horizontal flip, shared by the clip (§6.1);
2. rotation at the original resolution: T sorted angles (maybe reversed), one centre (§6.2);
3. aspect-preserving resize by one scale per clip (§6.3);
4. fixed-size crop with per-frame jitter around a common offset, then padding (§6.4).

The image is interpolated bilinearly, the id map with nearest neighbour, so an id map
stays a valid id map. The 896x896 DINOv2 resize is *not* here: it happens inside the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class AugmentationConfig:
    """Constants of the LSJ pseudo-video pipeline; defaults are the official values."""

    image_size: int = 1024  # INPUT.LSJ_AUG.IMAGE_SIZE: resize target and crop size (§6.3, §6.4)
    min_scale: float = 0.25  # INPUT.LSJ_AUG.MIN_SCALE (§6.3)
    max_scale: float = 4.0  # INPUT.LSJ_AUG.MAX_SCALE (§6.3)
    flip_prob: float = 0.5  # "flip_by_clip" (§6.1)
    max_angle: float = 15.0  # degrees, angles ~ U(-15, 15) (§6.2)
    reverse_prob: float = 0.5  # sorted angles reversed to descending (§6.2)
    center_range: tuple[float, float] = (0.4, 0.6)  # relative rotation centre (§6.2)
    jitter_fraction: float = 0.1  # per-frame crop jitter bound int(0.1 * 1024) = 102 (§6.4)

    @property
    def max_jitter(self) -> int:
        return int(self.jitter_fraction * self.image_size)


@dataclass(frozen=True)
class ClipParams:
    """Random parameters of one clip (all frames derive from these).

    angles: (T,) degrees, counter-clockwise, monotonic through the clip.
    center: (cx, cy) rotation centre relative to width / height.
    scale: resize scale s (target box image_size * s).
    crop_u: the one uniform shared by both axes for the frame-0 crop offset.
    jitter_r: (T, 2) uniforms (y, x) for the per-frame jitter; row 0 is unused.
    """

    flip: bool
    angles: tuple[float, ...]
    center: tuple[float, float]
    scale: float
    crop_u: float
    jitter_r: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.angles)


def sample_clip_params(
    rng: np.random.Generator, num_frames: int, cfg: AugmentationConfig = AugmentationConfig()
) -> ClipParams:
    """Draw one clip's parameters (§6): T = ``num_frames`` (1 in stage 1, 8 in stage 2)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    flip = bool(rng.uniform() < cfg.flip_prob)
    angles = np.sort(rng.uniform(-cfg.max_angle, cfg.max_angle, size=num_frames))
    if rng.uniform() < cfg.reverse_prob:  # monotonic, ascending or descending (§6.2)
        angles = angles[::-1]
    center = tuple(float(c) for c in rng.uniform(*cfg.center_range, size=2))
    scale = float(rng.uniform(cfg.min_scale, cfg.max_scale))
    crop_u = float(rng.uniform())
    jitter_r = rng.uniform(size=(num_frames, 2))
    return ClipParams(flip, tuple(float(a) for a in angles), center, scale, crop_u, jitter_r)


# --------------------------------------------------------------------------- rotation


_AB_BITS = 10  # cv2 warpAffine: source coordinates in fixed point with 10 fractional bits
_INTER_BITS = 5  # cv2 bilinear: 1/32-pixel interpolation table
_COEF_BITS = 15  # cv2 bilinear weights for 8-bit images: 15-bit fixed point


def _inverse_rotation_matrix(h: int, w: int, angle: float, center: tuple[float, float]) -> np.ndarray:
    """(2, 3) float64 dst -> src map, computed as cv2 does it.

    detectron2 ``RotationTransform`` (``expand=False``) calls ``cv2.getRotationMatrix2D``
    about (cx w - 0.5, cy h - 0.5) (detectron2's pixel-centre fix; cv2 stores the centre as
    float32) and ``cv2.warpAffine`` inverts that forward matrix in double precision.
    """
    cx, cy = float(np.float32(center[0] * w - 0.5)), float(np.float32(center[1] * h - 0.5))
    rad = angle * np.pi / 180
    al, be = np.cos(rad), np.sin(rad)
    m = [al, be, (1 - al) * cx - be * cy, -be, al, be * cx + (1 - al) * cy]
    d = m[0] * m[4] - m[1] * m[3]
    d = 1.0 / d if d != 0 else 0.0
    a11, a22 = m[4] * d, m[0] * d
    m[0], m[1], m[3], m[4] = a11, -m[1] * d, -m[3] * d, a22
    b1, b2 = -m[0] * m[2] - m[1] * m[5], -m[3] * m[2] - m[4] * m[5]
    m[2], m[5] = b1, b2
    return np.array(m).reshape(2, 3)


def _fixed_point_source(h: int, w: int, angle: float, center: tuple[float, float], frac_bits: int):
    """Source coordinates of every output pixel as cv2 ``warpAffine`` computes them.

    Returns integer (X, Y) of shape (h, w) with ``frac_bits`` fractional bits (0 for nearest,
    5 for bilinear): per-row and per-column terms each rounded to 1/1024 (half to even, like
    ``cvRound``), plus cv2's rounding offset, then shifted.
    """
    m = _inverse_rotation_matrix(h, w, angle, center)
    scale = 1 << _AB_BITS
    round_delta = scale // 2 if frac_bits == 0 else scale // (1 << _INTER_BITS) // 2
    x, y = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    adelta, bdelta = np.rint(m[0, 0] * x * scale), np.rint(m[1, 0] * x * scale)
    x0 = np.rint((m[0, 1] * y + m[0, 2]) * scale) + round_delta
    y0 = np.rint((m[1, 1] * y + m[1, 2]) * scale) + round_delta
    shift = _AB_BITS - frac_bits
    big_x = (x0[:, None] + adelta[None, :]).astype(np.int64) >> shift
    big_y = (y0[:, None] + bdelta[None, :]).astype(np.int64) >> shift
    return big_x, big_y


def rotate_image(image: np.ndarray, angle: float, center: tuple[float, float]) -> np.ndarray:
    """(H, W, C) uint8 -> rotated (H, W, C) uint8, bilinear, uncovered pixels 0 (§6.2).

    Counter-clockwise by ``angle`` degrees about the relative ``center``, same canvas.
    Integer-exact emulation of ``cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0)`` (OpenCV
    is not a dependency): 1/32-pixel coordinates, 15-bit weights, out-of-image neighbours 0.
    """
    if angle % 360 == 0:  # detectron2 returns the input unchanged
        return image.copy()
    h, w = image.shape[:2]
    src = image.reshape(h, w, -1)
    # two rows/columns of zeros around the source: every out-of-image neighbour reads 0
    padded = np.zeros((h + 4, w + 4, src.shape[2]), np.int32)  # 255 * 2^15 fits int32
    padded[2:-2, 2:-2] = src
    big_x, big_y = _fixed_point_source(h, w, angle, center, _INTER_BITS)
    n = 1 << _INTER_BITS
    fx, fy = (big_x & (n - 1)).astype(np.int32)[..., None], (big_y & (n - 1)).astype(np.int32)[..., None]
    xi = np.clip(big_x >> _INTER_BITS, -2, w) + 2  # index into padded
    yi = np.clip(big_y >> _INTER_BITS, -2, h) + 2
    unit = (1 << _COEF_BITS) // (n * n)  # weight (a/32)(b/32) in 15 bits = a b 32, exact
    acc = (
        padded[yi, xi] * ((n - fy) * (n - fx))
        + padded[yi, xi + 1] * ((n - fy) * fx)
        + padded[yi + 1, xi] * (fy * (n - fx))
        + padded[yi + 1, xi + 1] * (fy * fx)
    ) * unit
    out = (acc + (1 << (_COEF_BITS - 1))) >> _COEF_BITS
    return out.clip(0, 255).astype(image.dtype).reshape(image.shape)


def rotate_ids(ids: np.ndarray, angle: float, center: tuple[float, float]) -> np.ndarray:
    """(H, W) id map -> rotated id map, nearest neighbour, uncovered pixels 0 = void (§6.2).

    The geometry of :func:`rotate_image`; cv2 ``INTER_NEAREST`` source pixel selection.
    """
    if angle % 360 == 0:
        return ids.copy()
    h, w = ids.shape
    xi, yi = _fixed_point_source(h, w, angle, center, 0)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    return np.where(inside, ids[yi.clip(0, h - 1), xi.clip(0, w - 1)], 0).astype(ids.dtype)


# --------------------------------------------------------------------------- resize and crop


def scaled_size(height: int, width: int, scale: float, image_size: int) -> tuple[int, int]:
    """Output (h, w) fitting the image in (image_size s)^2 keeping the aspect ratio (§6.3).

    factor = min(S s / H, S s / W); size = round(H factor), round(W factor) (NumPy, half to even).
    """
    target = np.multiply((image_size, image_size), scale)
    factor = np.minimum(target[0] / height, target[1] / width)
    out = np.round(np.multiply((height, width), factor)).astype(int)
    return int(out[0]), int(out[1])


def _resized(array: np.ndarray, size: tuple[int, int], resample) -> Image.Image:
    """Pillow resize to ``size`` = (h, w); ids (< 2^24) use Pillow's int32 mode."""
    if array.ndim == 2:
        array = array.astype(np.int32)
    return Image.fromarray(array).resize((size[1], size[0]), resample)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 with Pillow bilinear (detectron2 ``ResizeTransform``)."""
    return np.asarray(_resized(image, size, Image.BILINEAR))


def resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) id map -> (h, w) with Pillow nearest (the same pixels as on the RGB PNG)."""
    return np.asarray(_resized(ids, size, Image.NEAREST)).astype(ids.dtype)


def crop_offsets(
    params: ClipParams, size: tuple[int, int], cfg: AugmentationConfig = AugmentationConfig()
) -> np.ndarray:
    """(T, 2) int crop offsets (y, x) for a resized image of ``size`` = (h, w) (§6.4).

    Frame 0: round(max_offset * u), one u for both axes (half to even).
    Frame t >= 1: frame-0 offset + trunc((2 r - 1) min(max_offset, 102)) per axis, clamped
    to [0, max_offset] (quirks 6 and 7).
    """
    max_offset = np.maximum(np.subtract(size, cfg.image_size), 0)
    base = np.round(max_offset * params.crop_u).astype(np.int64)
    offsets = np.empty((params.num_frames, 2), np.int64)
    offsets[0] = base
    bound = np.minimum(max_offset, cfg.max_jitter)
    for t in range(1, params.num_frames):
        jitter = np.trunc((2 * params.jitter_r[t] - 1) * bound).astype(np.int64)
        offsets[t] = np.clip(base + jitter, 0, max_offset)
    return offsets


def crop_and_pad(array: np.ndarray, offset: tuple[int, int], size: int) -> np.ndarray:
    """Crop ``size`` x ``size`` at ``offset`` (y, x) (less where the array is smaller), pad
    right/bottom with 0 to ``size`` x ``size`` (image black, id map void) (§6.4)."""
    y0, x0 = int(offset[0]), int(offset[1])
    crop = array[y0 : y0 + size, x0 : x0 + size]
    out = np.zeros((size, size) + array.shape[2:], array.dtype)
    out[: crop.shape[0], : crop.shape[1]] = crop
    return out


# --------------------------------------------------------------------------- the clip


def augment_clip(
    image: np.ndarray, ids: np.ndarray, params: ClipParams, cfg: AugmentationConfig = AugmentationConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one clip's augmentations to a source image and its id map.

    Args:
        image: (H, W, 3) uint8 RGB source image.
        ids: (H, W) int64 panoptic ids (0 = void).
        params: from :func:`sample_clip_params`; T = ``params.num_frames``.
    Returns:
        frames (T, S, S, 3) uint8 and id maps (T, S, S) int64, S = ``cfg.image_size``.
    """
    if image.shape[:2] != ids.shape:
        raise ValueError(f"image {image.shape[:2]} and id map {ids.shape} sizes differ")
    if params.flip:
        image, ids = image[:, ::-1], ids[:, ::-1]
    image, ids = np.ascontiguousarray(image), np.ascontiguousarray(ids)
    size = scaled_size(ids.shape[0], ids.shape[1], params.scale, cfg.image_size)
    offsets = crop_offsets(params, size, cfg)
    s = cfg.image_size
    frames = np.empty((params.num_frames, s, s, 3), np.uint8)
    id_maps = np.empty((params.num_frames, s, s), ids.dtype)
    for t, angle in enumerate(params.angles):
        img_t = _resized(rotate_image(image, angle, params.center), size, Image.BILINEAR)
        ids_t = _resized(rotate_ids(ids, angle, params.center), size, Image.NEAREST)
        frames[t] = _crop_and_pad_pil(img_t, offsets[t], s)
        id_maps[t] = _crop_and_pad_pil(ids_t, offsets[t], s)
    return frames, id_maps


def _crop_and_pad_pil(im: Image.Image, offset: np.ndarray, size: int) -> np.ndarray:
    """:func:`crop_and_pad` on a Pillow image: only the crop is converted to NumPy (speed);
    Pillow fills the part of the box outside the image with 0."""
    y0, x0 = int(offset[0]), int(offset[1])
    return np.asarray(im.crop((x0, y0, x0 + size, y0 + size)))
