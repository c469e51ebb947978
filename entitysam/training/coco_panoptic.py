"""COCO-panoptic reader producing class-agnostic entities (spec training.md §4).

Works on any folder in COCO-panoptic format::

    <root>/<split>/                          RGB images (file_name from the JSON ``images``)
    <root>/panoptic_<split>/                 RGB id PNGs, id = R + 256 G + 65536 B
    <root>/annotations/panoptic_<split>.json {"images", "annotations", "categories"}

Every non-crowd segment (thing or stuff) is an entity. Crowd segments are not entities and
are *not* an ignore region: their pixels are plain background (§4, quirk 1). Images whose
``segments_info`` is empty are kept (``FILTER_EMPTY_ANNOTATIONS = False``, §4).

Example::

    ds = CocoPanoptic.from_root("datasets/coco")
    rec = ds[0]
    image, ids = ds.load(rec)           # (H, W, 3) uint8, (H, W) int64 segment ids
    masks = [ids == s.id for s in rec.entities]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.ids import rgb2id


@dataclass(frozen=True)
class Category:
    """One panoptic category; ``contiguous_id`` orders things first, then stuff (§4)."""

    id: int
    name: str
    isthing: bool
    contiguous_id: int


@dataclass(frozen=True)
class Segment:
    """One entry of ``segments_info``.

    ``label`` is the official entity label, contiguous id + 1 (1 … num_categories, never 0);
    the matcher and losses replace it by the single foreground class (§4).
    ``bbox`` is COCO xywh as stored in the JSON.
    """

    id: int
    category_id: int
    label: int
    isthing: bool
    iscrowd: bool
    area: int
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class PanopticRecord:
    """One panoptic annotation (one image)."""

    image_id: int | str
    image_path: Path
    png_path: Path
    height: int | None
    width: int | None
    segments: tuple[Segment, ...]

    @property
    def entities(self) -> tuple[Segment, ...]:
        """Non-crowd segments in JSON order: the class-agnostic entities (§4, §5.3)."""
        return tuple(s for s in self.segments if not s.iscrowd)


def coco_panoptic_paths(root: str | os.PathLike, split: str = "train2017") -> tuple[Path, Path, Path]:
    """(json, png_dir, image_dir) of the standard layout under ``root`` (§4: ``datasets/coco``)."""
    root = Path(root)
    return (
        root / "annotations" / f"panoptic_{split}.json",
        root / f"panoptic_{split}",
        root / split,
    )


def _contiguous_categories(raw: Sequence[dict], json_path: Path) -> dict[int, Category]:
    """Things first (by id), then stuff (by id): COCO's 80 things -> 0…79, 53 stuff -> 80…132 (§4)."""
    cats = []
    for c in raw:
        try:
            cats.append((int(c["id"]), str(c.get("name", c["id"])), bool(c.get("isthing", 1))))
        except (KeyError, TypeError, ValueError) as exc:
            raise EntitySAMError(f"{json_path}: malformed category entry {c!r} ({exc})") from None
    ordered = sorted(cats, key=lambda c: (not c[2], c[0]))
    out: dict[int, Category] = {}
    for k, (cid, name, isthing) in enumerate(ordered):
        if cid in out:
            raise EntitySAMError(f"{json_path}: category id {cid} appears twice in 'categories'")
        out[cid] = Category(cid, name, isthing, k)
    return out


