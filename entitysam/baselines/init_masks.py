"""First-frame masks from any image segmenter, read from files (``--init-masks``).

Accepted files:

* an **id PNG** at the frame's size: RGB panoptic colours (id = R + 256 G + 65536 B, the
  COCO/VIPSeg convention) or a single-channel / palette image whose pixel value is the id;
  0 = no object. One object per distinct non-zero id, in increasing id order.
* a **COCO RLE JSON**: a list of records with a ``"segmentation"`` RLE
  (``{"size": [H, W], "counts": str | list}``; compressed or uncompressed), optionally a
  ``"score"`` (or ``"predicted_iou"``) and an ``"id"`` - e.g. COCO results, or SAM's automatic
  mask generator with ``output_mode="coco_rle"``; or ``{"annotations": [...]}`` of those; or a
  bare list of RLEs; or this project's ``rle.json`` (the tracks' masks on frame 0). Masks may
  overlap (overlaps are resolved per pixel like every other frame; ties go to the first mask).

``--init-masks`` may name such a file, or a folder holding ``<video>.png`` / ``<video>.json``,
a ``<video>/`` folder (its first file in sorted order), or exactly one mask file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.ids import rgb2id

MASK_SUFFIXES = (".png", ".json")


@dataclass
class InitMasks:
    """Objects on the first frame: ``masks`` (K, H, W) bool, ``scores`` (K,), ``source_ids``."""

    masks: np.ndarray
    scores: np.ndarray
    source_ids: list
    origin: str

    def __post_init__(self) -> None:
        self.masks = np.asarray(self.masks, dtype=bool)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.masks.ndim != 3 or len(self.scores) != self.masks.shape[0] or len(self.source_ids) != len(self.scores):
            raise ValueError("InitMasks: masks (K, H, W), scores (K,) and source_ids (K) must agree")

    @property
    def size(self) -> tuple[int, int]:
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    def nonempty(self) -> "InitMasks":
        """Drop masks without pixels (SAM 2 cannot track them); error when none is left."""
        keep = self.masks.any(axis=(1, 2))
        if not keep.any():
            raise EntitySAMError(f"{self.origin}: no non-empty mask on the first frame")
        return InitMasks(self.masks[keep], self.scores[keep], [i for i, k in zip(self.source_ids, keep) if k],
                         self.origin)

    def check_size(self, frame_size: tuple[int, int]) -> None:
        if self.size != tuple(frame_size):
            raise EntitySAMError(
                f"{self.origin}: masks are {self.size[1]}x{self.size[0]} but the video frames are "
                f"{frame_size[1]}x{frame_size[0]}; give masks at the frame size")


def read_id_png(path: str | os.PathLike) -> InitMasks:
    """Id PNG (RGB panoptic colours, or one channel = id) -> one mask per non-zero id."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGB", "RGBA"):
                ids = rgb2id(np.asarray(im.convert("RGB")))
            elif im.mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
                ids = np.asarray(im).astype(np.int64)  # palette images: the index is the id
            else:
                raise EntitySAMError(f"{path}: unsupported id PNG mode {im.mode!r} (use RGB, L, P or I;16)")
    except (OSError, ValueError, SyntaxError) as exc:
        raise EntitySAMError(f"{path}: cannot read id PNG ({exc})") from None
    values = [int(v) for v in np.unique(ids) if v != 0]
    masks = np.stack([ids == v for v in values]) if values else np.zeros((0,) + ids.shape, dtype=bool)
    return InitMasks(masks, np.ones(len(values)), values, str(path))


def _decode_rle(rle: dict, where: str) -> np.ndarray:
    from pycocotools import mask as mask_utils

    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
        if isinstance(counts, list):  # uncompressed RLE
            rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        else:
            rle = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        return mask_utils.decode(rle).astype(bool)
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(f"{where}: not a COCO RLE ({type(exc).__name__}: {exc})") from None


def _records(obj) -> list[dict]:
    """Normalise the accepted JSON layouts to records {"segmentation", "score", "id"}."""
    if isinstance(obj, dict) and obj.get("format", "").startswith("entitysam-rle/"):
        out = []
        for tr in obj.get("tracks", []):
            first = next((f for f in tr["frames"] if f["frame"] == 0), None)
            if first is not None:
                out.append({"segmentation": first["rle"], "score": tr.get("score", 1.0), "id": tr["id"]})
        return out
    if isinstance(obj, dict) and "annotations" in obj:
        obj = obj["annotations"]
    if not isinstance(obj, list):
        raise EntitySAMError("expected a list of RLE records, {'annotations': [...]} or an entitysam rle.json")
    return [r if "segmentation" in r else {"segmentation": r} for r in obj]


def read_rle_json(path: str | os.PathLike) -> InitMasks:
    """COCO RLE JSON (see the module docstring) -> masks in file order."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EntitySAMError(f"{path}: cannot read JSON ({exc})") from None
    try:
        records = _records(obj)
    except EntitySAMError as exc:
        raise EntitySAMError(f"{path}: {exc}") from None
    if not records:
        raise EntitySAMError(f"{path}: no mask records")
    masks = [_decode_rle(r["segmentation"], f"{path} record {k}") for k, r in enumerate(records)]
    if len({m.shape for m in masks}) > 1:
        raise EntitySAMError(f"{path}: masks of different sizes {sorted({m.shape for m in masks})}")
    scores = [float(r.get("score", r.get("predicted_iou", 1.0))) for r in records]
    ids = [r.get("id", k + 1) for k, r in enumerate(records)]
    return InitMasks(np.stack(masks), np.asarray(scores), ids, str(path))


def find_init_mask_file(path: str | os.PathLike, video_name: str) -> Path:
    """The mask file for ``video_name`` under ``path`` (a file, or a folder; see module docstring)."""
    p = Path(path)
    if p.is_file():
        return p
    if not p.is_dir():
        raise EntitySAMError(f"{p}: --init-masks: no such file or folder")
    for suffix in MASK_SUFFIXES:
        if (p / f"{video_name}{suffix}").is_file():
            return p / f"{video_name}{suffix}"
    sub = p / video_name
    if sub.is_dir():
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in MASK_SUFFIXES and f.is_file())
        if files:
            return files[0]
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in MASK_SUFFIXES and f.is_file())
    if len(files) == 1:
        return files[0]
    raise EntitySAMError(
        f"{p}: no first-frame masks for video {video_name!r}: expected {video_name}.png, "
        f"{video_name}.json, {video_name}/<first frame>.png, or a folder with exactly one mask file")


def load_init_masks(path: str | os.PathLike, video_name: str = "") -> InitMasks:
    """Read the first-frame masks of ``video_name`` (id PNG or COCO RLE JSON), empty ones dropped."""
    f = find_init_mask_file(path, video_name)
    reader = read_rle_json if f.suffix.lower() == ".json" else read_id_png
    return reader(f).nonempty()
