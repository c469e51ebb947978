"""Entity tracks with one COCO RLE (pycocotools) per frame: ``<root>/rle.json``.

Layout::

    {"format": "entitysam-rle/1", "video": str, "height": H, "width": W, "fps": float|null,
     "num_frames": N, "frame_names": [str, ...],
     "tracks": [{"id": int, "slot": int, "score": float, "first_frame": int, "last_frame": int,
                 "frames": [{"frame": i, "rle": {"size": [H, W], "counts": str},
                             "bbox": [x, y, w, h], "area": int, "eiou": float}, ...]}, ...]}

``frames`` lists only the frames where the entity has pixels (frame = 0-based index into
``frame_names``); bbox as in pred.json (w = xmax - xmin). Decode a mask with
``pycocotools.mask.decode(rle)``. ``score`` is the entity's score in its last frame (the
video-level score for the offline merge); ``eiou`` the slot's expected IoU in that frame (the
per-frame confidence ``entitysam classify`` picks the best frame by; absent when unknown).
"""

from __future__ import annotations

import json

from entitysam.io.rle import FrameRLE
from entitysam.io.writers._tracks import TrackSpool
from entitysam.io.writers.base import Writer


class RLEWriter(Writer):
    name = "rle"
    filename = "rle.json"

    def __init__(self, root, rles: FrameRLE | None = None):
        super().__init__(root)
        self.rles = rles or FrameRLE()  # shared with the ytvis writer: one encoding per mask

    def open(self, video_name, frame_size, fps):
        self.video, self.size, self.fps = video_name, frame_size, fps
        self.frame_names: list[str] = []
        self.spool = TrackSpool(self.root)

    def write_frame(self, frame_index, frame_name, id_map, segments, rgb_frame):
        n = len(self.frame_names)
        self.frame_names.append(frame_name)
        for seg in segments:
            rec = {"frame": n, "rle": self.rles.get(id_map, seg.id),
                   "bbox": [int(v) for v in seg.bbox], "area": int(seg.area)}
            if seg.eiou is not None:
                rec["eiou"] = round(float(seg.eiou), 6)
            self.spool.add(seg.id, n, rec, slot=int(seg.slot), score=float(seg.score))

    def close(self):
        h, w = self.size
        with open(self.root / self.filename, "w") as f:
            head = {"format": "entitysam-rle/1", "video": self.video, "height": h, "width": w,
                    "fps": self.fps, "num_frames": len(self.frame_names),
                    "frame_names": self.frame_names}
            f.write(json.dumps(head)[:-1] + ', "tracks": [')
            for k, tid in enumerate(self.spool.track_ids()):
                m = self.spool.meta[tid]
                track = {"id": tid, "slot": m["slot"], "score": m["score"],
                         "first_frame": m["first_frame"], "last_frame": m["last_frame"]}
                f.write(("" if k == 0 else ", ") + json.dumps(track)[:-1] + ', "frames": [')
                for j, (_, text) in enumerate(self.spool.records(tid)):
                    f.write(("" if j == 0 else ", ") + text)
                f.write("]}")
            f.write("]}\n")
        self.spool.cleanup()

    def abort(self):
        if hasattr(self, "spool"):
            self.spool.cleanup()
