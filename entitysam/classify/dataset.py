"""Classify a dataset run: the class-specific outputs ``entitysam eval`` reads, per dataset.

TRACKS is the output of ``entitysam segment ROOT --dataset ...`` (``pred.json`` +
``pan_pred/``, or ``rle/``); the frames of each video are found through the dataset's own
layout (:mod:`entitysam.io.datasets`), and the task and the YouTube-VIS video ids follow the
dataset:

=======  ===========  ===============================================================
dataset  task         written to OUT (what ``entitysam eval`` reads)
=======  ===========  ===============================================================
vipseg   panoptic     ``pred.json`` + ``pan_pred/<video>/`` (``eval --task panoptic``)
vspw     semantic     ``<video>/<stem>.png`` class indices (``eval --task semantic``)
ytvis    instance     ``results.json`` with the instances JSON's video ids
                      (``eval --task instance``)
=======  ===========  ===============================================================
"""

from __future__ import annotations

import os

from entitysam.classify.pipeline import ClassifySummary, classify
from entitysam.errors import EntitySAMError
from entitysam.io.datasets import open_dataset

DEFAULT_TASKS = {"vipseg": "panoptic", "vspw": "semantic", "ytvis": "instance"}


def classify_dataset(tracks: str | os.PathLike, root: str | os.PathLike, dataset: str, vocab, backend,
                     out_dir: str | os.PathLike, task: str | None = None, split: str | None = None,
                     annotations: str | os.PathLike | None = None, **kwargs) -> ClassifySummary:
    """Label every track of a dataset run and write ``task``'s dataset-level layout.

    Args:
        tracks: the ``segment --dataset`` output folder.
        root / dataset / split / annotations: the dataset the run was made from
            (:func:`entitysam.io.datasets.open_dataset`; videos without frames are an error).
        task: default per dataset (module docstring).
        kwargs: passed to :func:`entitysam.classify.pipeline.classify`.
    """
    if dataset not in DEFAULT_TASKS:
        raise EntitySAMError(f"classify --dataset must be one of {', '.join(DEFAULT_TASKS)}, got {dataset!r}")
    ds = open_dataset(root, dataset, split=split, annotations=annotations, skip_missing=True)
    frames = {v.id: v.path for v in ds.videos}
    video_ids = None
    if dataset == "ytvis":
        video_ids = {v.id: v.dataset_id for v in ds.videos}
    return classify(tracks, frames, vocab, backend, out_dir, task=task or DEFAULT_TASKS[dataset],
                    video_ids=kwargs.pop("video_ids", None) or video_ids, **kwargs)
