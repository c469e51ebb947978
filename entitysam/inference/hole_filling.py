"""Hole filling of low-res mask logits (spec model.md §6.6, quirk 14).

The official code uses a CUDA connected-components kernel and silently skips the step
without it. Here it is exact on every device: per slot, the 8-connected components of the
background (logit <= 0) with area <= ``max_area`` pixels get logit 0.1. There is no
enclosure test: small background components touching the border are filled too.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

FILL_VALUE = 0.1

# 8-connectivity inside a slot's plane, no connection across slots
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_STRUCTURE[1] = True


def fill_holes(logits: torch.Tensor, max_area: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill small background components.

    Args:
        logits: (Q, 1, h, w) mask logits.
        max_area: components of at most this many pixels are filled (8 officially); <= 0 disables.
    Returns:
        (filled logits (Q, 1, h, w), pixels changed per slot (Q,) int64)
    """
    Q = logits.shape[0]
    if max_area <= 0:
        return logits, torch.zeros(Q, dtype=torch.int64)
    bg = (logits[:, 0] <= 0).cpu().numpy()
    labels, n = ndimage.label(bg, structure=_STRUCTURE)
    if n == 0:
        return logits, torch.zeros(Q, dtype=torch.int64)
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    small = areas <= max_area
    small[0] = False  # label 0 = foreground
    fill = small[labels]  # (Q, h, w)
    if not fill.any():
        return logits, torch.zeros(Q, dtype=torch.int64)
    mask = torch.from_numpy(fill).to(logits.device)[:, None]
    out = torch.where(mask, torch.tensor(FILL_VALUE, dtype=logits.dtype, device=logits.device), logits)
    return out, torch.from_numpy(fill.reshape(Q, -1).sum(1))