def _read_json(json_path: Path) -> dict:
    if not json_path.is_file():
        raise EntitySAMError(f"panoptic annotation file not found: {json_path}")
    try:
        with open(json_path, "rb") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise EntitySAMError(
            f"{json_path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise EntitySAMError(f"{json_path}: not a UTF-8 JSON file ({exc.reason})") from None
    if not isinstance(data, dict):
        raise EntitySAMError(f"{json_path}: expected a JSON object, got {type(data).__name__}")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise EntitySAMError(
                f"{json_path}: missing or non-list '{key}' (expected COCO-panoptic keys "
                "'images', 'annotations', 'categories')"
            )
    return data


def _parse_segment(s: dict, cats: dict[int, Category], where: str) -> Segment:
    """One ``segments_info`` entry -> Segment; ``area``/``bbox``/``iscrowd`` may be absent."""
    try:
        cid, sid = int(s["category_id"]), int(s["id"])
        area, iscrowd = int(s.get("area", 0)), bool(s.get("iscrowd", 0))
        bbox = tuple(float(v) for v in s.get("bbox", (0, 0, 0, 0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(f"{where}: malformed segment {s!r} ({type(exc).__name__}: {exc})") from None
    if cid not in cats:
        raise EntitySAMError(f"{where}: segment {sid} has category_id {cid}, not in 'categories'")
    if not 0 < sid < 2**24:
        raise EntitySAMError(f"{where}: segment id {sid} outside 1…2^24-1 (id = R + 256 G + 65536 B)")
    cat = cats[cid]
    return Segment(
        id=sid,
        category_id=cid,
        label=cat.contiguous_id + 1,
        isthing=cat.isthing,
        iscrowd=iscrowd,
        area=area,
        bbox=bbox,  # type: ignore[arg-type]
    )


def load_coco_panoptic(
    json_path: str | os.PathLike, png_dir: str | os.PathLike, image_dir: str | os.PathLike
) -> tuple[list[PanopticRecord], dict[int, Category]]:
    """Parse a COCO-panoptic JSON into one record per annotation (JSON order) and the categories.

    The image of an annotation is ``image_dir / images[image_id].file_name`` when the JSON
    lists the image, else the PNG's stem + ``.jpg`` (the official rule, §4; identical for COCO).
    Files are not opened here; :meth:`CocoPanoptic.load` reports missing ones.
    """
    json_path, png_dir, image_dir = Path(json_path), Path(png_dir), Path(image_dir)
    data = _read_json(json_path)
    for d, what in ((png_dir, "panoptic PNG folder"), (image_dir, "image folder")):
        if not d.is_dir():
            raise EntitySAMError(f"{what} not found: {d}")
    cats = _contiguous_categories(data["categories"], json_path)
    images = {}
    for im in data.get("images", []) or []:
        if isinstance(im, dict) and "id" in im:
            images[im["id"]] = im
    records = []
    for k, ann in enumerate(data["annotations"]):
        where = f"{json_path}: annotations[{k}]"
        if not isinstance(ann, dict) or "file_name" not in ann or "segments_info" not in ann:
            raise EntitySAMError(f"{where}: expected an object with 'file_name' and 'segments_info'")
        segs = tuple(_parse_segment(s, cats, where) for s in ann["segments_info"])
        if len({s.id for s in segs}) != len(segs):
            raise EntitySAMError(f"{where}: duplicate segment ids in segments_info")
        png_path = png_dir / ann["file_name"]
        im = images.get(ann.get("image_id"))
        if im is not None and "file_name" in im:
            image_path = image_dir / im["file_name"]
        else:
            image_path = image_dir / (Path(ann["file_name"]).stem + ".jpg")
        records.append(
            PanopticRecord(
                image_id=ann.get("image_id", Path(ann["file_name"]).stem),
                image_path=image_path,
                png_path=png_path,
                height=int(im["height"]) if im is not None and "height" in im else None,
                width=int(im["width"]) if im is not None and "width" in im else None,
                segments=segs,
            )
        )
    return records, cats


def read_rgb(path: Path) -> np.ndarray:
    """Image file -> (H, W, 3) uint8 RGB (``INPUT.FORMAT = "RGB"``, §4)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise EntitySAMError(f"image not found: {path}") from None
    except OSError as exc:
        raise EntitySAMError(f"cannot read image {path}: {exc}") from None


def read_panoptic_png(path: Path) -> np.ndarray:
    """Panoptic PNG -> (H, W) int64 segment ids (id = R + 256 G + 65536 B; 0 = void)."""
    return rgb2id(read_rgb(path))


class CocoPanoptic:
    """A COCO-panoptic dataset: indexable records plus image/PNG loading.

    Args:
        json_path: ``panoptic_<split>.json``.
        png_dir: folder of RGB id PNGs.
        image_dir: folder of images.
    """

    def __init__(
        self, json_path: str | os.PathLike, png_dir: str | os.PathLike, image_dir: str | os.PathLike
    ) -> None:
        self.json_path = Path(json_path)
        self.records, self.categories = load_coco_panoptic(json_path, png_dir, image_dir)

    @classmethod
    def from_root(cls, root: str | os.PathLike, split: str = "train2017") -> "CocoPanoptic":
        """Open the standard layout under ``root`` (see :func:`coco_panoptic_paths`)."""
        return cls(*coco_panoptic_paths(root, split))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> PanopticRecord:
        return self.records[index]

    def __iter__(self) -> Iterator[PanopticRecord]:
        return iter(self.records)

    def load(self, record: PanopticRecord) -> tuple[np.ndarray, np.ndarray]:
        """Read one record -> (image (H, W, 3) uint8 RGB, segment ids (H, W) int64)."""
        image = read_rgb(record.image_path)
        ids = read_panoptic_png(record.png_path)
        if image.shape[:2] != ids.shape:
            raise EntitySAMError(
                f"{record.png_path}: PNG size {ids.shape[1]}x{ids.shape[0]} differs from image "
                f"{record.image_path} size {image.shape[1]}x{image.shape[0]}"
            )
        return image, ids
