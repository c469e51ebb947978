"""Segment every entity of a video: the streaming pipeline behind ``entitysam segment``.

Data flow (one frame in memory at a time)::

    source (PyAV / folder) -> preprocess (official Pillow path, spec §6.1)
      -> EntitySAMPredictor.step (warm-ups on the first frame, §6.1)
      -> merger pass 1 (scores, quality counts, logits spilled to disk; §7)
    then merger pass 2 (counting, then writing) -> writers (panoptic, rle, ytvis, davis, overlay)

The overlay needs the input frames again in pass 2: the source is decoded a second time
rather than kept in RAM. With ``online=True`` there is one pass and every frame is written as
soon as it is processed (:class:`~entitysam.inference.merge.online.OnlineMerger`, running scores,
not identical to the official merge).

Example::

    from entitysam.segment import segment_video
    summary = segment_video("clip.mp4", "out/", model="vit-s", formats=("panoptic", "rle"))
    print(summary.line())
"""

from __future__ import annotations

import errno
import json
import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from entitysam.core.summary import SegmentSummary, peak_rss_mib
from entitysam.errors import EntitySAMError
from entitysam.io.atomic import check_out_dir

DEFAULT_FORMATS = ("panoptic", "overlay")
# errors writing OUTDIR or the spill that are the user's to fix (permissions, full or read-only disk)
_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT}


def build_predictor(model: str = "vit-s", checkpoint=None, device="auto", precision="fp32",
                    trust_checkpoint: bool = False, warmup: int = 3, entity_score: str = "max",
                    model_options: dict | None = None, fast_modes: dict | None = None):
    """Model + weights + streaming predictor.

    ``checkpoint=None`` fetches the official checkpoint of ``vit-s``/``vit-l`` (Hugging Face
    cache); the ``tiny`` config has no checkpoint and runs on random weights with a warning.
    ``model_options``: config overrides of the research options (issue 16: ``entity_logits_from``,
    ``memory``, ``decoder_depth``, ``shared_queries``, ``semantic``), as the checkpoint was trained.
    ``fast_modes``: :class:`~entitysam.inference.fast_modes.FastModes` as a dict (``max_memories``,
    ``prune`` {below, patience, revisit}, ``input_size``); None = official.
    """
    import torch

    from entitysam.checkpoint import load_checkpoint, resolve_checkpoint
    from entitysam.configs import resolve_config
    from entitysam.inference.precision import resolve_device, resolve_precision
    from entitysam.inference.predictor import EntitySAMPredictor
    from entitysam.modeling import build_entitysam
    from entitysam.modeling.entitysam import check_entity_score

    try:
        check_entity_score(entity_score)  # before the (slow) model build
    except ValueError as exc:
        raise EntitySAMError(str(exc)) from None
    from entitysam.inference.fast_modes import FastModes

    try:
        fast = FastModes.from_dict(fast_modes)
    except (TypeError, ValueError) as exc:
        raise EntitySAMError(f"bad fast modes {fast_modes}: {exc}") from None
    try:  # EntitySAMError for an unknown name; model options (issue 16) as config overrides
        cfg = resolve_config(model, **(model_options or {}))
    except (TypeError, ValueError) as exc:
        raise EntitySAMError(f"bad model options {model_options}: {exc}") from None
    if fast.max_memories is not None and fast.max_memories > cfg.num_maskmem:
        raise EntitySAMError(f"--max-memories must be in 1..{cfg.num_maskmem}, got {fast.max_memories}")
    cfg = resolve_config(cfg, **fast.config_overrides())
    dev = resolve_device(device)
    resolve_precision(precision, dev)  # reject a bad device/precision pair before building
    if checkpoint is None and cfg.name == "tiny":
        warnings.warn("model 'tiny' has no trained weights: running on random weights, the "
                      "output is meaningless (use it for tests and benchmarks only)", UserWarning,
                      stacklevel=2)
        path = None
    else:
        path = Path(checkpoint) if checkpoint is not None else resolve_checkpoint(cfg.name)
        if not path.is_file():
            raise EntitySAMError(f"{path}: checkpoint file not found")
    # reproducible random weights (tiny) without touching the caller's global RNG
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(0)  # CPU only: the CUDA generators stay untouched
        net = build_entitysam(cfg, device=dev)
    if path is not None:
        load_checkpoint(net, path, trust=trust_checkpoint)
    return EntitySAMPredictor(net, warmup=warmup, precision=precision, entity_score=entity_score,
                              max_memories=fast.max_memories, prune=fast.prune)


