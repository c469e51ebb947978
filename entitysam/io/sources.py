"""Frame sources: a video file (PyAV) or a folder of frames, yielded one at a time.

Each source yields ``(name, image)`` pairs: ``name`` is the frame's file name (folders) or a
synthetic ``%08d.png`` name (video files), ``image`` an RGB PIL image. Nothing is decoded
ahead of what the caller consumes, so a source can be iterated twice (the overlay writer
re-decodes instead of keeping frames in RAM).

Folder order (spec model.md §6.1, §12 item 15): lexicographic, as the official loader
(``sorted(os.listdir(...))``); ``sort="natural"`` orders ``frame_2`` before ``frame_10``, and
a warning is issued when the two orders of a folder differ.

Video files (§6.1): decoded with PyAV to ``rgb24`` and wrapped with ``Image.fromarray``;
the caller then applies the official Pillow preprocessing.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.frames import to_pil_rgb

#: Largest accepted frame side in pixels; larger frames are rejected with an error (the
#: merge works at the original resolution, so an 8K frame already costs Q x 8192^2 floats).
MAX_SIDE = 8192
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before decoding it.

    ``num_frames`` is exact for folders; for video files it is the container's claim (may be
    wrong or None) - the frames actually decoded are what counts. ``size`` is (H, W).
    """

    name: str
    kind: str  # "video" | "folder"
    size: tuple[int, int]
    num_frames: int | None
    fps: float | None


def frame_stem(name: str) -> str:
    """Output stem of a frame file: text before the FIRST dot, as the official driver (§8)."""
    return name.split(".")[0]


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_frames(folder: Path, sort: str = "lexicographic") -> list[str]:
    """Frame file names of ``folder`` (jpg/jpeg/png, any case) in the requested order."""
    if sort not in ("lexicographic", "natural"):
        raise EntitySAMError(f"--sort must be 'lexicographic' or 'natural', got {sort!r}")
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(FRAME_EXTENSIONS) and (folder / n).is_file()]
    lex = sorted(names)
    nat = sorted(names, key=_natural_key)
    if lex != nat:
        warnings.warn(
            f"{folder}: lexicographic and natural frame orders differ (e.g. {lex[:3]} vs "
            f"{nat[:3]}); using {sort} order (pass --sort natural or lexicographic to choose)",
            UserWarning, stacklevel=2)
    return nat if sort == "natural" else lex


def _check_size(size_hw: tuple[int, int], what: str) -> None:
    h, w = size_hw
    if h < 1 or w < 1:
        raise EntitySAMError(f"{what}: empty frame ({w}x{h})")
    if max(h, w) > MAX_SIDE:
        raise EntitySAMError(
            f"{what}: resolution {w}x{h} exceeds the limit of {MAX_SIDE} px per side; "
            f"downscale the input first")


def _open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return to_pil_rgb(im)
    except (OSError, ValueError, SyntaxError) as exc:
        raise EntitySAMError(f"{path}: cannot read image ({exc})") from None


class _image_header:
    """Context manager opening an image lazily (header only) with a clean error."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Image.Image:
        try:
            self._im = Image.open(self.path)
        except (OSError, ValueError, SyntaxError) as exc:
            raise EntitySAMError(f"{self.path}: cannot read image ({exc})") from None
        return self._im

    def __exit__(self, *exc) -> None:
        self._im.close()


class FolderSource:
    """Frames of a folder, one PIL RGB image at a time. Checks that all frames share a size."""

    def __init__(self, folder: str | os.PathLike, sort: str = "lexicographic",
                 max_frames: int | None = None, names: list[str] | None = None,
                 name: str | None = None):
        self.path = Path(folder)
        names = list_frames(self.path, sort) if names is None else list(names)
        if max_frames is not None:
            names = names[:max_frames]
        if not names:
            raise EntitySAMError(f"{self.path}: no frames (expected .jpg/.jpeg/.png files)")
        self.names = names
        with _image_header(self.path / names[0]) as im:
            w, h = im.size
        _check_size((h, w), str(self.path / names[0]))
        self.info = SourceInfo(name or self.path.name or str(self.path), "folder", (h, w), len(names), None)

    def check_sizes(self) -> None:
        """Read every header (cheap) and fail on frames of different sizes before any work."""
        h, w = self.info.size
        for n in self.names:
            with _image_header(self.path / n) as im:
                if im.size != (w, h):
                    raise EntitySAMError(
                        f"{self.path}: frames have different sizes: {self.names[0]} is {w}x{h}, "
                        f"{n} is {im.size[0]}x{im.size[1]}")

    def __iter__(self) -> Iterator[tuple[str, Image.Image]]:
        for n in self.names:
            im = _open_image(self.path / n)
            if (im.height, im.width) != self.info.size:
                raise EntitySAMError(f"{self.path}: frame {n} has a different size")
            yield n, im


class VideoSource:
    """Frames of a video file decoded with PyAV to rgb24 (spec §6.1), one at a time."""

    def __init__(self, path: str | os.PathLike, max_frames: int | None = None, name: str | None = None):
        import av

        self.path = Path(path)
        self.max_frames = max_frames
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise EntitySAMError(f"{self.path}: no video stream")
                stream = container.streams.video[0]
                fps = float(stream.average_rate) if stream.average_rate else None
                self.rate = stream.average_rate
                claimed = stream.frames or None
                first = next(iter(container.decode(stream)), None)
        except EntitySAMError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to probe = not a readable video
            raise EntitySAMError(f"{self.path}: cannot decode video ({_one_line(exc)})") from None
        if first is None:
            raise EntitySAMError(f"{self.path}: the video has zero decodable frames")
        size = (first.height, first.width)
        _check_size(size, str(self.path))
        if max_frames is not None and claimed is not None:
            claimed = min(claimed, max_frames)
        self.info = SourceInfo(name or frame_stem(self.path.name), "video", size, claimed, fps)

    def __iter__(self) -> Iterator[tuple[str, Image.Image]]:
        import av

        count = 0
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    if self.max_frames is not None and count >= self.max_frames:
                        break
                    arr = frame.to_ndarray(format="rgb24")
                    if arr.shape[:2] != self.info.size:
                        raise EntitySAMError(f"{self.path}: frame {count} changes size mid-stream")
                    yield f"{count:08d}.png", Image.fromarray(arr)
                    count += 1
        except (av.error.FFmpegError, OSError) as exc:
            raise EntitySAMError(f"{self.path}: decoding failed at frame {count} ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def open_source(path: str | os.PathLike, sort: str = "lexicographic",
                max_frames: int | None = None, frames: list[str] | None = None,
                name: str | None = None):
    """A :class:`FolderSource` or :class:`VideoSource` for ``path``, with input checks.

    ``frames``: explicit frame file names of a folder, in order (a dataset's own frame list);
    ``name``: the video name written into the outputs (default: the folder name / file stem).

    Raises EntitySAMError (one line) for a missing path, an unreadable/corrupt video, zero
    frames, frames of different sizes, or a frame side beyond :data:`MAX_SIDE`.
    """
    p = Path(path)
    if max_frames is not None and max_frames < 1:
        raise EntitySAMError(f"--max-frames must be >= 1, got {max_frames}")
    if not p.exists():
        raise EntitySAMError(f"{p}: no such file or folder")
    if p.is_dir():
        src = FolderSource(p, sort=sort, max_frames=max_frames, names=frames, name=name)
        src.check_sizes()
        return src
    if frames is not None:
        raise EntitySAMError(f"{p}: an explicit frame list needs a folder of frames, not a file")
    return VideoSource(p, max_frames=max_frames, name=name)

