"""Video datasets as the inference driver reads them: one module per layout.

=========  ===============================================================  ===============
layout     what is read                                                     module
=========  ===============================================================  ===============
vipseg     ``panoptic_gt_VIPSeg_<split>.json`` (video list and order) and   :mod:`.vipseg`
           ``images/<video>/*.jpg``
vspw       ``<split>.txt`` and ``data/<video>/origin/*.jpg``                :mod:`.vspw`
ytvis      the instances JSON (``videos``: ids, ``file_names``) and          :mod:`.ytvis`
           ``JPEGImages/<file_name>`` (YouTube-VIS 2019/2021, OVIS)
folders    one frame folder or video file per video under ROOT              :mod:`.folders`
=========  ===============================================================  ===============

:func:`open_dataset` lists the videos and validates them before any compute: a missing
list/JSON, a listed video without frames, a listed frame that is missing, frames of
different sizes in one video are a one-line :class:`~entitysam.errors.EntitySAMError` naming
the first problem, or (``skip_missing=True``) the video is left out and reported in
:attr:`Dataset.skipped`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from entitysam.errors import EntitySAMError
from entitysam.io.datasets.base import Dataset, DatasetVideo, VideoProblem
from entitysam.io.datasets.folders import list_folders
from entitysam.io.datasets.vipseg import list_vipseg
from entitysam.io.datasets.vspw import list_vspw
from entitysam.io.datasets.ytvis import list_ytvis

LAYOUTS = ("vipseg", "vspw", "ytvis", "folders")
DEFAULT_SPLITS = {"vipseg": "val", "vspw": "val", "ytvis": "valid", "folders": None}


def open_dataset(root: str | os.PathLike, layout: str, split: str | None = None,
                 videos: Sequence[str] | None = None, annotations: str | os.PathLike | None = None,
                 skip_missing: bool = False) -> Dataset:
    """The validated videos of ``root`` in dataset order.

    Args:
        layout: one of :data:`LAYOUTS`.
        split: list to read (default per layout: vipseg/vspw ``val``, ytvis ``valid``).
        videos: keep only these video ids (dataset order is kept); an unknown id is an error.
        annotations: the instances JSON of ``ytvis`` (default: looked up next to ROOT).
        skip_missing: leave out videos with problems instead of failing.
    """
    if layout not in LAYOUTS:
        raise EntitySAMError(f"unknown dataset {layout!r}; choose from {', '.join(LAYOUTS)}")
    root = Path(root)
    if not root.is_dir():
        raise EntitySAMError(f"{root}: dataset root not found (expected a folder)")
    split = split or DEFAULT_SPLITS[layout]
    if layout != "ytvis" and annotations is not None:
        raise EntitySAMError("--annotations applies only to --dataset ytvis")
    if layout == "vipseg":
        listed, source = list_vipseg(root, split)
    elif layout == "vspw":
        listed, source = list_vspw(root, split)
    elif layout == "ytvis":
        listed, source = list_ytvis(root, split, annotations)
    else:
        listed, source = list_folders(root)
    ids = [v.id for v in listed]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise EntitySAMError(f"{source}: video {dup!r} is listed twice")
    if videos is not None:
        wanted = list(dict.fromkeys(videos))
        unknown = [v for v in wanted if v not in set(ids)]
        if unknown:
            raise EntitySAMError(f"--videos: {unknown[0]!r} is not a video of {source}")
        listed = [v for v in listed if v.id in set(wanted)]
    kept, skipped = [], []
    for item in listed:
        if isinstance(item, VideoProblem):
            if not skip_missing:
                raise EntitySAMError(f"{item.problem} (--skip-missing leaves such videos out)")
            skipped.append((item.id, item.problem))
            continue
        problem = item.check()
        if problem is not None:
            if not skip_missing:
                raise EntitySAMError(f"{problem} (--skip-missing leaves such videos out)")
            skipped.append((item.id, problem))
            continue
        kept.append(item)
    if not kept:
        raise EntitySAMError(f"{source}: no video to process")
    return Dataset(layout, root, split, str(source), kept, skipped)


__all__ = ["Dataset", "DatasetVideo", "LAYOUTS", "DEFAULT_SPLITS", "open_dataset"]
