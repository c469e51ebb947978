"""Training forward pass over one clip (spec training.md §8).

Sequential propagation exactly as at inference but without warm-up repetitions and without
hole filling; memory conditioning and memory encoding run without gradient and the stored
prompt points are detached, so no gradient crosses frames. The model should be in training
mode (the frozen memory attention's dropout is active, as officially).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from entitysam.inference.memory import MemoryBank
from entitysam.modeling.entitysam import EntitySAM


@dataclass
class ClipOutputs:
    pred_logits: Tensor  # (1, Q, 2) entity logits averaged over frames
    pred_iou: Tensor  # (1, Q, T, 1) IoU head outputs (sigmoid)
    pred_masks: Tensor  # (1, Q, T, s, s) low-res mask logits


def propagate_clip(model: EntitySAM, frames: Tensor, memory_dtype: torch.dtype = torch.float32) -> ClipOutputs:
    """Run the model over a clip.

    Args:
        frames: (T, 3, S, S) normalised frames of one clip.
    """
    T = frames.shape[0]
    bank = MemoryBank(model.cfg.num_maskmem, memory_dtype)
    points = None
    logits, ious, masks = [], [], []
    for t in range(T):
        feats = model.encode_frame(frames[t : t + 1])
        with torch.no_grad():
            pix_feat = model.condition_on_memory(feats, bank.read())
        out = model.forward_heads(pix_feat, feats, points)
        if t < T - 1:  # the last frame's memory would never be read
            with torch.no_grad():
                bank.add(model.encode_memory(feats, out.lowres_logits.detach()))
        points = out.points.detach()
        logits.append(out.entity_logits)
        ious.append(out.iou)
        masks.append(out.lowres_logits[:, 0])
    return ClipOutputs(
        pred_logits=torch.stack(logits).mean(0)[None],
        pred_iou=torch.stack(ious, dim=1)[None, :, :, None],
        pred_masks=torch.stack(masks, dim=1)[None],
    )
