"""From a track to the image a classifier sees: best frame, crop, mask treatment, resize.

Best frame (:func:`best_frame`): the frame with the highest per-frame confidence (eIoU /
score, see :mod:`.tracks`); ties, and tracks without any score, are decided by the largest
mask area, then by the earliest frame. When the writer stored only the video-level score
(the same in every frame, the offline merge) this reduces to the largest-area frame.

Crop (:func:`crop_entity`): the mask's bounding box grown by ``margin`` x its width/height on
each side (context helps the classifier), optionally made square (CLIP centre-crops its
input), cut from the frame (outside the frame is padded grey), resized so that the longer
side is ``size`` pixels, and the mask treatment applied at that size:

* ``none``: plain crop;
* ``blur``: background (pixels outside the mask) Gaussian-blurred, the entity sharp;
* ``grey``: background replaced by mid-grey (128, 128, 128);
* ``contour``: plain crop with the mask outline drawn (red, ``contour_width`` px).

Example::

    cfg = CropConfig(margin=0.2, treatment="blur", size=336)
    crop = crop_entity(frame_pil, mask_bool, cfg)       # PIL RGB, longer side 336
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from entitysam.classify.tracks import Track, TrackFrame
from entitysam.errors import EntitySAMError

TREATMENTS = ("none", "blur", "grey", "contour")
GREY = (128, 128, 128)


@dataclass(frozen=True)
class CropConfig:
    """How a crop is made. ``margin`` is a fraction of the mask box size added on each side."""

    margin: float = 0.15
    treatment: str = "blur"
    size: int = 448
    square: bool = False
    blur_radius: float = 6.0
    contour_width: int = 3
    contour_colour: tuple[int, int, int] = (255, 0, 0)

    def __post_init__(self):
        if self.treatment not in TREATMENTS:
            raise EntitySAMError(f"mask treatment must be one of {', '.join(TREATMENTS)}, "
                                 f"got {self.treatment!r}")
        if self.margin < 0:
            raise EntitySAMError(f"crop margin must be >= 0, got {self.margin}")
        if self.size < 8:
            raise EntitySAMError(f"crop size must be >= 8 pixels, got {self.size}")

    def describe(self) -> str:
        """One sentence for a prompt: how the entity is shown in the crop."""
        return {
            "none": "The image is a crop centred on the object.",
            "blur": "The image is a crop centred on the object; the object is sharp and the "
                    "blurred background is only context.",
            "grey": "The image is a crop of the object; everything that is not the object is "
                    "greyed out.",
            "contour": "The image is a crop centred on the object, which is outlined in red.",
        }[self.treatment]


def best_frame(track: Track) -> TrackFrame:
    """The frame to classify a track on: max score, then max area, then earliest frame."""
    if not track.frames:
        raise ValueError(f"track {track.id} has no frame")
    scored = any(f.score is not None for f in track.frames)

    def key(f: TrackFrame):
        score = (f.score if f.score is not None else float("-inf")) if scored else 0.0
        return (score, f.area, -f.frame)

    return max(track.frames, key=key)


def crop_box(mask: np.ndarray, margin: float, square: bool) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), exclusive end, of the mask's box grown by ``margin`` (may leave the frame)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError("empty mask")
    x0, x1 = xs.min(), xs.max() + 1
    y0, y1 = ys.min(), ys.max() + 1
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = w * (0.5 + margin), h * (0.5 + margin)
    if square:
        half_w = half_h = max(half_w, half_h)
    return (int(np.floor(cx - half_w)), int(np.floor(cy - half_h)),
            int(np.ceil(cx + half_w)), int(np.ceil(cy + half_h)))


def _cut(arr: np.ndarray, box: tuple[int, int, int, int], fill) -> np.ndarray:
    """arr[y0:y1, x0:x1] with the part outside ``arr`` filled with ``fill``."""
    x0, y0, x1, y1 = box
    h, w = arr.shape[:2]
    out = np.empty((y1 - y0, x1 - x0) + arr.shape[2:], dtype=arr.dtype)
    out[...] = fill
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = arr[sy0:sy1, sx0:sx1]
    return out


def _output_size(w: int, h: int, size: int, square: bool) -> tuple[int, int]:
    if square:
        return size, size
    scale = size / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def crop_entity(image: Image.Image, mask: np.ndarray, config: CropConfig = CropConfig()) -> Image.Image:
    """Crop one entity: ``image`` PIL (H, W), ``mask`` (H, W) bool -> PIL RGB (see module doc)."""
    rgb = np.asarray(image.convert("RGB"))
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != rgb.shape[:2]:
        raise EntitySAMError(f"mask size {mask.shape[::-1]} differs from frame size "
                             f"{rgb.shape[1::-1]}; are --frames the frames of these tracks?")
    box = crop_box(mask, config.margin, config.square)
    crop = Image.fromarray(_cut(rgb, box, GREY))
    cmask = Image.fromarray(_cut(mask, box, False).astype(np.uint8) * 255)
    size = _output_size(crop.width, crop.height, config.size, config.square)
    crop = crop.resize(size, Image.BICUBIC)
    # bilinear then threshold: a smooth mask edge at the new size, no nearest-neighbour steps
    fg = np.asarray(cmask.resize(size, Image.BILINEAR)) >= 128
    return apply_treatment(crop, fg, config)


def apply_treatment(crop: Image.Image, fg: np.ndarray, config: CropConfig) -> Image.Image:
    """Apply ``config.treatment`` to a resized crop with its (h, w) bool foreground."""
    if config.treatment == "none":
        return crop
    arr = np.asarray(crop).copy()
    if config.treatment == "blur":
        blurred = np.asarray(crop.filter(ImageFilter.GaussianBlur(config.blur_radius)))
        arr[~fg] = blurred[~fg]
    elif config.treatment == "grey":
        arr[~fg] = GREY
    else:  # contour
        arr[outline(fg, config.contour_width)] = config.contour_colour
    return Image.fromarray(arr)


def outline(fg: np.ndarray, width: int) -> np.ndarray:
    """(h, w) bool: mask pixels within ``width`` px of the mask's border (inner contour)."""
    from scipy import ndimage

    if width < 1 or not fg.any():
        return np.zeros_like(fg)
    # pad with background so that a mask touching the crop border gets a contour there too
    inner = ndimage.binary_erosion(np.pad(fg, 1), iterations=width)[1:-1, 1:-1]
    return fg & ~inner
