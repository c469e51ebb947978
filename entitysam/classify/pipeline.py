"""Classify entity tracks and write a class-specific output: the library behind ``entitysam classify``.

Flow, one video at a time (only the crops of one video are held in memory)::

    read_tracks(TRACKS) -> best frame per track -> read only those frames (--frames)
      -> crop_entity -> backend.classify(crops, vocab) -> LabelledVideo
    then convert.write_panoptic | write_instance | write_semantic, plus labels.json,
    all inside a temporary folder renamed to OUT at the end (nothing half-written is left).

Example::

    from entitysam.classify import classify
    from entitysam.classify.backends.openai import ChatBackend, ChatConfig
    backend = ChatBackend(ChatConfig.from_env(model="gpt-4o-mini", cache_dir="cache/"))
    classify("seg_out/", "clip.mp4", "vipseg", backend, "cls_out/", task="panoptic")
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from entitysam.classify import convert
from entitysam.classify.backends.base import Backend
from entitysam.classify.convert import LabelledVideo, TrackLabel
from entitysam.classify.crops import CropConfig, best_frame, crop_entity
from entitysam.classify.frames import read_frames, source_for
from entitysam.classify.tracks import VideoTracks, read_tracks
from entitysam.classify.vocab import Vocabulary, load_vocabulary
from entitysam.errors import EntitySAMError

TASKS = ("panoptic", "instance", "semantic")
LABELS_FILE = "labels.json"


@dataclass
class ClassifySummary:
    """What a run produced."""

    out_dir: str
    task: str
    videos: int
    tracks: int
    labelled: int

    def line(self) -> str:
        return (f"{self.videos} video(s), {self.tracks} tracks, {self.labelled} labelled, "
                f"{self.tracks - self.labelled} none -> {self.out_dir} ({self.task})")


def track_crops(video: VideoTracks, frames, crop: CropConfig, single: bool):
    """[(track, best frame, crop image)] of one video, reading only the needed frames.

    ``frames``: SRC (see :func:`source_for`) or a mapping video name -> its frame folder / file
    (a dataset's layout, :mod:`entitysam.classify.dataset`)."""
    best = {t.id: best_frame(t) for t in video.tracks if t.frames}
    by_frame: dict[int, list] = {}
    for t in video.tracks:
        if t.id in best:
            by_frame.setdefault(best[t.id].frame, []).append(t)
    if isinstance(frames, dict):
        if video.video not in frames:
            raise EntitySAMError(f"video {video.video} of the tracks is not a video of the dataset")
        source = Path(frames[video.video])
    else:
        source = source_for(frames, video.video, single)
    out = []
    for index, image in read_frames(source, video.frame_names, set(by_frame)):
        id_map = video.id_map(index)
        for t in by_frame[index]:
            mask = id_map == t.id
            if not mask.any():
                raise EntitySAMError(
                    f"video {video.video}: track {t.id} is listed in frame "
                    f"{video.frame_names[index]} but has no pixel in its mask")
            out.append((t, best[t.id], crop_entity(image, mask, crop)))
    return out


def label_video(video: VideoTracks, frames, backend: Backend, vocab: Vocabulary,
                crop: CropConfig, single: bool, save_crops: Path | None = None) -> LabelledVideo:
    """Crop every track of ``video`` on its best frame and classify the crops."""
    items = track_crops(video, frames, crop, single)
    labels = backend.classify([c for _, _, c in items], vocab)
    if len(labels) != len(items):
        raise RuntimeError(f"backend {backend.name} returned {len(labels)} labels for {len(items)} crops")
    result = LabelledVideo(video)
    for (track, frame, image), label in zip(items, labels):
        result.labels[track.id] = TrackLabel(track, frame, label)
        if save_crops is not None:
            folder = save_crops / video.video
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{track.id}.png")
    return result


def labels_record(videos: list[LabelledVideo], vocab: Vocabulary, backend: Backend,
                  crop: CropConfig, task: str) -> dict:
    """The content of ``labels.json``: every track's label, for auditing and re-use."""
    out = []
    for v in videos:
        tracks = []
        for tid, tl in v.labels.items():
            cat = tl.label.category
            tracks.append({
                "id": tid, "category_id": None if cat is None else cat.id,
                "category_name": None if cat is None else cat.name,
                "confidence": tl.label.confidence, "answer": tl.label.answer,
                "frame_index": tl.frame.frame, "frame": v.tracks.frame_names[tl.frame.frame],
                "score": tl.track.score,
            })
        out.append({"video_id": v.tracks.video, "tracks": tracks})
    return {"format": "entitysam-labels/1", "task": task, "vocabulary": vocab.name,
            "backend": backend.name, "crop": asdict(crop), "videos": out}


def classify(tracks: str | os.PathLike, frames: str | os.PathLike | dict, vocab: Vocabulary | str,
             backend: Backend, out_dir: str | os.PathLike, task: str = "panoptic",
             merge_stuff: bool = True,
             video_ids: dict[str, int] | None = None, save_crops: bool = False,
             progress: Callable[[str], None] | None = None) -> ClassifySummary:
    """Label every track of TRACKS and write ``task``'s layout to ``out_dir`` (module docstring).

    Crops are made with ``backend.crop``. Output (``out_dir`` must not exist or be empty;
    it appears only when complete): panoptic -> ``pan_pred/`` + ``pred.json``; instance ->
    ``results.json``; semantic -> ``<video>/<stem>.png``; always ``labels.json``; with
    ``frames`` a mapping video name -> frame folder / video file (dataset runs); with
    ``save_crops`` also ``crops/<video>/<track id>.png``. ``video_ids``: instance task, video
    name -> YouTube-VIS id (default 1, 2, ... in reading order).
    """
    from entitysam.io.atomic import atomic_dir

    if task not in TASKS:
        raise EntitySAMError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EntitySAMError(f"{out}: output folder already exists and is not empty; choose another -o")
    vocab = load_vocabulary(vocab) if not isinstance(vocab, Vocabulary) else vocab
    crop = backend.crop
    videos = read_tracks(tracks)
    with atomic_dir(out) as tmp:
        crops_dir = tmp / "crops" if save_crops else None
        labelled = []
        for v in videos:
            if progress:
                progress(f"{v.video}: classifying {len(v.tracks)} tracks")
            labelled.append(label_video(v, frames, backend, vocab, crop, len(videos) == 1, crops_dir))
        write_task(task, labelled, tmp, merge_stuff, video_ids)
        with open(tmp / LABELS_FILE, "w") as f:
            json.dump(labels_record(labelled, vocab, backend, crop, task), f, indent=1)
    n_tracks = sum(len(v.labels) for v in labelled)
    n_labelled = sum(1 for v in labelled for tl in v.labels.values() if tl.label.category is not None)
    return ClassifySummary(str(out), task, len(videos), n_tracks, n_labelled)


def write_task(task: str, videos: list[LabelledVideo], out: Path, merge_stuff: bool,
               video_ids: dict[str, int] | None) -> None:
    """The task's class-specific files in ``out`` (panoptic, instance or semantic layout)."""
    if task == "panoptic":
        convert.write_panoptic(videos, out, merge_stuff)
    elif task == "instance":
        convert.write_instance(videos, out / "results.json", video_ids)
    else:
        convert.write_semantic(videos, out)