def segment_video(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    model: str = "vit-s",
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    formats: Sequence[str] | str = DEFAULT_FORMATS,
    max_frames: int | None = None,
    online: bool = False,
    sort: str = "lexicographic",
    *,
    precision: str = "fp32",
    trust_checkpoint: bool = False,
    overlap_threshold: float = 0.7,
    score_over: str = "all",
    slot_order: str = "slot",
    spill_dtype: str = "float32",
    warmup: int = 3,
    entity_score: str = "max",
    model_options: dict | None = None,
    fast_modes: dict | None = None,
    predictor=None,
    progress: bool = True,
    video_name: str | None = None,
    frames: Sequence[str] | None = None,
) -> SegmentSummary:
    """Segment and track every entity of a video file or frame folder into ``out_dir``.

    Args:
        source: video file (anything PyAV decodes) or folder of .jpg/.jpeg/.png frames.
        out_dir: output folder; must not exist (or be empty). It appears only when complete.
        model / checkpoint / device / precision / trust_checkpoint / warmup / entity_score /
            model_options / fast_modes: see
            :func:`build_predictor`; ``predictor`` overrides them with a ready object that has
            ``image_size``, ``reset()`` and ``step(image) -> list[PositionOutput]``.
        formats: any of ``panoptic, rle, ytvis, davis, overlay`` (list or comma string).
        max_frames: process only the first N frames.
        online: one-pass merge with running scores (not the official result).
        sort: frame order of a folder, ``lexicographic`` (official) or ``natural``.
        video_name: the video name in the outputs (default: folder name / file stem).
        frames: explicit frame file names of a folder, in order (default: the folder's frames).
        overlap_threshold / score_over / slot_order / spill_dtype: merge options
            (:class:`~entitysam.inference.merge.options.MergeOptions`; defaults are official).
    Returns:
        a :class:`SegmentSummary` (also written to ``out_dir/summary.json``).
    Raises:
        EntitySAMError: bad input or options (one-line message); nothing is left behind.
    """
    from entitysam.inference.merge import MergeOptions
    from entitysam.io.atomic import atomic_dir
    from entitysam.io.sources import open_source
    from entitysam.io.writers import open_writers, parse_formats

    fmts = parse_formats(formats)
    try:
        options = MergeOptions(overlap_threshold=overlap_threshold, score_over=score_over,
                               slot_order=slot_order, spill_dtype=spill_dtype)
    except ValueError as exc:
        raise EntitySAMError(str(exc)) from None
    out = check_out_dir(out_dir)
    src = open_source(source, sort=sort, max_frames=max_frames,
                      frames=None if frames is None else list(frames), name=video_name)
    if predictor is None:
        predictor = build_predictor(model, checkpoint, device, precision, trust_checkpoint, warmup, entity_score,
                                    model_options, fast_modes)
    predictor.reset()
    c0 = time.process_time()
    t0 = time.perf_counter()  # s/frame covers decoding, model, merge and writing, not the model build
    try:
        with atomic_dir(out) as tmp:
            run = _run_online if online else _run_offline
            with open_writers(fmts, tmp, src.info) as writers:
                frames, segments, spill = run(src, predictor, writers, options, tmp, progress)
            seconds = time.perf_counter() - t0
            cpu_seconds = time.process_time() - c0
            summary = SegmentSummary(
                out_dir=str(out), video=src.info.name, frames=frames, entities=len(segments),
                seconds=seconds, seconds_per_frame=seconds / max(frames, 1),
                peak_rss_mib=peak_rss_mib(), formats=fmts, online=online, spill_bytes=spill,
                cpu_seconds=cpu_seconds, segments=segments)
            (tmp / "summary.json").write_text(json.dumps(asdict(summary), indent=1) + "\n")
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        raise EntitySAMError(f"{out}: cannot write the output ({exc.strerror})") from None
    return summary


def _frames(src, predictor, progress: bool, desc: str):
    """Yield (name, pil, position outputs) per source frame with a progress bar."""
    from tqdm import tqdm

    from entitysam.io.frames import preprocess

    bar = tqdm(total=src.info.num_frames, unit="frame", desc=desc, disable=not progress,
               dynamic_ncols=True)
    try:
        for name, pil in src:
            outs = predictor.step(preprocess(pil, predictor.image_size))
            yield name, pil, outs
            bar.update(1)
    finally:
        bar.close()


def _run_offline(src, predictor, writers, options, tmp, progress):
    """Official merge: pass 1 over the video, then counting + writing passes (spec §7)."""
    import numpy as np
    from tqdm import tqdm

    from entitysam.inference.merge import VideoMerger

    needs_rgb = any(w.needs_rgb for w in writers)
    names: list[str] = []
    with VideoMerger(src.info.size, options, spill_dir=tmp, device=getattr(predictor, "device", None)) as merger:
        for name, _, outs in _frames(src, predictor, progress, "segment"):
            names.append(name)
            for out in outs:
                merger.add(out)
        if not names:
            raise EntitySAMError(f"{src.path}: zero frames decoded")
        merger.finalize()
        spill = merger.spill_bytes
        rgb_iter = iter(src) if needs_rgb else None  # re-decode rather than keep frames in RAM
        for merged in tqdm(merger.frames(), total=len(names), unit="frame", desc="write",
                           disable=not progress, dynamic_ncols=True):
            rgb = None
            if needs_rgb:
                item = next(rgb_iter, None)
                if item is None:
                    raise EntitySAMError(f"{src.path}: the second decoding gave fewer frames than the first")
                rgb = np.asarray(item[1])
            name = names[merged.frame_index]
            for w in writers:
                w.write_frame(merged.frame_index, name, merged.id_map, merged.segments, rgb)
        segments = _segment_dicts(merger.segments)
    return len(names), segments, spill


def _run_online(src, predictor, writers, options, tmp, progress):
    """One pass: each frame is merged with running scores and written at once."""
    import numpy as np

    from entitysam.inference.merge import OnlineMerger

    merger = OnlineMerger(src.info.size, options, device=getattr(predictor, "device", None))
    count = 0
    for name, pil, outs in _frames(src, predictor, progress, "segment (online)"):
        rgb = np.asarray(pil)
        for out in outs:
            merged = merger.add(out)
            if merged is None:
                continue
            for w in writers:
                w.write_frame(merged.frame_index, name, merged.id_map, merged.segments, rgb)
        count += 1
    if count == 0:
        raise EntitySAMError(f"{src.path}: zero frames decoded")
    return count, _segment_dicts(merger.segments), 0


def _segment_dicts(segments) -> list[dict]:
    """summary.json's per-entity records (the same fields for the offline and online merge)."""
    return [asdict(s) | {"area_per_frame": list(s.area_per_frame)} for s in segments]
