"""Per-frame results of the baselines: overlapping object masks -> one non-overlapping id map.

SAM 2 tracks every object independently, so masks overlap. Each pixel goes to the object with
the highest mask logit, and is foreground when that logit is > 0: SAM 2's own rule
(``SAM2Base._apply_non_overlapping_constraints``, used by the video predictor's
``non_overlap_masks`` option), computed at the frame's resolution after SAM 2's bilinear
upsampling of the low-res logits. Ties go to the object listed first (on frame 0, where the
initial binary masks are the output, overlapping initial masks go to the first listed; SAM 2's
automatic mask generator lists its masks by decreasing predicted IoU).

Per-track scores: an object's score in a frame is its initial score on frame 0 (the automatic
mask generator's predicted IoU, or the given mask's score) and SAM 2's object-presence
probability sigmoid(object_score_logit) on later frames; a track's score is the running mean
over the frames seen so far (on the last frame: the video-level mean).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from entitysam.core.segments import FrameSegment


def upsample_logits(low: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """(k, 1, s, s) low-res logits -> (k, H, W), as ``SAM2VideoPredictor._get_orig_video_res_output``."""
    if tuple(low.shape[-2:]) == tuple(out_size):
        return low[:, 0]
    return F.interpolate(low.float(), size=out_size, mode="bilinear", align_corners=False)[:, 0]


def resolve_overlaps(logits: torch.Tensor, ids: np.ndarray, out_size: tuple[int, int] | None = None,
                     chunk: int = 8) -> np.ndarray:
    """K objects' mask logits -> (H, W) int32 id map (0 = background).

    Args:
        logits: (K, 1, s, s) low-res logits (upsampled to ``out_size``) or (K, H, W) logits
            already at the frame's resolution (``out_size`` None).
        ids: (K,) entity id of each object (> 0).
        chunk: objects upsampled at a time (bounds memory to chunk x H x W floats).
    """
    ids = np.asarray(ids, dtype=np.int64)
    if logits.shape[0] != len(ids):
        raise ValueError(f"{logits.shape[0]} objects but {len(ids)} ids")
    best = owner = None
    for i in range(0, logits.shape[0], chunk):
        part = logits[i:i + chunk]
        part = upsample_logits(part, out_size) if out_size is not None else part.float()
        value, arg = part.max(0)  # first index on ties
        arg = arg + i
        if best is None:
            best, owner = value, arg
        else:
            better = value > best  # strict: earlier objects win ties
            best = torch.where(better, value, best)
            owner = torch.where(better, arg, owner)
    best, owner = best.cpu().numpy(), owner.cpu().numpy()
    return np.where(best > 0, ids[owner], 0).astype(np.int32)


def frame_segments(id_map: np.ndarray, slot_of: dict[int, int], score_of: dict[int, float]) -> list[FrameSegment]:
    """Segments present in ``id_map`` with area and bbox [x, y, w, h] (w = xmax - xmin, spec §8)."""
    segments = []
    top = int(id_map.max(initial=0))
    if top == 0:
        return segments
    areas = np.bincount(id_map.ravel(), minlength=top + 1)
    for label, sl in enumerate(ndimage.find_objects(id_map), start=1):
        if sl is None or areas[label] == 0:
            continue
        ys, xs = sl
        bbox = (int(xs.start), int(ys.start), int(xs.stop - 1 - xs.start), int(ys.stop - 1 - ys.start))
        segments.append(FrameSegment(id=label, slot=slot_of[label], score=float(score_of[label]),
                                     area=int(areas[label]), bbox=bbox))
    return segments


class TrackScores:
    """Running mean of per-frame object scores (see the module docstring)."""

    def __init__(self, initial_scores: np.ndarray):
        self.total = np.asarray(initial_scores, dtype=np.float64).copy()
        self.count = 1

    def update(self, object_score_logits: torch.Tensor) -> None:
        self.total += torch.sigmoid(object_score_logits.float()).cpu().numpy()
        self.count += 1

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count
