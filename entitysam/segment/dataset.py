"""Segment a whole dataset: sharded over processes, resumable, assembled for ``entitysam eval``.

Flow (every rank runs the same code; ``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK)::

    open_dataset (list + validate, nothing written)  ->  build the model once per rank
      -> rank 0 creates OUT + manifest.json (or checks it on resume)  -> barrier
      -> each rank: its shard (balanced by frames), videos not yet done, one at a time:
         segment_video into .parts/.<video>.partial-*  -> rename to .parts/<video>
         -> publish (pan_pred/<video>/, rle/<video>.json, davis/<video>/, overlay/<video>.mp4)
      -> rank 0 waits for every video (progress of all ranks), barrier
      -> rank 0 assembles pred.json / results.json / summary.json in dataset order

Each video's outputs depend only on the video (the predictor is reset per video) and the
aggregated files are concatenations of per-video parts in dataset order, so the result is
the same bytes for any number of ranks (``summary.json`` holds timings and differs).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from entitysam.errors import EntitySAMError
from entitysam.io.atomic import atomic_file
from entitysam.io.datasets import Dataset, DatasetVideo, open_dataset
from entitysam.io.manifest import (check_run_dir, clean_partials, is_done, part_dir,
                                   write_manifest)
from entitysam.io.shards import KILL_AFTER_ENV, DistContext, assign_shards, run_shard
from entitysam.io.writers import parse_formats

DEFAULT_DATASET_FORMATS = ("panoptic",)
__all__ = ["DatasetSummary", "segment_dataset", "publish", "KILL_AFTER_ENV"]


@dataclass
class DatasetSummary:
    """What a dataset run produced (``OUT/summary.json``)."""

    out_dir: str
    dataset: str
    videos: int
    frames: int
    entities: int
    resumed_videos: int  # done before this run started
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    per_video: list[dict] = field(default_factory=list)
    rank: int = 0  # the process that returns it (only rank 0 assembled the outputs)

    def line(self) -> str:
        text = (f"{self.videos} videos, {self.frames} frames, {self.entities} entities "
                f"({self.resumed_videos} already done) -> {self.out_dir}")
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + ", ".join(s["video"] for s in self.skipped)
        return text


# ----------------------------------------------------------------------------- per video


def publish(out: Path, video: str) -> None:
    """Move a finished part's per-video files to their final places (idempotent: a moved
    file is not there any more; renames keep the files' mtimes)."""
    part = part_dir(out, video)
    moves = [(part / "pan_pred" / video, out / "pan_pred" / video),
             (part / "rle.json", out / "rle" / f"{video}.json"),
             (part / "davis" / video, out / "davis" / video),
             (part / "overlay.mp4", out / "overlay" / f"{video}.mp4")]
    for src, dst in moves:
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    for leftover in (part / "pan_pred", part / "davis"):
        if leftover.is_dir() and not any(leftover.iterdir()):
            leftover.rmdir()


def entitysam_runner(model="vit-s", checkpoint=None, device="auto", precision="fp32",
                     trust_checkpoint=False, warmup=3, entity_score="max", model_options=None,
                     fast_modes=None, **video_options):
    """The default per-video job: one predictor for the whole run, :func:`segment_video` per
    video. Returns ``run(video, part_dir, formats) -> SegmentSummary``."""
    from entitysam.segment.video import build_predictor, segment_video

    predictor = build_predictor(model, checkpoint, device, precision, trust_checkpoint, warmup, entity_score,
                                model_options, fast_modes)

    def run(video: DatasetVideo, out: Path, formats):
        return segment_video(video.path, out, formats=formats, predictor=predictor, video_name=video.id,
                             frames=video.frames, progress=False, **video_options)

    return run


def checkpoint_record(model: str, checkpoint) -> dict | None:
    """How the weights are identified in the manifest (path, size, mtime; or the release)."""
    if checkpoint is None:
        return None if model == "tiny" else {"official": model}
    p = Path(checkpoint)
    st = p.stat() if p.is_file() else None
    return {"path": str(p.resolve()), "bytes": st.st_size if st else None,
            "mtime_ns": st.st_mtime_ns if st else None}


# ----------------------------------------------------------------------------- driver


