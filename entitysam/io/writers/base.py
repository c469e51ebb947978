"""The writer interface shared by every output format (one file per format).

A writer is a sink: ``open`` once per video, ``write_frame`` once per real frame in order,
``close`` at the end (``abort`` on failure). Writers write below a ``root`` folder that is
itself temporary: the pipeline renames it into place only after every writer closed
(``entitysam.io.atomic.atomic_dir``), so an interrupted run leaves nothing that looks
complete.
"""

from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Sequence

import numpy as np

from entitysam.core.segments import FrameSegment


class Writer:
    """Base class. Subclasses set ``name`` and ``needs_rgb`` and implement the three calls.

    ``id_map``: (H, W) int32 entity ids of the frame (0 = void; ids are stable over the
    video); ``segments``: the entities present in the frame (id, slot, score, area, bbox);
    ``rgb_frame``: (H, W, 3) uint8 input frame, or None when ``needs_rgb`` is False.
    """

    name = "base"
    needs_rgb = False

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def open(self, video_name: str, frame_size: tuple[int, int], fps: float | None) -> None:
        raise NotImplementedError

    def write_frame(self, frame_index: int, frame_name: str, id_map: np.ndarray,
                    segments: Sequence[FrameSegment], rgb_frame: np.ndarray | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Release open handles after a failure (the temporary root is deleted by the caller)."""


def entity_colour(entity_id: int) -> tuple[int, int, int]:
    """Stable, well-separated RGB colour of an entity id (golden-ratio hue walk)."""
    hue = (entity_id * 0.618033988749895) % 1.0
    sat = 0.65 + 0.35 * ((entity_id * 7) % 3) / 2
    r, g, b = colorsys.hsv_to_rgb(hue, sat, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)
