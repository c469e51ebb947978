"""Panoptic id <-> RGB colour conversion (COCO / VIPSeg convention: id = R + 256 G + 65536 B)."""

from __future__ import annotations

import numpy as np


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) int64 ids; 0 = void."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        rgb = rgb.astype(np.int64)
        return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    # fast path (hot in evaluation): OR the bytes in uint32, widen once
    ids = rgb[..., 0].astype(np.uint32)
    ids |= rgb[..., 1].astype(np.uint32) << 8
    ids |= rgb[..., 2].astype(np.uint32) << 16
    return ids.astype(np.int64)


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) integer ids (< 2**24) -> (H, W, 3) uint8 RGB."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.empty(ids.shape + (3,), dtype=np.uint8)
    out[..., 0] = ids % 256
    out[..., 1] = (ids // 256) % 256
    out[..., 2] = (ids // 65536) % 256
    return out