def segment_dataset(
    root: str | os.PathLike,
    dataset: str,
    out_dir: str | os.PathLike,
    *,
    split: str | None = None,
    videos: Sequence[str] | None = None,
    annotations: str | os.PathLike | None = None,
    skip_missing: bool = False,
    formats: Sequence[str] | str = DEFAULT_DATASET_FORMATS,
    model: str = "vit-s",
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    precision: str = "fp32",
    trust_checkpoint: bool = False,
    warmup: int = 3,
    entity_score: str = "max",
    model_options: dict | None = None,
    fast_modes: dict | None = None,
    video_options: dict | None = None,
    method: str = "entitysam",
    method_options: dict | None = None,
    runner_factory: Callable | None = None,
    progress: bool = True,
) -> DatasetSummary:
    """Segment every video of ``root`` (layout ``dataset``) into ``out_dir``.

    Args:
        dataset / split / videos / annotations / skip_missing: see
            :func:`entitysam.io.datasets.open_dataset`.
        formats: per-video formats, assembled per dataset (see README "Segment a dataset").
        model ... entity_score: the EntitySAM model (built once per process).
        model_options: research options of the model (see :func:`build_predictor`).
        fast_modes: fast modes (see :func:`build_predictor`), recorded in the manifest.
        video_options: more :func:`segment_video` options (merge options, ``online``, ...).
        method / method_options / runner_factory: another per-video method (the SAM 2.1
            baselines): ``runner_factory(device) -> run(video, part_dir, formats)``; its options
            are recorded in the manifest.
    Raises:
        EntitySAMError: bad dataset or options (one line), before anything is written.
    """
    fmts = parse_formats(formats)
    video_options = dict(video_options or {})
    _check_video_options(video_options)
    ds = open_dataset(root, dataset, split=split, videos=videos, annotations=annotations,
                      skip_missing=skip_missing)
    ctx = DistContext.from_env()
    out = Path(out_dir)
    run_record = {
        "dataset": ds.layout, "root": str(Path(root).resolve()), "split": ds.split,
        "list": str(Path(ds.source).resolve()), "videos": [v.id for v in ds.videos],
        "formats": fmts, "method": method,
        "options": (method_options if runner_factory is not None else
                    {"model": model, "precision": precision, "warmup": warmup,
                     "entity_score": entity_score, **({"model_options": model_options} if model_options else {}),
                     **({"fast_modes": fast_modes} if fast_modes else {}),
                     **video_options}),
        "checkpoint": checkpoint_record(model if runner_factory is None else method, checkpoint),
    }
    if ctx.is_main:  # the other ranks check after rank 0 created OUT (no race on a new OUT)
        check_run_dir(out, run_record)
    dev = ctx.device(device)
    if runner_factory is None:
        run_video = entitysam_runner(model, checkpoint, dev, precision, trust_checkpoint, warmup,
                                     entity_score, model_options, fast_modes, **video_options)
    else:
        run_video = runner_factory(dev)
    t0 = time.perf_counter()
    ctx.init()
    try:
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
            clean_partials(out)
            write_manifest(out, run_record, run_record["videos"], ds.skipped)
        ctx.barrier()
        if not ctx.is_main:
            check_run_dir(out, run_record)
        done_before = [v.id for v in ds.videos if is_done(out, v.id)]
        shards = assign_shards([v.num_frames for v in ds.videos], ctx.world_size)
        mine = [ds.videos[i] for i in shards[ctx.rank]]
        _run_shard(ds, mine, out, run_video, fmts, ctx, progress)
        ctx.barrier()
        if not ctx.is_main:
            summary = _summary(ds, out, done_before, time.perf_counter() - t0)
            summary.rank = ctx.rank
            return summary
        summary = _assemble(ds, out, fmts, run_record, done_before, time.perf_counter() - t0)
    finally:
        ctx.close()
    return summary


def _check_video_options(options: dict) -> None:
    from entitysam.inference.merge import MergeOptions

    merge = {k: options[k] for k in ("overlap_threshold", "score_over", "slot_order", "spill_dtype")
             if k in options}
    try:
        MergeOptions(**merge)
    except ValueError as exc:
        raise EntitySAMError(str(exc)) from None


def _run_shard(ds: Dataset, mine: list[DatasetVideo], out: Path, run_video, fmts, ctx, progress) -> None:
    """This rank's videos (each run, then published); rank 0 shows the progress of all ranks."""
    index = {v.id: i for i, v in enumerate(ds.videos)}

    def work(i: int, done: bool) -> None:
        video = ds.videos[i]
        if not done:
            run_video(video, part_dir(out, video.id), fmts)
        publish(out, video.id)  # also after a kill between the part's rename and its publication

    run_shard([v.id for v in ds.videos], [v.num_frames for v in ds.videos], [index[v.id] for v in mine],
              out, work, ctx, progress, "dataset", "frame")


def _read_part(out: Path, video: str, name: str):
    with open(part_dir(out, video) / name) as f:
        return json.load(f)


def _assemble(ds: Dataset, out: Path, fmts, run_record, done_before, seconds) -> DatasetSummary:
    """Rank 0, every video done: the dataset-level files in dataset order."""
    missing = [v.id for v in ds.videos if not is_done(out, v.id)]
    if missing:
        raise EntitySAMError(f"{out}: videos not done after every rank finished: {', '.join(missing[:5])}")
    for v in ds.videos:
        publish(out, v.id)
    if "panoptic" in fmts:
        with atomic_file(out / "pred.json", "w") as f:
            f.write('{"annotations": [')
            for k, v in enumerate(ds.videos):
                part = _read_part(out, v.id, "pred.json")["annotations"][0]
                f.write(("" if k == 0 else ", ") + json.dumps(part))
            f.write("]}\n")
    if "ytvis" in fmts:
        with atomic_file(out / "results.json", "w") as f:
            f.write("[")
            first = True
            for k, v in enumerate(ds.videos):
                vid = v.dataset_id if v.dataset_id is not None else k + 1
                for entry in _read_part(out, v.id, "ytvis.json"):
                    entry["video_id"] = vid
                    f.write(("" if first else ", ") + json.dumps(entry))
                    first = False
            f.write("]\n")
    summary = _summary(ds, out, done_before, seconds)
    with atomic_file(out / "summary.json", "w") as f:
        from dataclasses import asdict

        json.dump(asdict(summary), f, indent=1)
        f.write("\n")
    write_manifest(out, run_record, run_record["videos"], ds.skipped)
    return summary


def _summary(ds: Dataset, out: Path, done_before, seconds) -> DatasetSummary:
    per_video, frames, entities = [], 0, 0
    for k, v in enumerate(ds.videos):
        if not is_done(out, v.id):
            continue
        s = _read_part(out, v.id, "summary.json")
        rec = {"video": v.id, "frames": s["frames"], "entities": s["entities"],
               "seconds_per_frame": s["seconds_per_frame"]}
        if v.dataset_id is not None or "ytvis" in s.get("formats", []):
            rec["results_video_id"] = v.dataset_id if v.dataset_id is not None else k + 1
        per_video.append(rec)
        frames += s["frames"]
        entities += s["entities"]
    return DatasetSummary(str(out), ds.layout, len(per_video), frames, entities, len(done_before),
                          [{"video": v, "problem": p} for v, p in ds.skipped], seconds, per_video)
