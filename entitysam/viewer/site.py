"""Write the static viewer of some videos into a folder: plain files that work from file://.

Layout (everything relative, nothing fetched: file:// pages may not ``fetch`` JSON, but they
may load ``<script>`` and ``<img>`` files beside them)::

    index.html viewer.css rle.js store.js entities.js viewer.js   (entitysam/viewer/static/)
    data.js                      window.ENTITYSAM_DATA = {"format": "entitysam-viewer/1",
                                   "title", "videos": [{name, height, width, fps, num_frames,
                                   frame_names, frames, frames_kind, masks, chunk, layout,
                                   notes, entities: [{id, colour, score, ...}]}]}
    masks/<v>/<c>.js             ENTITYSAM_MASKS(v, c, [[[id, counts], ...] per frame])
    frames/<v>/<i:06d>.jpg       frame i of video v (absent when there is no frame source)

``<v>`` is the video's index in ``videos`` (a list, so that a dataset output can offer a
video picker); chunk ``c`` holds frames ``c*chunk .. c*chunk+chunk-1`` as COCO RLE counts
strings, loaded and decoded by the page only when one of its frames is shown.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Callable

from entitysam.io.writers import entity_colour
from entitysam.viewer.frames import pick_source, write_frames
from entitysam.viewer.model import Entity, VideoView

FORMAT = "entitysam-viewer/1"
CHUNK = 10  # frames per mask file: a few hundred KB for 30 entities at 720p
STATIC = ("index.html", "viewer.css", "rle.js", "store.js", "entities.js", "viewer.js")


def _round(value: float | None, digits: int = 4):
    return None if value is None else round(float(value), digits)


def entity_record(e: Entity) -> dict:
    r, g, b = entity_colour(e.id)
    return {"id": e.id, "colour": [r, g, b], "label": e.label,
            "label_confidence": _round(e.label_confidence), "score": _round(e.score),
            "mean_eiou": _round(e.mean_eiou), "quality": _round(e.quality), "slot": e.slot,
            "panoptic_id": e.panoptic_id, "first_frame": e.first_frame, "last_frame": e.last_frame,
            "areas": e.areas}


def _call(name: str, *args) -> str:
    """``name(arg, ...);`` with JSON arguments: a script that hands data to the page."""
    return f"{name}({','.join(json.dumps(a, separators=(',', ':')) for a in args)});\n"


def write_masks(video: VideoView, index: int, dest: Path) -> None:
    """``dest/<c>.js`` for every chunk of ``video``'s frames, with entity ids (not mask ids)."""
    dest.mkdir(parents=True, exist_ok=True)
    ids = {e.mask_id: e.id for e in video.entities}
    for c, start in enumerate(range(0, video.num_frames, CHUNK)):
        frames = [[[ids[m], counts] for m, counts in video.masks(i) if m in ids]
                  for i in range(start, min(start + CHUNK, video.num_frames))]
        (dest / f"{c}.js").write_text(_call("ENTITYSAM_MASKS", index, c, frames))


def copy_static(dest: Path) -> None:
    static = resources.files("entitysam.viewer") / "static"
    for name in STATIC:
        (dest / name).write_bytes((static / name).read_bytes())


def write_site(videos: list[VideoView], out: str | os.PathLike, dest: str | os.PathLike,
               frames: str | os.PathLike | None = None, title: str | None = None,
               progress: Callable[[str], None] | None = None) -> Path:
    """Write the viewer of ``videos`` (read from the output folder ``out``) into ``dest``.

    ``frames``: the segmented video file or frame folder (default: ``out/overlay.mp4`` if
    any). ``dest`` is created if needed; use :func:`entitysam.io.atomic.atomic_dir` around
    this call for an all-or-nothing folder.
    """
    out, dest = Path(out), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copy_static(dest)
    records = []
    for v, video in enumerate(videos):
        source, kind = pick_source(out, video, frames, single=len(videos) == 1)
        notes = list(video.notes)
        if kind == "overlay":
            notes.append("frames from overlay.mp4, where every entity's colour is burned in: "
                         "pass --frames with the segmented video for clean frames")
        elif kind is None:
            notes.append("no frames (no overlay.mp4 and no --frames): masks on a dark background")
        if progress:
            progress(f"{video.name}: {video.num_frames} frames, {len(video.entities)} entities")
        if source is not None:
            write_frames(source, kind, video, dest / "frames" / str(v), progress)
        write_masks(video, v, dest / "masks" / str(v))
        records.append({
            "name": video.name, "height": video.height, "width": video.width, "fps": video.fps,
            "num_frames": video.num_frames, "frame_names": video.frame_names,
            "frames": None if source is None else f"frames/{v}/", "frames_kind": kind,
            "masks": f"masks/{v}/", "chunk": CHUNK, "layout": video.layout, "notes": notes,
            "entities": [entity_record(e) for e in sorted(video.entities, key=lambda e: e.id)],
        })
    data = {"format": FORMAT, "title": title or out.resolve().name, "videos": records}
    (dest / "data.js").write_text("window.ENTITYSAM_DATA = " + json.dumps(data, separators=(",", ":")) + ";\n")
    return dest

