"""The paper's SAM 2.1 baselines, run like ``entitysam segment`` and written in the same formats.

* ``sam2-everything`` (:mod:`.sam2_everything`): SAM 2's automatic mask generator on the first
  frame, every mask tracked by SAM 2.1 ("Everything Init", paper Tables 2 and 5).
* ``sam2-mask-init`` (:mod:`.sam2_mask_init`): first-frame masks from an image segmenter (files,
  or the optional Mask2Former of :mod:`.mask2former`), tracked by SAM 2.1 ("Mask2Former Init").

Both stream frames through :class:`.tracker.SAM2StreamTracker` (bounded memory) and write with
``entitysam.io.writers``; :func:`.run.run_baseline` is the entry point.
"""

from entitysam.baselines.init_masks import InitMasks, load_init_masks, read_id_png, read_rle_json
from entitysam.baselines.mask2former import MASK2FORMER_MODELS, Mask2FormerSegmenter
from entitysam.baselines.models import SAM2_VARIANTS, SAM2Variant, build_sam2_model
from entitysam.baselines.run import METHODS, run_baseline
from entitysam.baselines.sam2_everything import EverythingOptions
from entitysam.baselines.tracker import SAM2StreamTracker, TrackerOutput

__all__ = ["EverythingOptions", "InitMasks", "MASK2FORMER_MODELS", "METHODS", "Mask2FormerSegmenter",
           "SAM2StreamTracker", "SAM2Variant", "SAM2_VARIANTS", "TrackerOutput", "build_sam2_model",
           "load_init_masks", "read_id_png", "read_rle_json", "run_baseline"]
