"""Frame preprocessing exactly as the official loader does it (spec model.md §6.1).

Pillow ``convert("RGB").resize((S, S))`` with Pillow's default filter (bicubic, 8-bit
fixed-point, antialiased on downscale) -> uint8; ``/ 255`` in float64, stored float32;
minus the ImageNet mean and divided by the std, both float32. Torch or OpenCV resizes
differ by up to ~1/255 per pixel and break checkpoint parity, so every input (image
files, PyAV-decoded video frames, arrays) goes through this one function.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_pil_rgb(image) -> Image.Image:
    """Accept a PIL image or an (H, W[, C]) array (uint8, uint16, bool, float in [0, 1]) -> RGB PIL."""
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(image)
            return to_pil_rgb(arr)
        return image.convert("RGB")
    arr = np.asarray(image)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16 or (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.uint8):
        arr = (arr.astype(np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = (arr * 255.0).round().clip(0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return Image.fromarray(arr, mode="L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], mode="L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] == 4:
        return Image.fromarray(arr, mode="RGBA").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] == 3:
        return Image.fromarray(arr, mode="RGB")
    raise ValueError(f"unsupported image array shape {arr.shape}")


def preprocess(image, image_size: int = 1024) -> torch.Tensor:
    """Image (PIL or array) -> normalised float32 tensor (3, S, S), the official loader's way."""
    pil = to_pil_rgb(image).resize((image_size, image_size))  # default filter: bicubic for RGB
    arr = np.asarray(pil) / 255.0  # float64, as NumPy uint8 / 255.0
    t = torch.from_numpy(arr.astype(np.float32)).permute(2, 0, 1).contiguous()
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return (t - mean) / std
