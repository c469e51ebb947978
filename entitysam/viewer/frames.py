"""The pictures under the masks: every frame of a video as a JPEG file of the static viewer.

Where they come from, in this order:

* ``--frames SRC``: the video file or frame folder that was segmented (clean frames; a folder
  with one sub-folder or video file per video also works). Frames are matched to the
  output's frame names by stem (text before the first dot), as ``entitysam classify`` does.
* ``OUT/overlay.mp4``: the overlay video; its colours are burned in, so an isolated entity
  still shows the others' tint (the page says so).
* nothing: the masks are drawn on a dark background.

Frames are decoded one at a time (PyAV through :mod:`entitysam.io.sources`), never held
together in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.sources import FRAME_EXTENSIONS, frame_stem, open_source
from entitysam.viewer.model import VideoView

JPEG_QUALITY = 88
OVERLAY = "overlay.mp4"


def frame_file(index: int) -> str:
    """The file name of frame ``index`` in a video's frame folder (viewer.js builds the same)."""
    return f"{index:06d}.jpg"


def pick_source(out: Path, video: VideoView, frames: str | os.PathLike | None, single: bool):
    """(path, kind) of the frames of ``video``: kind is "input", "overlay" or None (no frames)."""
    if frames is not None:
        root = Path(frames)
        if not root.exists():
            raise EntitySAMError(f"--frames {root}: no such file or folder")
        if root.is_dir():
            if (root / video.name).is_dir():
                return root / video.name, "input"
            for child in sorted(root.iterdir()):
                if (child.is_file() and frame_stem(child.name) == video.name
                        and not child.name.lower().endswith(FRAME_EXTENSIONS)):
                    return child, "input"  # SRC/<video>.mp4
        if single:
            return root, "input"
        raise EntitySAMError(f"--frames {root}: no frame folder or video named {video.name!r}")
    if single and (out / OVERLAY).is_file():
        return out / OVERLAY, "overlay"
    return None, None


def _decoded(source: Path, video: VideoView, kind: str) -> Iterator[tuple[int, Image.Image]]:
    """(index, image) of every frame of ``video``, in order."""
    names = video.frame_names
    if kind == "overlay":  # the overlay holds exactly the output's frames, in order
        for i, (_, image) in enumerate(open_source(source, max_frames=len(names))):
            yield i, image
        return
    by_stem = {frame_stem(n): i for i, n in enumerate(names)}
    if source.is_dir():
        files = {frame_stem(n): n for n in os.listdir(source) if n.lower().endswith(FRAME_EXTENSIONS)}
        for i, name in enumerate(names):
            found = files.get(frame_stem(name))
            if found is None:
                raise EntitySAMError(f"{source}: no frame for {name!r} of the output (frames are "
                                     "matched by the name before the first dot)")
            try:
                with Image.open(source / found) as im:
                    yield i, im.convert("RGB")
            except OSError as exc:
                raise EntitySAMError(f"{source / found}: cannot read image ({exc})") from None
        return
    todo = set(range(len(names)))
    for name, image in open_source(source):
        i = by_stem.get(frame_stem(name))
        if i in todo:
            todo.discard(i)
            yield i, image
            if not todo:
                return
    if todo:
        missing = ", ".join(names[i] for i in sorted(todo)[:3])
        raise EntitySAMError(f"{source}: frames {missing} of the output are not in this video")


def write_frames(source: Path, kind: str, video: VideoView, dest: Path,
                 progress: Callable[[str], None] | None = None) -> None:
    """Write every frame of ``video`` from ``source`` as ``dest/<frame_file(i)>``."""
    dest.mkdir(parents=True, exist_ok=True)
    h, w = video.height, video.width
    step = max(10, video.num_frames // 10)
    written = 0
    for i, image in _decoded(source, video, kind):
        if kind == "overlay" and (image.height, image.width) in ((h, w), (h + h % 2, w + w % 2)):
            image = image.crop((0, 0, w, h))  # the overlay pads odd sides by one pixel
        if (image.height, image.width) != (h, w):
            raise EntitySAMError(f"{source}: frames are {image.width}x{image.height} but the "
                                 f"masks of {video.name} are {w}x{h} (not the segmented input?)")
        image.save(dest / frame_file(i), quality=JPEG_QUALITY)
        written += 1
        if progress and (i + 1) % step == 0:
            progress(f"{video.name}: frames {i + 1}/{video.num_frames}")
    if written < video.num_frames:
        raise EntitySAMError(f"{source}: {written} frames, but the output of {video.name} has "
                             f"{video.num_frames}; pass --frames with the segmented input")
