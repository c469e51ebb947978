"""Training forward pass over one clip (spec training.md §8).

Sequential propagation exactly as at inference but without warm-up repetitions and without
hole filling. The model should be in training mode (the frozen memory attention's dropout is
active, as officially).

Gradient through the memory path: officially (SAM 2.1 image encoder, memory attention, memory
encoder and memory embeddings frozen) memory conditioning and memory encoding run without
gradient, so no gradient crosses frames. When any parameter the memory path reads is trainable
(``--train-all``), they run *with* gradient instead, so those parameters learn (issue 16: without
this, a from-scratch run left the memory path, ``no_mem_embed`` and the stride-16 half of the
image encoder at their random initialisation). The stored prompt points and the mask logits fed
to the memory encoder stay detached in both cases; with a trainable memory path the gradient of
frame t's losses reaches frames < t only through the memory features (memory encoder and image
encoder of those frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from entitysam.inference.memory import MemoryBank
from entitysam.modeling.entitysam import EntitySAM


@dataclass
class ClipOutputs:
    pred_logits: Tensor  # (1, Q, 2) entity logits averaged over frames
    pred_iou: Tensor  # (1, Q, T, 1) IoU head outputs (sigmoid)
    pred_masks: Tensor  # (1, Q, T, s, s) low-res mask logits
    # (frame t, (Q, g*g) point-sampler distribution) for every frame where the sampler ran
    # (frame 0; every frame without memory), for the optional point loss (issue 16)
    point_probs: list[tuple[int, Tensor]] = field(default_factory=list)


def memory_path_trainable(model: EntitySAM) -> bool:
    """Whether a parameter read by memory conditioning / memory encoding requires gradient
    (False for the official trainable set, True under ``--train-all``)."""
    modules = (model.image_encoder, model.memory_attention, model.memory_encoder)
    own = (model.no_mem_embed, model.maskmem_tpos_enc)
    return any(p.requires_grad for m in modules for p in m.parameters()) or any(p.requires_grad for p in own)


def propagate_clip(model: EntitySAM, frames: Tensor, memory_dtype: torch.dtype = torch.float32) -> ClipOutputs:
    """Run the model over a clip.

    Args:
        frames: (T, 3, S, S) normalised frames of one clip.
    """
    T = frames.shape[0]
    bank = MemoryBank(model.cfg.num_maskmem, memory_dtype)
    memory_grad = torch.is_grad_enabled() and memory_path_trainable(model)
    points = None
    logits, ious, masks, point_probs = [], [], [], []
    for t in range(T):
        feats = model.encode_frame(frames[t : t + 1])
        with torch.set_grad_enabled(memory_grad):
            pix_feat = model.condition_on_memory(feats, bank.read())
        out = model.forward_heads(pix_feat, feats, points)
        if t < T - 1 and model.cfg.memory:  # the last frame's memory would never be read
            with torch.set_grad_enabled(memory_grad):
                bank.add(model.encode_memory(feats, out.lowres_logits.detach()))
        points = out.points.detach()
        if out.point_prob is not None:
            point_probs.append((t, out.point_prob))
        logits.append(out.entity_logits)
        ious.append(out.iou)
        masks.append(out.lowres_logits[:, 0])
    return ClipOutputs(
        pred_logits=torch.stack(logits).mean(0)[None],
        pred_iou=torch.stack(ious, dim=1)[None, :, :, None],
        pred_masks=torch.stack(masks, dim=1)[None],
        point_probs=point_probs,
    )
