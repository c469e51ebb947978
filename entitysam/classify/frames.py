"""Find the source frames of a video's tracks (``--frames SRC``).

SRC is a video file, a folder of frames, or a folder holding one such source per video
(``SRC/<video_id>/`` or ``SRC/<video_id>.<ext>``, e.g. VIPSeg's ``images/``), chosen per video
by :func:`source_for`. Frames are matched to the track frames by stem (text before the first
dot, as ``entitysam segment`` names its PNGs): a folder is read only at the needed files,
a video file is decoded once, front to back, through :mod:`entitysam.io.sources`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.sources import FRAME_EXTENSIONS, frame_stem, open_source


def source_for(src: str | os.PathLike, video: str, single: bool) -> Path:
    """The frame folder / video file of ``video`` under SRC.

    ``single``: the tracks hold one video, so SRC itself may be its source.
    """
    root = Path(src)
    if not root.exists():
        raise EntitySAMError(f"--frames {root}: no such file or folder")
    if root.is_dir():
        sub = root / video
        if sub.is_dir():
            return sub
        for child in sorted(root.iterdir()):
            if (child.is_file() and frame_stem(child.name) == video
                    and not child.name.lower().endswith(FRAME_EXTENSIONS)):
                return child  # SRC/<video>.mp4
        if single:
            return root
        raise EntitySAMError(f"--frames {root}: no frame folder or video named {video!r} "
                             "(several videos need SRC/<video_id>/)")
    if not single:
        raise EntitySAMError(f"--frames {root} is one video file but the tracks hold several videos; "
                             "give a folder with one sub-folder per video")
    return root


def read_frames(source: Path, frame_names: list[str], wanted: set[int]) -> Iterator[tuple[int, Image.Image]]:
    """Yield (index, RGB image) for every index in ``wanted``, in increasing order.

    ``frame_names``: the track file's frame names; index i is ``frame_names[i]``.
    """
    by_stem = {frame_stem(n): i for i, n in enumerate(frame_names)}
    todo = set(wanted)
    if source.is_dir():
        # order does not matter here (frames are matched by name), so no ordering warnings
        names = {frame_stem(n): n for n in os.listdir(source)
                 if n.lower().endswith(FRAME_EXTENSIONS)} if todo else {}
        for i in sorted(todo):
            name = names.get(frame_stem(frame_names[i]))
            if name is None:
                raise EntitySAMError(f"{source}: no frame for {frame_names[i]!r} "
                                     f"(frames are matched by the name before the first dot)")
            yield i, _open(source / name)
            todo.discard(i)
    else:
        for name, image in open_source(source):
            i = by_stem.get(frame_stem(name))
            if i in todo:
                yield i, image
                todo.discard(i)
                if not todo:
                    return
    if todo:
        missing = ", ".join(frame_names[i] for i in sorted(todo)[:3])
        raise EntitySAMError(f"{source}: frames {missing} of the tracks are not in this source")


def _open(path: Path) -> Image.Image:
    if not path.name.lower().endswith(FRAME_EXTENSIONS):
        raise EntitySAMError(f"{path}: not a frame image")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as exc:
        raise EntitySAMError(f"{path}: cannot read image ({exc})") from None
