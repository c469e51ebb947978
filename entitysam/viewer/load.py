"""Everything the viewer shows of an output folder, gathered from its files.

``load_videos(OUT, labels=...)``: the tracks and masks (:mod:`.tracks`), the video-level
scores and entity ids of ``summary.json`` and the panoptic ids (:mod:`.identity`), the labels
of an ``entitysam classify`` output (:mod:`.labels`; OUT's own ``labels.json`` when OUT is a
classify panoptic output).
"""

from __future__ import annotations

import os
from pathlib import Path

from entitysam.viewer.identity import apply_summary, attach_panoptic_ids
from entitysam.viewer.labels import LABELS_FILE, apply_labels, labels_path
from entitysam.viewer.model import VideoView
from entitysam.viewer.tracks import read_output


def load_videos(out: str | os.PathLike, labels: str | os.PathLike | None = None) -> list[VideoView]:
    """The videos of ``out`` (one today), ready to be written by :func:`.site.write_site`."""
    root = Path(out)
    videos = read_output(root)
    if (root / "summary.json").is_file():
        for video in videos:
            apply_summary(video, root / "summary.json")
    label_file = labels_path(labels) if labels is not None else None
    if label_file is None and (root / LABELS_FILE).is_file():
        label_file = root / LABELS_FILE  # a classify panoptic output viewed directly
    if label_file is not None:
        if (root / "pred.json").is_file():
            for video in videos:
                if video.layout == "rle.json":
                    attach_panoptic_ids(video, root / "pred.json")
        apply_labels(videos, label_file)
    return videos
