"""A small `entitysam segment` output written by the real writers, without running a model.

Three entities on a 64x48, 8-frame video: 1 moves right, 2 is a band at the bottom that
grows, 3 is present only in frames 2..5. The frames are written both as a folder of PNGs (the
"segmented input") and as an mp4; the output has rle.json, pred.json + pan_pred/,
overlay.mp4 and summary.json, like `entitysam segment --formats panoptic,rle,overlay`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from entitysam.core.segments import FrameSegment
from entitysam.core.summary import SegmentSummary
from entitysam.io.sources import SourceInfo
from entitysam.io.writers import open_writers

H, W, N = 48, 64, 8
VIDEO = "clip"
SCORES = {1: 0.91, 2: 0.62, 3: 0.47}


def id_map(t: int) -> np.ndarray:
    m = np.zeros((H, W), np.int32)
    m[6:20, 4 + 3 * t:18 + 3 * t] = 1
    m[36 - t:48, :] = 2
    if 2 <= t <= 5:
        m[4:12, 50:60] = 3
    return m


def frame_rgb(t: int) -> np.ndarray:
    """A gradient that differs per frame (so the picture changes too)."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([(x * 4) % 256, (y * 5) % 256, np.full((H, W), 30 * t)], -1).astype(np.uint8)


def segments(m: np.ndarray, t: int) -> list[FrameSegment]:
    out = []
    for i in sorted(int(v) for v in np.unique(m) if v):
        ys, xs = np.nonzero(m == i)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min()))
        out.append(FrameSegment(i, slot=10 + i, score=SCORES[i], area=len(xs), bbox=bbox,
                                eiou=round(SCORES[i] - 0.01 * t, 4)))
    return out


def write_frames_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for t in range(N):
        Image.fromarray(frame_rgb(t)).save(folder / f"{t:08d}.png")
    return folder


def write_video(path: Path) -> Path:
    import av

    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": "10"}
        for t in range(N):
            for p in s.encode(av.VideoFrame.from_ndarray(frame_rgb(t), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_output(out: Path, formats=("panoptic", "rle", "overlay"), names=None) -> Path:
    """The output folder of `entitysam segment` for this clip (frame names: ``names``)."""
    out.mkdir(parents=True)
    names = names or [f"{t:08d}.png" for t in range(N)]
    info = SourceInfo(VIDEO, "folder", (H, W), N, 8.0)
    areas = {i: [0] * N for i in SCORES}
    with open_writers(list(formats), out, info) as writers:
        for t in range(N):
            m = id_map(t)
            segs = segments(m, t)
            for s in segs:
                areas[s.id][t] = s.area
            for w in writers:
                w.write_frame(t, names[t], m, segs, frame_rgb(t) if w.needs_rgb else None)
    records = [{"id": i, "slot": 10 + i, "score": SCORES[i], "mean_eiou": SCORES[i] - 0.05, "quality": 0.1,
                "overlap_ratio": 1.0, "area_per_frame": areas[i]} for i in SCORES]
    summary = SegmentSummary(str(out), VIDEO, N, len(SCORES), 1.0, 0.1, 100.0, list(formats), False,
                             segments=records)
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=1))
    return out


def write_labels(path: Path, ids: dict[int, str | None], video: str = VIDEO) -> Path:
    """A labels.json as `entitysam classify` writes it, track id -> category name."""
    tracks = [{"id": i, "category_id": None if n is None else k, "category_name": n, "confidence": 0.8,
               "answer": n or "none", "frame_index": 0, "frame": "00000000.png", "score": 0.5}
              for k, (i, n) in enumerate(ids.items())]
    data = {"format": "entitysam-labels/1", "task": "panoptic", "vocabulary": "test", "backend": "fake",
            "crop": {}, "videos": [{"video_id": video, "tracks": tracks}]}
    path.mkdir(parents=True, exist_ok=True)
    (path / "labels.json").write_text(json.dumps(data))
    return path
