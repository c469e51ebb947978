"""Evaluation inputs from disk: JSON files and PNG label maps, with one-line errors naming the file."""

from __future__ import annotations

import os

import numpy as np

from entitysam.errors import EntitySAMError
from entitysam.io.ids import rgb2id
from entitysam.io.jsonfile import one_line


def read_id_png(path: str | os.PathLike, what: str = "PNG") -> np.ndarray:
    """Decode a COCO-panoptic RGB PNG to ids.

    Returns:
        (H, W) int64 array, id = R + 256 G + 65536 B (0 = void).
    """
    rgb = _read_png(path, what)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise EntitySAMError(
            f"{what} {path} is not an RGB PNG (array shape {rgb.shape}); "
            "panoptic id maps must be 8-bit RGB (id = R + 256 G + 65536 B)"
        )
    return rgb2id(rgb)


def read_label_png(path: str | os.PathLike, what: str = "PNG") -> np.ndarray:
    """Decode a single-channel label PNG (VSPW masks / semantic predictions).

    Returns:
        (H, W) int64 array of raw values.
    """
    arr = _read_png(path, what)
    if arr.ndim != 2:
        raise EntitySAMError(
            f"{what} {path} is not a single-channel PNG (array shape {arr.shape})"
        )
    return arr.astype(np.int64)


def _read_png(path: str | os.PathLike, what: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode == "P":  # palette PNGs (VSPW masks) hold the label in the index
                return np.array(img)
            if img.mode not in ("RGB", "RGBA", "L", "I", "I;16"):
                raise EntitySAMError(f"{what} {path} has unsupported PNG mode {img.mode!r}")
            return np.array(img)
    except FileNotFoundError:
        raise EntitySAMError(f"{what} missing: {path}") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise EntitySAMError(f"cannot read {what} {path}: {one_line(exc)}") from None
