"""Track-major JSON written in bounded memory.

Frames arrive one at a time but the RLE and YouTube-VIS files are organised per track.
Each track's per-frame records are appended to its own small spool file as they arrive;
``close`` streams the spools into the final JSON, so no per-frame mask is kept in RAM.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path


class TrackSpool:
    """Per-track spools of ``(frame_index, JSON text)`` records under a temporary folder."""

    def __init__(self, parent: Path):
        self.dir = Path(tempfile.mkdtemp(prefix=".spool-", dir=parent))
        self.meta: dict[int, dict] = {}  # track id -> small per-track summary (score, frames)
        self._files: dict[int, object] = {}

    def add(self, track_id: int, frame_index: int, record: dict, **meta) -> None:
        f = self._files.get(track_id)
        if f is None:
            f = self._files[track_id] = open(self.dir / f"{track_id}.jsonl", "w")
            self.meta[track_id] = {"first_frame": frame_index}
        f.write(f"{frame_index}\t{json.dumps(record)}\n")
        self.meta[track_id].update(meta, last_frame=frame_index)

    def records(self, track_id: int):
        """Yield (frame_index, JSON text) of a track in order."""
        self._files[track_id].flush()
        with open(self.dir / f"{track_id}.jsonl") as f:
            for line in f:
                idx, text = line.rstrip("\n").split("\t", 1)
                yield int(idx), text

    def track_ids(self) -> list[int]:
        return sorted(self._files)

    def cleanup(self) -> None:
        for f in self._files.values():
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)
