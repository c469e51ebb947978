"""Parameters of the video-level merge (spec model.md §7, §12); defaults are official."""

from __future__ import annotations

from dataclasses import dataclass

#: Official defaults of ``inference_video_vps_save_results`` (spec §7).
OVERLAP_THRESHOLD = 0.7
MASK_BINARY_THRESHOLD = 0.5
OBJECT_MASK_THRESHOLD = 0.05
TEST_TOPK_PER_IMAGE = 100
QUALITY_STRIDE = 5  # quality is measured on real frames 0, 5, 10, ... (§7 step 4)


@dataclass(frozen=True)
class MergeOptions:
    """Parameters of the merge. The defaults reproduce the official driver (§7, §12).

    ``score_over``: ``"all"`` averages eIoU over every position including the warm-up
    copies of frame 0 (official quirk, §12 item 10); ``"real"`` over real frames only.
    ``slot_order``: ``"slot"`` visits kept slots in slot-index order (official, §12 item 16);
    ``"score"`` visits them by decreasing final score (ids then follow that order).
    ``spill_dtype``: dtype of the on-disk logits; ``"float16"`` halves the disk but rounds
    the logits, so the result may differ from the official one on a few pixels.
    """

    overlap_threshold: float = OVERLAP_THRESHOLD
    mask_binary_threshold: float = MASK_BINARY_THRESHOLD
    object_mask_threshold: float = OBJECT_MASK_THRESHOLD
    test_topk_per_image: int = TEST_TOPK_PER_IMAGE
    score_over: str = "all"
    slot_order: str = "slot"
    spill_dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("overlap_threshold", "mask_binary_threshold", "object_mask_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also rejects NaN
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if int(self.test_topk_per_image) < 1:
            raise ValueError(f"test_topk_per_image must be >= 1, got {self.test_topk_per_image}")
        if self.score_over not in ("all", "real"):
            raise ValueError(f"score_over must be 'all' or 'real', got {self.score_over!r}")
        if self.slot_order not in ("slot", "score"):
            raise ValueError(f"slot_order must be 'slot' or 'score', got {self.slot_order!r}")
        if self.spill_dtype not in ("float32", "float16"):
            raise ValueError(f"spill_dtype must be 'float32' or 'float16', got {self.spill_dtype!r}")
