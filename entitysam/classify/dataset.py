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

Like ``segment --dataset`` (:mod:`entitysam.io.manifest`): under ``torchrun`` the videos are
sharded over the processes (balanced by track count); each video's labels are a part
``OUT/.parts/<video>/summary.json`` renamed into place when complete, so a re-run with the
same options skips labelled videos and a killed process loses at most the video it was on;
rank 0 writes the task's files from the parts in the order of TRACKS, the same bytes for any
number of processes. ``labels.json`` records every track's label.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from entitysam.classify.backends.base import Backend, Label
from entitysam.classify.convert import LabelledVideo, TrackLabel
from entitysam.classify.pipeline import (LABELS_FILE, TASKS, ClassifySummary, label_video, labels_record,
                                         write_task)
from entitysam.classify.tracks import read_tracks
from entitysam.classify.vocab import Vocabulary, load_vocabulary
from entitysam.errors import EntitySAMError
from entitysam.io.atomic import atomic_dir
from entitysam.io.datasets import open_dataset
from entitysam.io.manifest import check_run_dir, clean_partials, part_dir, write_manifest
from entitysam.io.shards import DistContext, assign_shards, run_shard

DEFAULT_TASKS = {"vipseg": "panoptic", "vspw": "semantic", "ytvis": "instance"}
ASSEMBLED = ".assembled"  # rank 0 writes the task's files here, then moves them into OUT


def classify_dataset(tracks: str | os.PathLike, root: str | os.PathLike, dataset: str,
                     vocab: Vocabulary | str, backend: Backend, out_dir: str | os.PathLike,
                     task: str | None = None, split: str | None = None,
                     annotations: str | os.PathLike | None = None, merge_stuff: bool = True,
                     video_ids: dict[str, int] | None = None, save_crops: bool = False,
                     progress: bool = True) -> ClassifySummary:
    """Label every track of a dataset run and write ``task``'s dataset-level layout.

    Args:
        tracks: the ``segment --dataset`` output folder.
        root / dataset / split / annotations: the dataset the run was made from
            (:func:`entitysam.io.datasets.open_dataset`).
        task: default per dataset (module docstring).
        video_ids: instance task, video -> id (default: the instances JSON's ids for ytvis).
        backend: built by the caller, one per process (``cuda:LOCAL_RANK`` under torchrun).
    """
    if dataset not in DEFAULT_TASKS:
        raise EntitySAMError(f"classify --dataset must be one of {', '.join(DEFAULT_TASKS)}, got {dataset!r}")
    task = task or DEFAULT_TASKS[dataset]
    if task not in TASKS:
        raise EntitySAMError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    ds = open_dataset(root, dataset, split=split, annotations=annotations, skip_missing=True)
    frames = {v.id: v.path for v in ds.videos}
    if video_ids is None and dataset == "ytvis":
        video_ids = {v.id: v.dataset_id for v in ds.videos}
    vocab = load_vocabulary(vocab) if not isinstance(vocab, Vocabulary) else vocab
    videos = read_tracks(tracks)
    for v in videos:
        if v.video not in frames:
            raise EntitySAMError(f"video {v.video} of {tracks} is not a video of {ds.source} "
                                 "(or has no frames there)")
    names = [v.video for v in videos]
    if len(set(names)) != len(names):
        raise EntitySAMError(f"{tracks}: a video is listed twice")
    out = Path(out_dir)
    record = {"tracks": str(Path(tracks).resolve()), "dataset": dataset, "root": str(Path(root).resolve()),
              "split": ds.split, "task": task, "videos": names,
              "vocabulary": [[c.id, c.name, c.isthing, c.prompt] for c in vocab],
              "backend": backend.name, "crop": asdict(backend.crop), "merge_stuff": merge_stuff,
              "video_ids": video_ids, "save_crops": save_crops}
    ctx = DistContext.from_env()
    if ctx.is_main:  # the other ranks check after rank 0 created OUT (no race on a new OUT)
        check_run_dir(out, record)
    ctx.init()
    try:
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
            clean_partials(out)
            shutil.rmtree(out / ASSEMBLED, ignore_errors=True)
            write_manifest(out, record, names, [])
        ctx.barrier()
        if not ctx.is_main:
            check_run_dir(out, record)
        weights = [len(v.tracks) + 1 for v in videos]
        mine = assign_shards(weights, ctx.world_size)[ctx.rank]

        def work(i: int, done: bool) -> None:
            if not done:
                _label_part(videos[i], frames, backend, vocab, out, save_crops)
            crops = part_dir(out, names[i]) / "crops"
            if crops.is_dir():  # published like segment's per-video files
                (out / "crops").mkdir(exist_ok=True)
                os.replace(crops, out / "crops" / names[i])

        run_shard(names, weights, mine, out, work, ctx, progress, "classify", "track")
        ctx.barrier()
        labelled = [_labelled_from_part(v, out, vocab) for v in videos]
        if ctx.is_main:
            _assemble(labelled, out, task, merge_stuff, video_ids, vocab, backend, record)
    finally:
        ctx.close()
    n_tracks = sum(len(v.labels) for v in labelled)
    n_labelled = sum(1 for v in labelled for tl in v.labels.values() if tl.label.category is not None)
    return ClassifySummary(str(out), task, len(videos), n_tracks, n_labelled)


