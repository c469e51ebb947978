"""Baseline "SAM 2.1 with image-segmenter masks on frame 0" (paper Table 2, "Mask2Former Init").

The first frame's masks come from any image segmenter, either as files (``--init-masks``:
an id PNG or a COCO RLE JSON, :mod:`entitysam.baselines.init_masks`) or from the optional
integrated COCO-panoptic Mask2Former (``--init-model``, :mod:`entitysam.baselines.mask2former`).
Each mask becomes an object conditioned on frame 0 and propagated by SAM 2.1
(:class:`~entitysam.baselines.tracker.SAM2StreamTracker`). Frame 0's output is the given masks
(SAM 2 uses mask inputs as its output on the conditioning frame), overlaps resolved per pixel.

Example::

    from entitysam.baselines import run_baseline
    run_baseline("sam2-mask-init", "clip.mp4", "out/", init_masks="masks/clip.png")
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from entitysam.baselines.init_masks import InitMasks, load_init_masks
from entitysam.errors import EntitySAMError

#: (first frame (H, W, 3) uint8, video name) -> the objects of frame 0
Initializer = Callable[[np.ndarray, str], InitMasks]


def file_initializer(init_masks: str | os.PathLike) -> Initializer:
    """Masks read from ``init_masks`` (a file, or a folder with one file per video)."""
    def init(rgb: np.ndarray, video_name: str) -> InitMasks:
        masks = load_init_masks(init_masks, video_name)
        masks.check_size(rgb.shape[:2])
        return masks
    return init


def segmenter_initializer(segmenter: Callable[[np.ndarray], InitMasks]) -> Initializer:
    """Masks computed on the first frame by ``segmenter`` (e.g. a Mask2FormerSegmenter)."""
    def init(rgb: np.ndarray, video_name: str) -> InitMasks:
        masks = segmenter(rgb)
        if masks.masks.shape[0] == 0:
            raise EntitySAMError(f"{video_name}: the image segmenter found no segment on the first frame")
        return masks.nonempty()
    return init


def mask_init_initializer(init_masks=None, init_model: str | None = None, segmenter=None,
                          device="cpu") -> Initializer:
    """Exactly one of ``init_masks`` (path), ``init_model`` (name) or ``segmenter`` (callable)."""
    given = [x is not None for x in (init_masks, init_model, segmenter)]
    if sum(given) != 1:
        raise EntitySAMError("sam2-mask-init needs exactly one of --init-masks PATH or --init-model NAME")
    if init_masks is not None:
        return file_initializer(init_masks)
    if segmenter is None:
        from entitysam.baselines.mask2former import Mask2FormerSegmenter

        segmenter = Mask2FormerSegmenter.from_pretrained(init_model, device=device)
    return segmenter_initializer(segmenter)
