"""Any collection of videos: ROOT holds one frame folder or one video file per video.

A video's id is its folder name or its file name before the first dot; hidden entries and
files that are not videos are ignored; order is lexicographic by entry name. A folder's
frames are its .jpg/.jpeg/.png files in lexicographic order.
"""

from __future__ import annotations

import os
from pathlib import Path

from entitysam.errors import EntitySAMError
from entitysam.io.datasets.base import DatasetVideo, VideoProblem

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _probe_frames(path: Path) -> int:
    """Frames a video file claims (for balancing only); 1 when unknown."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return 0
            return int(c.streams.video[0].frames or 1)
    except Exception:  # noqa: BLE001 - any failure to open = not a readable video
        return -1


def list_folders(root: Path):
    out = []
    for entry in sorted(os.listdir(root)):
        if entry.startswith("."):
            continue
        p = root / entry
        if p.is_dir():
            frames = sorted(n for n in os.listdir(p) if n.lower().endswith(IMAGE_SUFFIXES) and (p / n).is_file())
            if not frames:
                out.append(VideoProblem(entry, f"video {entry}: no frames in {p}"))
            else:
                out.append(DatasetVideo(entry, p, tuple(frames), len(frames)))
        elif entry.lower().endswith(VIDEO_SUFFIXES):
            vid = entry.split(".")[0]
            n = _probe_frames(p)
            if n < 0:
                out.append(VideoProblem(vid, f"video {vid}: cannot decode {p}"))
            elif n == 0:
                out.append(VideoProblem(vid, f"video {vid}: no video stream in {p}"))
            else:
                out.append(DatasetVideo(vid, p, None, n))
    if not out:
        raise EntitySAMError(f"{root}: no video folders or video files found")
    return out, root
