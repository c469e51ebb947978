"""Optional first-frame segmenter: COCO-panoptic Mask2Former from ``transformers`` (paper Table 2,
"Mask2Former Init").

Needs the optional extra ``pip install 'entitysam[mask2former]'`` (``transformers``). The weights
of the named models come from the Hugging Face hub on first use (cached); any other hub repo id
or local folder holding a ``Mask2FormerForUniversalSegmentation`` works too. Every panoptic
segment of the first frame (things and stuff, no class fusion) becomes one object.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import torch

from entitysam.baselines.init_masks import InitMasks
from entitysam.errors import EntitySAMError

#: ``--init-model`` names -> Hugging Face repos (COCO panoptic, 133 classes).
MASK2FORMER_MODELS = {
    "mask2former-swin-t-coco-panoptic": "facebook/mask2former-swin-tiny-coco-panoptic",
    "mask2former-swin-s-coco-panoptic": "facebook/mask2former-swin-small-coco-panoptic",
    "mask2former-swin-b-coco-panoptic": "facebook/mask2former-swin-base-coco-panoptic",
    "mask2former-swin-l-coco-panoptic": "facebook/mask2former-swin-large-coco-panoptic",
}


def require_transformers() -> None:
    if importlib.util.find_spec("transformers") is None:
        raise EntitySAMError("--init-model needs the optional extra 'transformers': "
                             "pip install 'entitysam[mask2former]' (or pass --init-masks files instead)")


class Mask2FormerSegmenter:
    """First frame (H, W, 3) uint8 -> :class:`InitMasks` (one mask per panoptic segment).

    Args:
        model: a ``transformers`` ``Mask2FormerForUniversalSegmentation`` (eval mode).
        processor: its ``Mask2FormerImageProcessor``.
        threshold / mask_threshold / overlap_mask_area_threshold: ``post_process_panoptic_segmentation``
            parameters (transformers' defaults).
    """

    def __init__(self, model, processor, *, threshold: float = 0.5, mask_threshold: float = 0.5,
                 overlap_mask_area_threshold: float = 0.8):
        self.model, self.processor = model.eval(), processor
        self.threshold, self.mask_threshold = threshold, mask_threshold
        self.overlap_mask_area_threshold = overlap_mask_area_threshold

    @classmethod
    def from_pretrained(cls, name: str, device: str | torch.device = "cpu", **kwargs) -> "Mask2FormerSegmenter":
        """A named model of :data:`MASK2FORMER_MODELS`, a hub repo id, or a local folder."""
        require_transformers()
        from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation

        repo = MASK2FORMER_MODELS.get(name, name)
        if not os.path.isdir(repo):
            from entitysam.hub import cached_file, reachable

            reason = None if cached_file(repo, "config.json") else reachable()
            if reason:  # fail in seconds, not after the hub client's retries
                raise EntitySAMError(f"cannot fetch Mask2Former {repo!r} from Hugging Face ({reason}); "
                                     f"offline, pass a local folder or --init-masks files")
        try:
            processor = AutoImageProcessor.from_pretrained(repo)
            model = Mask2FormerForUniversalSegmentation.from_pretrained(repo)
        except Exception as exc:  # noqa: BLE001 - offline, unknown repo: one message
            raise EntitySAMError(
                f"could not load Mask2Former {repo!r} ({type(exc).__name__}); known names: "
                f"{', '.join(MASK2FORMER_MODELS)}; offline, pass a local folder or --init-masks files") from None
        return cls(model.to(device), processor, **kwargs)

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray) -> InitMasks:
        h, w = rgb.shape[:2]
        device = next(self.model.parameters()).device
        inputs = self.processor(images=np.array(rgb, dtype=np.uint8), return_tensors="pt")  # writable copy
        outputs = self.model(pixel_values=inputs["pixel_values"].to(device))
        result = self.processor.post_process_panoptic_segmentation(
            outputs, threshold=self.threshold, mask_threshold=self.mask_threshold,
            overlap_mask_area_threshold=self.overlap_mask_area_threshold,
            label_ids_to_fuse=set(), target_sizes=[(h, w)])[0]
        seg = result["segmentation"].cpu().numpy()  # 0 (or -1) = no segment, ids from 1
        infos = result["segments_info"]
        masks = np.stack([seg == s["id"] for s in infos]) if infos else np.zeros((0, h, w), bool)
        scores = np.asarray([float(s["score"]) for s in infos])
        return InitMasks(masks, scores, [int(s["id"]) for s in infos], "mask2former")
