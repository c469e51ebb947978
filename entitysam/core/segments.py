"""What a segmentation produces: entities (video-level tubes) and their presence per frame.

Produced by the merges (``entitysam.inference.merge``) and the baselines, consumed by the
writers (``entitysam.io.writers``), ``summary.json`` and ``entitysam classify``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentInfo:
    """One output entity (a video-level tube).

    ``score`` is the final score f = mean eIoU + 0.5 quality (§7 step 4); ``area_per_frame``
    is filled in by the writing pass (empty until then).
    """

    id: int
    slot: int
    score: float
    mean_eiou: float
    quality: float
    overlap_ratio: float
    area_per_frame: tuple[int, ...] = ()


@dataclass(frozen=True)
class FrameSegment:
    """A segment's presence in one frame: ``bbox`` = [x, y, w, h] with w = xmax - xmin (§8);
    ``eiou`` is its slot's expected IoU in this frame (the per-frame confidence)."""

    id: int
    slot: int
    score: float
    area: int
    bbox: tuple[int, int, int, int]
    eiou: float | None = None


@dataclass(frozen=True)
class MergedFrame:
    """The merge result of one real frame: ``id_map`` (H, W) int32, 0 = void."""

    frame_index: int
    id_map: np.ndarray
    segments: list[FrameSegment]
