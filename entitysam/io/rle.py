"""COCO run-length encoding of masks (pycocotools), the one encoder of the project.

Used by the ``rle`` and ``ytvis`` writers and by ``entitysam classify``'s instance output.
:class:`FrameRLE` encodes each entity of a frame once, however many writers ask for it.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict:
    """(H, W) bool -> COCO RLE ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


class FrameRLE:
    """Per-frame memo: the RLE of ``id_map == entity_id``, encoded on first request.

    Shared by the writers of one run; a new ``id_map`` object (the next frame) clears it. The
    current map is referenced, so its identity cannot be reused while it is cached.
    """

    def __init__(self):
        self._map: np.ndarray | None = None
        self._rles: dict[int, dict] = {}

    def get(self, id_map: np.ndarray, entity_id: int) -> dict:
        if id_map is not self._map:
            self._map, self._rles = id_map, {}
        rle = self._rles.get(entity_id)
        if rle is None:
            rle = self._rles[entity_id] = encode_rle(id_map == entity_id)
        return rle
