"""VIPSeg / COCO-panoptic video layout, as the official driver writes it (spec model.md §8).

``<root>/pan_pred/<video>/<stem>.png``: RGB uint8 PNG at the frame size, id = R + 256 G +
65536 B, 0 = void; ``<stem>`` is the frame file name before its FIRST dot.
``<root>/pred.json``: ``{"annotations": [{"annotations": [<frame>, ...], "video_id": <str>}]}``
with ``<frame> = {"segments_info": [<seg>, ...], "file_name": <frame file name>}`` and
``<seg> = {"bbox": [x, y, w, h], "area", "category_id", "iscrowd": 0, "id"}`` (w = xmax - xmin,
no +1), plus our additions ``score`` (final video-level score), ``slot`` (model slot) and
``eiou`` (the slot's expected IoU in this frame, when the merge knows it).

Ids/colours (§8, §12 item 17): the official ids are random colours; here they come from a
generator seeded per video (reproducible), unique within the video and never 0.
``category_id`` is, as officially, a random label in [0, 123) per slot (seeded); the
metrics do not use it.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from entitysam.io.ids import id2rgb
from entitysam.io.sources import frame_stem
from entitysam.io.writers.base import Writer

NUM_LABELS = 123  # official random labels are drawn in [0, 123)


class IdGenerator:
    """Seeded, unique, non-zero 24-bit panoptic ids (one colour per entity)."""

    def __init__(self, seed: int = 0):
        self._rng = np.random.default_rng(seed)
        self._taken = {0}

    def next(self) -> int:
        while True:
            value = int(self._rng.integers(1, 1 << 24))
            if value not in self._taken:
                self._taken.add(value)
                return value


def slot_label(slot: int, seed: int = 0) -> int:
    """Random (seeded) category label of a slot in [0, 123), like the official driver."""
    return int(np.random.default_rng((seed, slot)).integers(NUM_LABELS))


class PanopticWriter(Writer):
    name = "panoptic"

    def __init__(self, root, seed: int = 0):
        super().__init__(root)
        self.seed = seed
        self._json = None

    def open(self, video_name, frame_size, fps):
        self.video = video_name
        self.png_dir = self.root / "pan_pred" / video_name
        self.png_dir.mkdir(parents=True, exist_ok=True)
        self._ids = IdGenerator(self.seed)
        self._pan_id: dict[int, int] = {}
        self._lut = np.zeros(1, dtype=np.int64)
        # pred.json is streamed frame by frame: RAM does not grow with the video length
        self._json = open(self.root / "pred.json", "w")
        self._json.write('{"annotations": [{"annotations": [')
        self._first = True

    def _panoptic_ids(self, segments) -> np.ndarray:
        """Lookup table entity id -> panoptic id, extended for new entities (an entity may
        first appear after entities with higher ids: its entry is set whatever its id)."""
        new = [seg.id for seg in segments if seg.id not in self._pan_id]
        for k in new:
            self._pan_id[k] = self._ids.next()
        top = max(self._pan_id, default=0)
        if top >= len(self._lut):
            lut = np.zeros(top + 1, dtype=np.int64)
            lut[: len(self._lut)] = self._lut
            self._lut = lut
        for k in new:
            self._lut[k] = self._pan_id[k]
        return self._lut

    def write_frame(self, frame_index, frame_name, id_map, segments, rgb_frame):
        lut = self._panoptic_ids(segments)
        if id_map.max(initial=0) >= len(lut):
            raise ValueError("id map contains an id missing from the segment list")
        pan = lut[id_map]
        Image.fromarray(id2rgb(pan)).save(self.png_dir / f"{frame_stem(frame_name)}.png")
        infos = [{
            "bbox": [int(v) for v in seg.bbox], "area": int(seg.area),
            "category_id": slot_label(seg.slot, self.seed), "iscrowd": 0,
            "id": int(self._pan_id[seg.id]), "score": float(seg.score), "slot": int(seg.slot),
            **({} if seg.eiou is None else {"eiou": round(float(seg.eiou), 6)}),
        } for seg in segments]
        record = {"segments_info": infos, "file_name": frame_name}
        self._json.write(("" if self._first else ", ") + json.dumps(record))
        self._first = False

    def close(self):
        self._json.write(f'], "video_id": {json.dumps(self.video)}}}]}}\n')
        self._json.close()

    def abort(self):
        if self._json is not None:
            self._json.close()
