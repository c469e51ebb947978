"""Dual encoder: SAM 2.1 features fused with DINOv2 semantics (spec model.md §4, §5.1).

The modules live on the EntitySAM model under their official names
(``image_encoder``, ``dinov2_feature_extractor``, ``dinov2_projector``,
``backbone_feature_enhancement``); these functions are the computation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def dino_tokens(dinov2: nn.Module, image: Tensor, dino_size: int) -> Tensor:
    """DINOv2 patch tokens of the normalised frame.

    The same ImageNet-normalised S x S frame the SAM branch sees is resized bilinearly
    (``align_corners=False``, no antialias) to ``dino_size`` (896 = 14 * 64 officially).

    Args:
        image: (1, 3, S, S) normalised frame.
    Returns:
        (1, g*g, D) last-layer normed patch tokens, row-major (matches the SAM grid).
    """
    x = F.interpolate(image, size=(dino_size, dino_size), mode="bilinear", align_corners=False)
    return dinov2(x)


def concat_features(pix_feat: Tensor, dino_proj: Tensor) -> Tensor:
    """F_cat = [SAM tokens || projected DINOv2 tokens] (SAM first).

    Args:
        pix_feat: (Q, C, g, g) memory-conditioned SAM features (one copy per slot).
        dino_proj: (1, g*g, C) ``dinov2_projector`` output, shared by all slots.
    Returns:
        (Q, g*g, 2C)
    """
    Q = pix_feat.shape[0]
    sam_tokens = pix_feat.flatten(2).permute(0, 2, 1)
    return torch.cat([sam_tokens, dino_proj.expand(Q, -1, -1)], dim=-1)


def fuse(enhancement: nn.Module, f_cat: Tensor, grid: int) -> Tensor:
    """``backbone_feature_enhancement`` Linear(2C -> C) on F_cat -> (Q, C, g, g) image embedding."""
    fused = enhancement(f_cat)  # (Q, g*g, C)
    return fused.permute(0, 2, 1).reshape(fused.shape[0], fused.shape[2], grid, grid)


def fuse_split(enhancement: nn.Linear, sam_tokens: Tensor, dino_proj: Tensor, grid: int) -> Tensor:
    """:func:`fuse` without building F_cat: the Linear(2C -> C) is split into its SAM and
    DINOv2 column halves, W·[s; d] + b = W_s·s + (W_d·d + b), and the DINOv2 half (the same
    for every slot) is computed once.

    Args:
        sam_tokens: (Q or 1, g*g, C) SAM tokens; dino_proj: (1, g*g, C).
    Returns:
        (Q or 1, C, g, g), equal to :func:`fuse` on F_cat up to float rounding.
    """
    C = sam_tokens.shape[-1]
    w = enhancement.weight
    shared = F.linear(dino_proj, w[:, C:], enhancement.bias)  # (1, g*g, C)
    fused = F.linear(sam_tokens, w[:, :C]).add_(shared)
    return fused.transpose(1, 2).reshape(fused.shape[0], fused.shape[2], grid, grid)
