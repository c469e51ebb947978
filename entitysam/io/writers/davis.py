"""DAVIS-style indexed palette PNGs: ``<root>/davis/<video>/<stem>.png``.

Pixel value = entity id (1..255, 0 = background), palette = the standard DAVIS/PASCAL VOC
colour map, so the PNGs load directly in DAVIS / VOS tools. An 8-bit index holds at most
255 entities; more raise an EntitySAMError (use the panoptic or RLE format instead).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.sources import frame_stem
from entitysam.io.writers.base import Writer

MAX_ENTITIES = 255


def davis_palette() -> list[int]:
    """The 256-entry PASCAL VOC / DAVIS colour map as a flat [r, g, b, ...] list."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


class DAVISWriter(Writer):
    name = "davis"

    def open(self, video_name, frame_size, fps):
        self.dir = self.root / "davis" / video_name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.palette = davis_palette()

    def write_frame(self, frame_index, frame_name, id_map, segments, rgb_frame):
        top = int(id_map.max(initial=0))
        if top > MAX_ENTITIES:
            raise EntitySAMError(
                f"the davis format holds at most {MAX_ENTITIES} entities, this video has id {top}; "
                f"use --formats panoptic or rle")
        im = Image.fromarray(id_map.astype(np.uint8), mode="P")
        im.putpalette(self.palette)
        im.save(self.dir / f"{frame_stem(frame_name)}.png")

    def close(self):
        pass
