"""Run a SAM 2.1 baseline on a video and write the project's output formats, streaming.

Data flow (one frame in memory at a time; one pass, every frame written as soon as it is done)::

    source (PyAV / folder) -> frame 0 -> initializer (automatic mask generator | given masks)
      -> SAM2StreamTracker.start / .step (bounded memory bank)
      -> per-frame overlap resolution + running track scores (entitysam.baselines.overlap)
      -> writers (panoptic, rle, ytvis, davis, overlay: entitysam.io.writers)

The output folder appears only when complete (``atomic_dir``) and has the same layout as
``entitysam segment``; ``summary.json`` adds the method, the SAM 2.1 model and per-track data.

Example::

    from entitysam.baselines import run_baseline
    s = run_baseline("sam2-everything", "clip.mp4", "out/", formats="panoptic,overlay",
                     sam2_model="sam2.1-large")
    print(s.line())
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from entitysam.baselines.init_masks import InitMasks
from entitysam.baselines.models import DEFAULT_VARIANT, build_sam2_model
from entitysam.baselines.overlap import TrackScores, frame_segments, resolve_overlaps
from entitysam.baselines.sam2_everything import EverythingOptions, everything_init, make_generator
from entitysam.baselines.sam2_mask_init import mask_init_initializer
from entitysam.baselines.tracker import SAM2StreamTracker
from entitysam.errors import EntitySAMError

if TYPE_CHECKING:
    from entitysam.core.summary import SegmentSummary

METHODS = ("sam2-everything", "sam2-mask-init")
DEFAULT_FORMATS = ("panoptic", "overlay")


def run_baseline(
    method: str,
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    formats: Sequence[str] | str = DEFAULT_FORMATS,
    *,
    sam2_model: str = DEFAULT_VARIANT,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    init_masks: str | os.PathLike | None = None,
    init_model: str | None = None,
    segmenter=None,
    everything: EverythingOptions | None = None,
    max_frames: int | None = None,
    sort: str = "lexicographic",
    object_batch: int = 16,
    fill_hole_area: int = 8,
    exact_init_frame: bool = True,
    model=None,
    progress: bool = True,
    video_name: str | None = None,
    frames: Sequence[str] | None = None,
) -> "SegmentSummary":
    """Segment and track every object of a video with a SAM 2.1 baseline into ``out_dir``.

    Args:
        method: ``"sam2-everything"`` (automatic mask generator on frame 0) or
            ``"sam2-mask-init"`` (frame-0 masks from ``init_masks`` files, the ``init_model``
            Mask2Former, or a ``segmenter`` callable (H, W, 3) uint8 -> InitMasks).
        source: video file or folder of frames; out_dir: must not exist or be empty.
        formats: writer names (``entitysam.io.writers.WRITERS``).
        sam2_model / checkpoint / device: the SAM 2.1 model (``entitysam.baselines.models``);
            ``model`` passes a prebuilt one instead.
        everything: automatic mask generator parameters (sam2's defaults when None).
        object_batch: objects per forward pass; fill_hole_area: SAM 2's hole filling (8).
        exact_init_frame: write the initial masks themselves on frame 0 (SAM 2 uses a mask input
            as the conditioning frame's output); False writes SAM 2's low-res round trip of them,
            as ``SAM2VideoPredictor.propagate_in_video`` returns it.
        video_name / frames: the video's name in the outputs and an explicit frame list of a
            folder (dataset runs; see :func:`entitysam.io.sources.open_source`).
    Returns:
        a ``entitysam.core.summary.SegmentSummary`` (``online=True``: one pass), also in summary.json.
    """
    from entitysam.io.atomic import atomic_dir
    from entitysam.io.sources import open_source
    from entitysam.io.writers import open_writers, parse_formats
    from entitysam.io.atomic import check_out_dir

    t0 = time.perf_counter()
    _check_init_args(method, init_masks, init_model, segmenter, everything)
    fmts = parse_formats(formats)
    out = check_out_dir(out_dir)
    src = open_source(source, sort=sort, max_frames=max_frames,
                      frames=None if frames is None else list(frames), name=video_name)
    prebuilt = model
    if model is None:
        model = build_sam2_model(sam2_model, checkpoint, device)
    initializer = _initializer(method, model, everything, init_masks, init_model, segmenter)
    try:
        with atomic_dir(out) as tmp:
            with open_writers(fmts, tmp, src.info) as writers:
                frames, tracks, origin = _track_video(src, model, initializer, writers, object_batch,
                                                      fill_hole_area, exact_init_frame, progress)
            summary = _summary(out, src, frames, tracks, fmts, t0)
            extra = {"method": method, "sam2_model": sam2_model if prebuilt is None else "prebuilt",
                     "checkpoint": None if checkpoint is None else str(checkpoint), "init": origin}
            (tmp / "summary.json").write_text(json.dumps(asdict(summary) | extra, indent=1) + "\n")
    except PermissionError as exc:
        raise EntitySAMError(f"{out}: cannot write the output ({exc.strerror})") from None
    return summary


def _check_init_args(method, init_masks, init_model, segmenter, everything) -> None:
    """Reject inconsistent options before any model is built or downloaded."""
    if method not in METHODS:
        raise EntitySAMError(f"unknown baseline method {method!r}; choose from {', '.join(METHODS)}")
    given = sum(x is not None for x in (init_masks, init_model, segmenter))
    if method == "sam2-everything" and given:
        raise EntitySAMError("--init-masks / --init-model only apply to --method sam2-mask-init")
    if method == "sam2-mask-init":
        if given != 1:
            raise EntitySAMError("sam2-mask-init needs exactly one of --init-masks PATH or --init-model NAME")
        if everything is not None:
            raise EntitySAMError("automatic mask generator options only apply to --method sam2-everything")
        if init_masks is not None and not Path(init_masks).exists():
            raise EntitySAMError(f"{init_masks}: --init-masks: no such file or folder")


def _initializer(method, model, everything, init_masks, init_model, segmenter):
    """(first frame rgb, video name) -> InitMasks for the chosen method."""
    if method == "sam2-everything":
        options = everything or EverythingOptions()
        generator = make_generator(model, options)
        return lambda rgb, name: everything_init(generator, rgb, options.max_objects)
    return mask_init_initializer(init_masks, init_model, segmenter, device=model.device)


class _FrameWriter:
    """Turns each frame's id map into segments (with running track scores) for every writer,
    and keeps per-track areas for the summary."""

    def __init__(self, writers, init: InitMasks, bar):
        k = init.masks.shape[0]
        self.writers, self.bar = writers, bar
        self.ids = np.arange(1, k + 1, dtype=np.int64)  # entity id = object index + 1, stable
        self.slot_of = {int(i): int(i) - 1 for i in self.ids}
        self.scores = TrackScores(init.scores)
        self.init_scores, self.source_ids = init.scores, init.source_ids
        self.areas: dict[int, list[int]] = {int(i): [] for i in self.ids}

    def write(self, t: int, name: str, rgb: np.ndarray, id_map: np.ndarray) -> None:
        segs = frame_segments(id_map, self.slot_of, dict(zip(self.slot_of, self.scores.mean)))
        present = {s.id: s.area for s in segs}
        for i, per_frame in self.areas.items():
            per_frame.append(present.get(i, 0))
        for w in self.writers:
            w.write_frame(t, name, id_map, segs, rgb)
        self.bar.update(1)

    def tracks(self) -> list[dict]:
        return [{"id": int(i), "slot": int(i) - 1, "score": float(s), "init_score": float(s0),
                 "source_id": src_id, "area_per_frame": self.areas[int(i)]}
                for i, s, s0, src_id in zip(self.ids, self.scores.mean, self.init_scores, self.source_ids)]


def _track_video(src, model, initializer, writers, object_batch, fill_hole_area, exact_init_frame,
                 progress):
    """The streaming loop. Returns (frames written, per-track records, init origin)."""
    from tqdm import tqdm

    from entitysam.io.frames import preprocess

    frames_iter = iter(src)
    first = next(frames_iter, None)
    if first is None:
        raise EntitySAMError(f"{src.path}: zero frames decoded")
    name0, pil0 = first
    rgb0 = np.asarray(pil0)
    init: InitMasks = initializer(rgb0, src.info.name)
    with tqdm(total=src.info.num_frames, unit="frame", desc="sam2 baseline", disable=not progress,
              dynamic_ncols=True) as bar:
        out = _FrameWriter(writers, init, bar)
        tracker = out0 = None
        if len(out.ids):
            tracker = SAM2StreamTracker(model, num_frames=src.info.num_frames, fill_hole_area=fill_hole_area,
                                        object_batch=object_batch)
            out0 = tracker.start(preprocess(pil0, model.image_size), torch.from_numpy(init.masks))
        out.write(0, name0, rgb0, _frame0_ids(init, out.ids, out0, src.info.size, exact_init_frame))
        origin = init.origin
        del init, out0  # the full-resolution (K, H, W) masks are not needed any more
        count = 1
        for t, (name, pil) in enumerate(frames_iter, start=1):
            if tracker is None:  # no object on frame 0: every frame is empty
                id_map = np.zeros(src.info.size, dtype=np.int32)
            else:
                step = tracker.step(preprocess(pil, model.image_size))
                out.scores.update(step.object_score_logits)
                id_map = resolve_overlaps(step.logits, out.ids, src.info.size)
            out.write(t, name, np.asarray(pil), id_map)
            count += 1
    return count, out.tracks(), origin


def _frame0_ids(init: InitMasks, ids, out0, size, exact: bool) -> np.ndarray:
    if out0 is None:
        return np.zeros(size, dtype=np.int32)
    if exact:
        # 0/1 masks order pixels exactly like SAM 2's +-10 mask-as-output logits
        return resolve_overlaps(torch.from_numpy(init.masks), ids, None)
    return resolve_overlaps(out0.logits, ids, size)


def _summary(out: Path, src, frames: int, tracks: list[dict], fmts, t0: float):
    from entitysam.core.summary import SegmentSummary, peak_rss_mib

    seconds = time.perf_counter() - t0
    present = [t for t in tracks if any(t["area_per_frame"])]
    return SegmentSummary(
        out_dir=str(out), video=src.info.name, frames=frames, entities=len(present), seconds=seconds,
        seconds_per_frame=seconds / max(frames, 1), peak_rss_mib=peak_rss_mib(), formats=list(fmts),
        online=True, segments=tracks)
