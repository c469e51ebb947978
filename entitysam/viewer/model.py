"""What the viewer shows of one video: its entities and, per frame, their masks as COCO RLE.

Built by :mod:`entitysam.viewer.tracks` from an ``entitysam segment`` output, completed by
:mod:`entitysam.viewer.identity` (summary.json, panoptic ids) and
:mod:`entitysam.viewer.labels` (an ``entitysam classify`` output), and written for the browser
by :mod:`entitysam.viewer.site`. Masks are not decoded here: the browser decodes the RLE of a
frame when it shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Entity:
    """One entity track. ``id`` is the entity id of ``rle.json`` / ``summary.json`` / the
    overlay colours (the panoptic id when only ``pred.json`` is known); ``areas`` has one
    value per frame of the video, 0 where the entity is absent."""

    id: int
    areas: list[int]
    mask_id: int | None = None  # the id in the masks of the layout (default: ``id``)
    slot: int | None = None
    score: float | None = None
    mean_eiou: float | None = None
    quality: float | None = None
    panoptic_id: int | None = None
    label: str | None = None
    label_confidence: float | None = None

    def __post_init__(self):
        if self.mask_id is None:
            self.mask_id = self.id

    @property
    def first_frame(self) -> int:
        return next((i for i, a in enumerate(self.areas) if a > 0), -1)

    @property
    def last_frame(self) -> int:
        return max((i for i, a in enumerate(self.areas) if a > 0), default=-1)


#: frame index -> [(entity id, COCO RLE "counts" string), ...] of the entities in the frame
MaskLoader = Callable[[int], "list[tuple[int, str]]"]


@dataclass
class VideoView:
    """One video of an output. ``layout`` says where the masks come from (``rle.json`` or
    ``pred.json``); ``masks(i)`` reads frame ``i``'s masks only when asked."""

    name: str
    height: int
    width: int
    fps: float | None
    frame_names: list[str]
    entities: list[Entity]
    masks: MaskLoader
    layout: str
    notes: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    def entity(self, entity_id: int) -> Entity | None:
        return next((e for e in self.entities if e.id == entity_id), None)
