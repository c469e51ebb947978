"""Test oracle: hole filling (spec model.md §6.6) by scipy labelling, written from the spec.

8-connected components (full 3x3 structuring element per slot plane) of ``logit <= 0``;
every component of at most ``max_area`` pixels gets logit 0.1, border-touching ones included.
Shares no code with ``entitysam`` (numpy + scipy only).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def scipy_fill_holes(logits: np.ndarray, max_area: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """logits (Q, 1, h, w) float array -> (filled copy, changed pixels per slot (Q,) int64)."""
    logits = np.asarray(logits)
    out = logits.copy()
    changed = np.zeros(logits.shape[0], dtype=np.int64)
    for q in range(logits.shape[0]):
        labels, n = ndimage.label(logits[q, 0] <= 0, structure=np.ones((3, 3), dtype=bool))
        if n == 0:
            continue
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        small = areas <= max_area
        small[0] = False  # label 0 = foreground
        fill = small[labels]
        out[q, 0][fill] = logits.dtype.type(0.1)
        changed[q] = int(fill.sum())
    return out, changed
