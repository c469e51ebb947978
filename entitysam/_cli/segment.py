"""``entitysam segment``: segment and track every entity of a video, streaming, any length."""

from __future__ import annotations

import argparse
import sys

from entitysam._cli.options import (
    add_fast_mode_options,
    add_model_options,
    device,
    fast_modes,
    fraction,
    model_overrides,
    nonnegative_int,
    positive_int,
)

help = "segment and track every entity of a video, or of every video of a dataset (no prompts)"
description = (
    "Segment and track every entity of INPUT (a video file PyAV can decode, or a folder of "
    ".jpg/.png frames) and write the results to OUTDIR, which appears only when complete. "
    "Frames are processed one at a time; RAM stays flat, the temporary disk use grows with "
    "the video length (see README, 'Segment a video'). With --dataset, INPUT is a dataset "
    "root and every video is segmented into one output that `entitysam eval` reads; run it "
    "under torchrun to shard the videos over processes; re-running it resumes (README, "
    "'Segment a dataset')."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT", help="video file or folder of frames")
    p.add_argument("-o", "--output", metavar="OUTDIR", required=True,
                   help="output folder (must not exist or be empty)")
    p.add_argument("--model", default="vit-s", help="vit-s | vit-l | tiny | tiny-wide (default: vit-s)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="checkpoint file (default: the official one, fetched once from Hugging Face)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow checkpoints that need arbitrary unpickling")
    p.add_argument("--device", default="auto", type=device, help="auto | cpu | cuda (default: auto)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "official-bf16"],
                   help="fp32 (default, every device) | bf16 (CPU autocast) | official-bf16 (CUDA)")
    p.add_argument("--formats", default=None,
                   help="comma-separated: panoptic,overlay,rle,ytvis,davis "
                        "(default: panoptic,overlay; with --dataset: panoptic)")
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="process only the first N frames")
    p.add_argument("--online", action="store_true",
                   help="one-pass merge with running scores (streams); not identical to the official merge")
    p.add_argument("--sort", default="lexicographic", choices=["lexicographic", "natural"],
                   help="frame order of a folder (default: lexicographic, as the official loader)")
    p.add_argument("--overlap-threshold", type=fraction, default=0.7,
                   help="keep a slot when owned/own area >= this (default: 0.7, official)")
    p.add_argument("--score-over", default="all", choices=["all", "real"],
                   help="average eIoU over all positions incl. warm-ups (official) or real frames only")
    p.add_argument("--slot-order", default="slot", choices=["slot", "score"],
                   help="visit slots in slot order (official) or by decreasing score")
    p.add_argument("--entity-score", default="max", choices=["max", "foreground"],
                   help="eIoU = IoU x sigmoid of the larger entity logit (official) or of the foreground logit")
    p.add_argument("--spill-dtype", default="float32", choices=["float32", "float16"],
                   help="dtype of the temporary on-disk logits (float16 halves the disk, not exact)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_options(p)
    add_fast_mode_options(p)
    d = p.add_argument_group("datasets (INPUT is a dataset root; README 'Segment a dataset')")
    d.add_argument("--dataset", choices=["vipseg", "vspw", "ytvis", "folders"],
                   help="vipseg (VIPSeg_720P/) | vspw (VSPW_480p/) | ytvis (YouTube-VIS / OVIS split "
                        "folder) | folders (one frame folder or video file per video)")
    d.add_argument("--split", help="video list: vipseg panoptic_gt_VIPSeg_<split>.json, vspw <split>.txt, "
                                   "ytvis <split>.json (default: val; ytvis: valid)")
    d.add_argument("--videos", metavar="ID,ID,...", help="only these videos (dataset order is kept)")
    d.add_argument("--annotations", metavar="JSON", help="ytvis: the instances JSON (default: looked up, "
                                                          "see README)")
    d.add_argument("--skip-missing", action="store_true",
                   help="leave out listed videos without (readable, same-size) frames instead of failing")
    b = p.add_argument_group("baselines (SAM 2.1, the paper's comparison rows; README 'Baselines')")
    b.add_argument("--method", default="entitysam", choices=["entitysam", "sam2-everything", "sam2-mask-init"],
                   help="entitysam (default) | sam2-everything (automatic masks on frame 0) | "
                        "sam2-mask-init (frame-0 masks from --init-masks or --init-model); "
                        "with a baseline, --checkpoint is the SAM 2.1 checkpoint")
    b.add_argument("--sam2-model", default="sam2.1-small",
                   help="SAM 2.1 variant: sam2.1-tiny | sam2.1-small | sam2.1-base-plus | sam2.1-large")
    b.add_argument("--init-masks", metavar="PATH", help="frame-0 masks: an id PNG or a COCO RLE JSON (file or folder)")
    b.add_argument("--init-model", metavar="NAME", help="frame-0 masks from Mask2Former, e.g. mask2former-swin-s-coco-panoptic")
    b.add_argument("--points-per-side", type=positive_int, default=32)
    b.add_argument("--pred-iou-thresh", type=fraction, default=0.8)
    b.add_argument("--stability-score-thresh", type=fraction, default=0.95)
    b.add_argument("--box-nms-thresh", type=fraction, default=0.7)
    b.add_argument("--min-mask-region-area", type=nonnegative_int, default=0)
    b.add_argument("--max-objects", type=positive_int, help="keep the N masks with the highest predicted IoU")


def run(args: argparse.Namespace) -> int:
    import warnings

    from entitysam.segment import segment_video

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show  # one line per warning, no source location
    _check_dataset_args(args)
    if args.dataset is not None:
        return _run_dataset(args)
    if args.formats is None:
        args.formats = "panoptic,overlay"
    if args.method != "entitysam":
        return _run_baseline(args)
    summary = segment_video(
        args.input, args.output, model=args.model, checkpoint=args.checkpoint,
        device=args.device, formats=args.formats, max_frames=args.max_frames,
        online=args.online, sort=args.sort, precision=args.precision,
        trust_checkpoint=args.trust_checkpoint, overlap_threshold=args.overlap_threshold,
        score_over=args.score_over, slot_order=args.slot_order, spill_dtype=args.spill_dtype,
        entity_score=args.entity_score, model_options=model_overrides(args), fast_modes=fast_modes(args) or None,
        progress=not args.no_progress,
    )
    print(summary.line())
    return 0


def _check_dataset_args(args: argparse.Namespace) -> None:
    from entitysam.errors import EntitySAMError

    if args.dataset is None:
        used = [f for f, v in (("--split", args.split), ("--videos", args.videos),
                               ("--annotations", args.annotations),
                               ("--skip-missing", args.skip_missing or None)) if v is not None]
        if used:
            raise EntitySAMError(f"{used[0]} needs --dataset")
    elif args.max_frames is not None:
        raise EntitySAMError("--max-frames does not apply to --dataset (every frame is segmented)")


def _run_dataset(args: argparse.Namespace) -> int:
    from entitysam.segment import segment_dataset

    videos = None if args.videos is None else [v.strip() for v in args.videos.split(",") if v.strip()]
    common = dict(split=args.split, videos=videos, annotations=args.annotations,
                  skip_missing=args.skip_missing, formats=args.formats or "panoptic",
                  progress=not args.no_progress)
    if args.method != "entitysam":
        factory, options = _baseline_factory(args)
        summary = segment_dataset(args.input, args.dataset, args.output, checkpoint=args.checkpoint,
                                  method=args.method, method_options=options, runner_factory=factory,
                                  **common)
    else:
        summary = segment_dataset(
            args.input, args.dataset, args.output, model=args.model, checkpoint=args.checkpoint,
            device=args.device, precision=args.precision, trust_checkpoint=args.trust_checkpoint,
            entity_score=args.entity_score, model_options=model_overrides(args),
            fast_modes=fast_modes(args) or None,
            video_options=dict(online=args.online, sort=args.sort, overlap_threshold=args.overlap_threshold,
                               score_over=args.score_over, slot_order=args.slot_order,
                               spill_dtype=args.spill_dtype), **common)
    if summary.rank == 0:  # under torchrun, one line for the whole run
        print(summary.line())
    return 0


def _baseline_factory(args: argparse.Namespace):
    """(runner factory, manifest options) of a SAM 2.1 baseline over a dataset: the model is
    built once per process and reused for every video."""
    from dataclasses import asdict

    from entitysam.baselines import build_sam2_model, run_baseline

    everything = _baseline_checks(args)

    def factory(device):
        model = build_sam2_model(args.sam2_model, args.checkpoint, device)

        def run(video, out, formats):
            return run_baseline(args.method, video.path, out, formats=formats, sam2_model=args.sam2_model,
                                checkpoint=args.checkpoint, device=device, init_masks=args.init_masks,
                                init_model=args.init_model, everything=everything, model=model,
                                progress=False, video_name=video.id, frames=video.frames)
        return run

    options = {"sam2_model": args.sam2_model, "init_masks": args.init_masks, "init_model": args.init_model,
               "everything": None if everything is None else asdict(everything)}
    return factory, options


def _baseline_checks(args: argparse.Namespace):
    """Reject EntitySAM-only flags; the automatic mask generator's options (or None)."""
    from entitysam.baselines import EverythingOptions
    from entitysam.errors import EntitySAMError

    entitysam_only = {"--model": args.model != "vit-s", "--precision": args.precision != "fp32",
                      "--online": args.online, "--overlap-threshold": args.overlap_threshold != 0.7,
                      "--score-over": args.score_over != "all", "--slot-order": args.slot_order != "slot",
                      "--spill-dtype": args.spill_dtype != "float32",
                      "--entity-score": args.entity_score != "max"}
    flags = {"entity_logits_from": "--entity-logits-from", "memory": "--no-memory",
             "decoder_depth": "--decoder-depth", "shared_queries": "--shared-queries", "semantic": "--no-semantic"}
    entitysam_only.update({flags[k]: True for k in model_overrides(args)})
    entitysam_only.update({"--max-memories": args.max_memories is not None, "--prune-slots": args.prune_slots is not None,
                           "--input-size": args.input_size is not None})
    bad = [flag for flag, used in entitysam_only.items() if used]
    if bad:
        verb = "applies" if len(bad) == 1 else "apply"
        raise EntitySAMError(f"{', '.join(bad)} {verb} only to --method entitysam, not {args.method}")
    if args.method != "sam2-everything":
        return None
    return EverythingOptions(
        points_per_side=args.points_per_side, pred_iou_thresh=args.pred_iou_thresh,
        stability_score_thresh=args.stability_score_thresh, box_nms_thresh=args.box_nms_thresh,
        min_mask_region_area=args.min_mask_region_area, max_objects=args.max_objects)


def _run_baseline(args: argparse.Namespace) -> int:
    from entitysam.baselines import run_baseline

    everything = _baseline_checks(args)
    summary = run_baseline(
        args.method, args.input, args.output, formats=args.formats, sam2_model=args.sam2_model,
        checkpoint=args.checkpoint, device=args.device, init_masks=args.init_masks, init_model=args.init_model,
        everything=everything, max_frames=args.max_frames, sort=args.sort, progress=not args.no_progress)
    print(summary.line())
    return 0
