"""Hole filling of low-res mask logits (spec model.md §6.6, quirk 14).

The official code uses a CUDA connected-components kernel and silently skips the step
without it. Here it is exact on every device: per slot, the 8-connected components of the
background (logit <= 0) with area <= ``max_area`` pixels get logit 0.1. There is no
enclosure test: small background components touching the border are filled too.

On an accelerator it runs on the logits' own device with torch operations only and no
data-dependent Python branch, so it makes no host round-trip (the streaming loop stays
asynchronous). On a CPU, scipy labelling is faster and gives the same result bit for bit
(tests/inference/test_hole_filling.py checks both against an independent oracle).

Method of the torch path (exact, not an approximation). Give every background pixel its index in the slot's
plane as a label and replace each label ``max_area - 1`` times by the minimum over its
8-neighbourhood restricted to background pixels (a 3x3 max-pool of the negated labels).
After k steps a pixel holds the minimum index within graph distance k inside its component.

* A component of area <= A has graph diameter <= A - 1, so after A - 1 steps all its pixels
  hold the same label (its smallest index) and no pixel of it has a background neighbour
  with another label: it is a *closed* group of <= A pixels.
* Conversely a group of pixels sharing a label that is closed (no background neighbour with
  a different label) is a union of whole components, and it is connected (each pixel got the
  label along a path from that label's pixel), so it is exactly one component.

Hence a pixel is filled iff its label group has <= A pixels and is closed, which is exactly
"its component has area <= A". Cost: A + 1 pooling passes over (Q, h, w), one bincount.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FILL_VALUE = 0.1


def fill_holes(logits: torch.Tensor, max_area: int = 8, method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Fill small background components.

    Args:
        logits: (Q, 1, h, w) mask logits (any float dtype, any device).
        max_area: components of at most this many pixels are filled (8 officially); <= 0 disables.
        method: ``torch`` (on the logits' device, no host synchronisation), ``scipy`` (labels
            on the host; several times faster on a CPU) or ``auto`` (``scipy`` for CPU
            tensors, ``torch`` elsewhere). Both give the same result bit for bit.
    Returns:
        (filled logits (Q, 1, h, w), pixels changed per slot (Q,) int64), both on the logits'
        device.
    """
    Q = logits.shape[0]
    if max_area <= 0:
        return logits, torch.zeros(Q, dtype=torch.int64, device=logits.device)
    if method == "auto":
        method = "scipy" if logits.device.type == "cpu" else "torch"
    if method == "scipy":
        fill = _small_components_scipy(logits[:, 0] <= 0, max_area)
    elif method == "torch":
        fill = small_background_components(logits[:, 0] <= 0, max_area)  # (Q, h, w) bool
    else:
        raise ValueError(f"method must be 'auto', 'torch' or 'scipy', got {method!r}")
    out = torch.where(fill[:, None], torch.tensor(FILL_VALUE, dtype=logits.dtype, device=logits.device), logits)
    return out, fill.flatten(1).sum(1)


def _small_components_scipy(bg: torch.Tensor, max_area: int) -> torch.Tensor:
    """:func:`small_background_components` by scipy labelling on the host."""
    from scipy import ndimage

    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connectivity inside a slot's plane, none across slots
    labels, n = ndimage.label(bg.cpu().numpy(), structure=structure)
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    small = areas <= max_area
    small[0] = False  # label 0 = foreground
    return torch.from_numpy(small[labels]).to(bg.device)


def _max3x3(v: torch.Tensor, pad: int) -> torch.Tensor:
    """3x3 maximum (stride 1, borders padded with ``pad``) of (Q, h, w), as two 1-D passes
    (several times faster than ``max_pool2d`` on CPU, and integer-exact)."""
    p = F.pad(v, (1, 1, 1, 1), value=pad)
    r = torch.maximum(torch.maximum(p[:, :, :-2], p[:, :, 1:-1]), p[:, :, 2:])
    return torch.maximum(torch.maximum(r[:, :-2], r[:, 1:-1]), r[:, 2:])


def small_background_components(bg: torch.Tensor, max_area: int) -> torch.Tensor:
    """(Q, h, w) bool background -> (Q, h, w) bool: pixels of 8-connected background
    components of at most ``max_area`` pixels (per plane, borders do not connect)."""
    Q, h, w = bg.shape
    n = h * w
    if n >= (1 << 30):
        raise ValueError(f"mask plane of {h}x{w} pixels is too large")
    big = n + 1  # |label| < big: the foreground value never wins a max (or a min)
    idx = torch.arange(n, device=bg.device, dtype=torch.int32).view(1, h, w)
    neg = torch.where(bg, -idx, -big)  # negated labels (int32)
    for _ in range(max_area - 1):
        neg = torch.where(bg, _max3x3(neg, -big), -big)
    # closed: no background neighbour with a smaller (max of neg) or larger (min of neg) label
    smaller = _max3x3(neg, -big) != neg
    larger = -_max3x3(-torch.where(bg, neg, big), -big) != neg
    open_px = bg & (smaller | larger)
    label = (-neg).to(torch.int64) + torch.arange(Q, device=bg.device).view(Q, 1, 1) * n
    label = torch.where(bg, label, Q * n)  # one extra bin for all foreground pixels
    area = torch.bincount(label.flatten(), minlength=Q * n + 1)
    opened = torch.bincount(torch.where(open_px, label, Q * n).flatten(), minlength=Q * n + 1)
    ok = (area <= max_area) & (opened == 0)
    ok[-1] = False
    return ok[label]
