"""Which parameters the paper's recipe trains (spec training.md §3); everything else is frozen."""

from __future__ import annotations

from torch import nn

# A parameter is trained iff its full name starts with one of these (official list;
# `level_embed` / `mask_embed` do not exist in the model and are kept for fidelity).
TRAINABLE_PREFIXES = (
    "sam_mask_decoder.transformer",
    "sam_mask_decoder.queries",
    "sam_mask_decoder.iou_queries",
    "sam_mask_decoder.output_upscaling",
    "sam_mask_decoder.conv_s0",
    "sam_mask_decoder.conv_s1",
    "sam_mask_decoder.output_hypernetworks_mlps.0",
    "sam_mask_decoder.cls_prediction_head",
    "sam_mask_decoder.iou_prediction_head",
    "sam_mask_decoder.level_embed",
    "sam_mask_decoder.mask_embed",
    "point_sampler_net",
    "point_sampler_num",
    "offset_attention",
    "offset_embedding",
    "offset_fc",
    "offset_cls",
    "dinov2_projector",
    "backbone_feature_enhancement",
)


def is_trainable(name: str) -> bool:
    return name.startswith(TRAINABLE_PREFIXES)


def set_trainable(model: nn.Module, train_all: bool = False) -> None:
    """Freeze/unfreeze parameters by the official rule (or unfreeze all for from-scratch runs)."""
    for name, p in model.named_parameters():
        p.requires_grad_(train_all or is_trainable(name))