def _label_part(video, frames, backend, vocab, out: Path, save_crops: bool) -> None:
    """Classify one video's tracks into its part (renamed into place when complete)."""
    with atomic_dir(part_dir(out, video.video)) as tmp:
        lv = label_video(video, frames, backend, vocab, backend.crop, False,
                         tmp / "crops_tmp" if save_crops else None)
        if save_crops and (tmp / "crops_tmp" / video.video).is_dir():
            os.replace(tmp / "crops_tmp" / video.video, tmp / "crops")
            (tmp / "crops_tmp").rmdir()
        tracks = [{"id": tid, "category_id": None if tl.label.category is None else tl.label.category.id,
                   "confidence": tl.label.confidence, "answer": tl.label.answer,
                   "frame_index": tl.frame.frame} for tid, tl in lv.labels.items()]
        with open(tmp / "summary.json", "w") as f:
            json.dump({"video": video.video, "tracks": tracks}, f, indent=1)
            f.write("\n")


def _labelled_from_part(video, out: Path, vocab: Vocabulary) -> LabelledVideo:
    """The LabelledVideo of a part: the tracks of TRACKS with the labels saved in the part."""
    with open(part_dir(out, video.video) / "summary.json") as f:
        saved = {t["id"]: t for t in json.load(f)["tracks"]}
    result = LabelledVideo(video)
    for track in video.tracks:
        rec = saved.get(track.id)
        if rec is None:
            continue
        frame = next(fr for fr in track.frames if fr.frame == rec["frame_index"])
        cat = None if rec["category_id"] is None else vocab.by_id(rec["category_id"])
        result.labels[track.id] = TrackLabel(track, frame, Label(cat, rec["confidence"], rec["answer"]))
    return result


def _assemble(labelled, out: Path, task, merge_stuff, video_ids, vocab, backend, record) -> None:
    """Rank 0: the task's files written beside OUT's parts, then moved into OUT."""
    tmp = out / ASSEMBLED
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write_task(task, labelled, tmp, merge_stuff, video_ids)
    with open(tmp / LABELS_FILE, "w") as f:
        json.dump(labels_record(labelled, vocab, backend, backend.crop, task), f, indent=1)
    for entry in sorted(tmp.iterdir()):
        dst = out / entry.name
        if dst.is_dir():
            shutil.rmtree(dst)
        os.replace(entry, dst)
    tmp.rmdir()
    write_manifest(out, record, record["videos"], [])
