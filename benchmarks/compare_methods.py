"""Compare EntitySAM with the SAM 2.1 baselines on a folder of videos: VEQ / STQ^EN / s per frame.

    # real data (VIPSeg layout): one sub-folder of frames (or one video file) per video
    python benchmarks/compare_methods.py VIPSeg_720P/images --gt VIPSeg_720P/panomasksRGB \\
        --gt-json VIPSeg_720P/panoptic_gt_VIPSeg_val.json \\
        --methods entitysam,sam2-everything,sam2-mask-init --init-masks m2f_masks/ \\
        --model vit-s --sam2-model sam2.1-large --out compare/

    # self-contained demo: synthetic videos, random weights, ground-truth frame 0 as init masks
    python benchmarks/compare_methods.py --synthetic 2 --frames 4 --random-weights

Each method writes the panoptic format per video (``entitysam segment`` / ``run_baseline``),
the per-video folders are merged into one prediction folder per method (``pan_pred/`` +
``pred.json``), and ``entitysam eval --task entity``'s library (``evaluate_entity``) scores
it; videos absent from a prediction are left out (the official VEQ behaviour, ``missing="skip"``).
s/frame is the wall time of the whole run (decoding, model, writing) over the frames.
``sam2-mask-init`` needs ``--init-masks DIR`` (``<video>.png|.json`` or ``<video>/<frame>.png``)
or ``--init-model NAME``; in ``--synthetic`` mode the ground truth's first frame is used (an
oracle initialisation, for plumbing checks). Prints a table and writes JSON. Run by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

METHODS = ("entitysam", "sam2-everything", "sam2-mask-init")


def list_videos(root: Path, limit: int | None) -> list[Path]:
    """Sub-folders (frame folders) and video files of ``root``, sorted."""
    items = sorted(p for p in root.iterdir() if p.is_dir() or p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv"))
    return items[:limit] if limit else items


def run_method(method: str, video: Path, out: Path, args, models: dict) -> dict:
    """One video through one method into ``out``; returns the run summary as a dict."""
    from dataclasses import asdict

    common = dict(formats="panoptic", max_frames=args.max_frames, progress=False)
    if method == "entitysam":
        from entitysam.segment import build_predictor, segment_video

        if "entitysam" not in models:
            models["entitysam"] = build_predictor(args.model, args.checkpoint, args.device)
        return asdict(segment_video(video, out, predictor=models["entitysam"], **common))
    from entitysam.baselines import EverythingOptions, run_baseline
    from entitysam.baselines.models import build_sam2_model

    if "sam2" not in models:
        models["sam2"] = build_sam2_model(args.sam2_model, args.sam2_checkpoint, args.device)
    kw = {}
    if method == "sam2-everything":
        kw["everything"] = EverythingOptions(points_per_side=args.points_per_side,
                                             pred_iou_thresh=args.pred_iou_thresh,
                                             stability_score_thresh=args.stability_score_thresh,
                                             max_objects=args.max_objects)
    elif args.init_model:
        if "m2f" not in models:
            from entitysam.baselines.mask2former import Mask2FormerSegmenter

            models["m2f"] = Mask2FormerSegmenter.from_pretrained(args.init_model, device=models["sam2"].device)
        kw["segmenter"] = models["m2f"]
    else:
        kw["init_masks"] = args.init_masks
    return asdict(run_baseline(method, video, out, model=models["sam2"], **kw, **common))


def merge_predictions(run_dirs: list[Path], pred_dir: Path) -> None:
    """Per-video panoptic outputs -> one folder: ``pan_pred/<video>/`` + a combined pred.json."""
    annotations = []
    (pred_dir / "pan_pred").mkdir(parents=True)
    for run in run_dirs:
        annotations += json.loads((run / "pred.json").read_text())["annotations"]
        for video_dir in (run / "pan_pred").iterdir():
            os.replace(video_dir, pred_dir / "pan_pred" / video_dir.name)
    (pred_dir / "pred.json").write_text(json.dumps({"annotations": annotations}))


def evaluate_method(method: str, videos: list[Path], args, work: Path, models: dict) -> dict:
    from entitysam.evaluation.entity import evaluate_entity

    runs, frames, seconds = [], 0, 0.0
    for video in videos:
        out = work / method / "runs" / video.stem
        t0 = time.perf_counter()
        summary = run_method(method, video, out, args, models)
        seconds += time.perf_counter() - t0
        frames += summary["frames"]
        runs.append(out)
        print(f"  {method:<16} {video.name:<28} {summary['frames']:>5} frames  {summary['entities']:>4} entities",
              file=sys.stderr)
    pred = work / method / "pred"
    merge_predictions(runs, pred)
    report = evaluate_entity(pred, args.gt, args.gt_json, missing="skip")
    return {"method": method, "videos": len(videos), "frames": frames,
            "VEQ": report["veq"]["VEQ"], "STQ_EN": report["stq"]["STQ"],
            "s_per_frame": seconds / max(frames, 1), "pred_dir": str(pred), "report": report}


def table(rows: list[dict]) -> str:
    lines = [f"{'method':<18}{'videos':>7}{'frames':>8}{'VEQ':>9}{'STQ^EN':>9}{'s/frame':>10}"]
    for r in rows:
        lines.append(f"{r['method']:<18}{r['videos']:>7}{r['frames']:>8}{r['VEQ']:>9.2f}"
                     f"{r['STQ_EN']:>9.4f}{r['s_per_frame']:>10.3f}")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="?", type=Path, help="folder of videos (frame folders or files)")
    ap.add_argument("--gt", type=Path, help="GT panomasksRGB folder")
    ap.add_argument("--gt-json", type=Path, help="GT JSON (VIPSeg layout)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--init-masks", type=Path, help="sam2-mask-init: folder of first-frame masks")
    ap.add_argument("--init-model", help="sam2-mask-init: e.g. mask2former-swin-s-coco-panoptic")
    ap.add_argument("--model", default="vit-s", help="EntitySAM model (vit-s | vit-l | tiny)")
    ap.add_argument("--checkpoint", help="EntitySAM checkpoint (default: the official one)")
    ap.add_argument("--sam2-model", default="sam2.1-large", help="SAM 2.1 model of the baselines")
    ap.add_argument("--sam2-checkpoint", help="SAM 2.1 checkpoint (default: downloaded)")
    ap.add_argument("--points-per-side", type=int, default=32)
    ap.add_argument("--pred-iou-thresh", type=float, default=0.8)
    ap.add_argument("--stability-score-thresh", type=float, default=0.95)
    ap.add_argument("--max-objects", type=int)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-frames", type=int)
    ap.add_argument("--max-videos", type=int)
    ap.add_argument("--synthetic", type=int, metavar="N", help="generate N synthetic videos instead")
    ap.add_argument("--frames", type=int, default=4, help="--synthetic: frames per video")
    ap.add_argument("--random-weights", action="store_true",
                    help="tiny EntitySAM + sam2.1-test on random weights (plumbing only; numbers meaningless)")
    ap.add_argument("--out", type=Path, help="keep the predictions here (default: a temporary folder)")
    ap.add_argument("--json", default="benchmarks/results/compare_methods.json")
    return ap.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.random_weights:
        args.model, args.checkpoint, args.sam2_model, args.sam2_checkpoint = "tiny", None, "sam2.1-test", None
        args.points_per_side, args.pred_iou_thresh, args.stability_score_thresh = 4, 0.0, 0.0
        warnings.filterwarnings("ignore", message=".*random weights.*")
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        work = args.out or Path(tmp)
        if args.synthetic:
            from entitysam.synthetic.videos import write_synthetic_videos

            root = write_synthetic_videos(work / "data", num_videos=args.synthetic, num_frames=args.frames,
                                          size=(96, 128))
            args.videos, args.gt = root / "images", root / "panomasksRGB"
            args.gt_json = root / "panoptic_gt_synthetic.json"
            if args.init_masks is None and args.init_model is None:
                args.init_masks = args.gt  # oracle: the GT's first frame (<video>/<first>.png)
        if args.videos is None or args.gt is None or args.gt_json is None:
            sys.exit("error: give VIDEOS --gt --gt-json, or --synthetic N")
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        if "sam2-mask-init" in methods and args.init_masks is None and args.init_model is None:
            print("note: sam2-mask-init skipped (no --init-masks / --init-model)", file=sys.stderr)
            methods.remove("sam2-mask-init")
        videos = list_videos(args.videos, args.max_videos)
        models: dict = {}
        rows = [evaluate_method(m, videos, args, work, models) for m in methods]
    print(table(rows))
    result = {"platform": platform.platform(), "python": platform.python_version(),
              "args": {k: str(v) for k, v in vars(args).items()},
              "rows": [{k: v for k, v in r.items() if k != "report"} for r in rows]}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
