"""The records every dataset layout produces: :class:`DatasetVideo`, :class:`Dataset`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class DatasetVideo:
    """One video of a dataset.

    Attributes:
        id: the name of its outputs (``pan_pred/<id>/``, ``rle/<id>.json``, pred.json's video_id).
        path: its frame folder, or a video file (``folders`` layout only).
        frames: frame file names inside ``path`` in processing order (None for a video file).
        num_frames: frames to process (a video file: the container's claim, for balancing only).
        dataset_id: the dataset's own numeric id (YouTube-VIS / OVIS), else None.
    """

    id: str
    path: Path
    frames: tuple[str, ...] | None
    num_frames: int
    dataset_id: int | None = None

    def check(self) -> str | None:
        """The first problem of the frames (missing, unreadable, sizes differ) or None.
        Reads image headers only."""
        if self.frames is None:
            return None if self.path.is_file() else f"video {self.id}: {self.path} not found"
        if not self.frames:
            return f"video {self.id}: no frames in {self.path}"
        first = None
        for name in self.frames:
            p = self.path / name
            try:
                with Image.open(p) as im:
                    size = im.size
            except FileNotFoundError:
                return f"video {self.id}: frame {p} not found"
            except (OSError, ValueError, SyntaxError):
                return f"video {self.id}: cannot read frame {p}"
            if first is None:
                first = (name, size)
            elif size != first[1]:
                return (f"video {self.id}: frames of different sizes: {first[0]} is "
                        f"{first[1][0]}x{first[1][1]}, {name} is {size[0]}x{size[1]}")
        return None


@dataclass(frozen=True)
class VideoProblem:
    """A listed video that cannot be processed (found while listing)."""

    id: str
    problem: str
    num_frames: int = 0


@dataclass
class Dataset:
    """The validated videos of a dataset, in dataset order."""

    layout: str
    root: Path
    split: str | None
    source: str  # the list/JSON the videos come from (or ROOT for folders)
    videos: list[DatasetVideo]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video id, problem)


FRAME_SUFFIXES = (".jpg", ".jpeg")  # the official driver reads .jpg/.jpeg in any case


def jpeg_frames(folder: Path) -> list[str]:
    """JPEG frame names of ``folder`` sorted lexicographically (the official loader's order)."""
    return sorted(n for n in os.listdir(folder)
                  if n.lower().endswith(FRAME_SUFFIXES) and (folder / n).is_file())


def folder_video(vid: str, folder: Path, dataset_id: int | None = None) -> DatasetVideo | VideoProblem:
    """A video made of the JPEG frames of ``folder``, or the problem when there are none."""
    if not folder.is_dir():
        return VideoProblem(vid, f"video {vid}: frame folder {folder} not found")
    frames = jpeg_frames(folder)
    if not frames:
        return VideoProblem(vid, f"video {vid}: no .jpg frames in {folder}")
    return DatasetVideo(vid, folder, tuple(frames), len(frames), dataset_id)
