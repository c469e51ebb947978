"""Baseline "SAM 2.1 everything init" (paper Table 2 / Table 5 row 1).

SAM 2's automatic mask generator (``sam2.automatic_mask_generator.SAM2AutomaticMaskGenerator``:
a grid of point prompts, IoU / stability filtering, box NMS) segments the first frame; every
mask becomes an object, conditioned on frame 0 and propagated through the video by SAM 2.1
(:class:`~entitysam.baselines.tracker.SAM2StreamTracker`). Frame 0's output is the generated
masks themselves (SAM 2 uses mask inputs as the output on the conditioning frame); later frames
come from memory only. Track scores start from the generator's predicted IoU.

Example::

    from entitysam.baselines import run_baseline, EverythingOptions
    run_baseline("sam2-everything", "clip.mp4", "out/", formats="panoptic,rle",
                 everything=EverythingOptions(points_per_side=32))
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass

import numpy as np

from entitysam.baselines.init_masks import InitMasks
from entitysam.errors import EntitySAMError


@dataclass(frozen=True)
class EverythingOptions:
    """Parameters of ``SAM2AutomaticMaskGenerator`` (same names and defaults as sam2 1.1.0).

    ``points_per_side``: grid of points_per_side^2 prompts; ``points_per_batch``: prompts per
    forward pass; ``pred_iou_thresh`` / ``stability_score_thresh`` / ``stability_score_offset``:
    quality filters; ``mask_threshold``: logit threshold of the masks; ``box_nms_thresh``: NMS
    IoU; ``crop_n_layers`` / ``crop_nms_thresh`` / ``crop_overlap_ratio`` /
    ``crop_n_points_downscale_factor``: multi-crop mode; ``min_mask_region_area``: remove small
    islands/holes (needs OpenCV: ``pip install opencv-python-headless``); ``use_m2m``: one
    mask-to-mask refinement step; ``multimask_output``: three masks per point.
    Our addition: ``max_objects`` keeps the masks with the highest predicted IoU (None = all).
    """

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0
    use_m2m: bool = False
    multimask_output: bool = True
    max_objects: int | None = None

    def generator_kwargs(self) -> dict:
        kw = asdict(self)
        kw.pop("max_objects")
        return kw


def make_generator(model, options: EverythingOptions):
    """A ``SAM2AutomaticMaskGenerator`` on ``model`` (a SAM2Base; shared with the tracker)."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    if options.min_mask_region_area > 0 and importlib.util.find_spec("cv2") is None:
        raise EntitySAMError("min_mask_region_area > 0 needs OpenCV (sam2 uses it for the clean-up); "
                             "pip install opencv-python-headless, or set it to 0")
    if options.points_per_side < 1:
        raise EntitySAMError(f"points_per_side must be >= 1, got {options.points_per_side}")
    gen = SAM2AutomaticMaskGenerator(model, output_mode="binary_mask", **options.generator_kwargs())
    # SAM2ImagePredictor hard-codes the feature sizes of a 1024 px model; derive them from the
    # model's image size so smaller models (tests) work too (a no-op at 1024)
    s = model.image_size
    gen.predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    return gen


def everything_init(generator, rgb: np.ndarray, max_objects: int | None = None) -> InitMasks:
    """First frame (H, W, 3) uint8 -> the generator's masks as objects (best predicted IoU first
    when ``max_objects`` caps them; otherwise in the generator's order)."""
    records = generator.generate(np.array(rgb, dtype=np.uint8))  # writable copy (torchvision warns on read-only arrays)
    if max_objects is not None:
        records = sorted(records, key=lambda r: -r["predicted_iou"])[:max_objects]
    h, w = rgb.shape[:2]
    if not records:
        return InitMasks(np.zeros((0, h, w), bool), np.zeros(0), [], "sam2 automatic mask generator")
    masks = np.stack([np.asarray(r["segmentation"], dtype=bool) for r in records])
    scores = np.asarray([float(r["predicted_iou"]) for r in records])
    return InitMasks(masks, scores, list(range(1, len(records) + 1)), "sam2 automatic mask generator")
