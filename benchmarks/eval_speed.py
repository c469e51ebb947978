"""Time ``entitysam eval --task entity`` on a synthetic VIPSeg-sized set, 1 and 2 workers.

    python benchmarks/eval_speed.py                      # 50 videos x 30 frames x 720p
    python benchmarks/eval_speed.py --videos 10 --frames 10 --out eval_speed.json

Writes a VIPSeg-layout GT (panomasksRGB + JSON) and a prediction folder (pan_pred +
pred.json) into a temporary folder: moving stuff bands and objects, GT void speckles and
boundary strips, predictions with jitter, an id switch and unassigned pixels. Prints a table
and writes JSON. Run by hand, not by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from entitysam.evaluation import evaluate_entity
from entitysam.io.atomic import atomic_file
from entitysam.io.ids import id2rgb


def scene(rng: np.random.Generator, t: int, h: int, w: int, params: dict) -> np.ndarray:
    """(H, W) int64 GT ids of frame t: stuff bands with wavy borders plus moving ellipses."""
    yy, xx = np.mgrid[0:h, 0:w]
    ids = np.zeros((h, w), np.int64)
    edges = params["band_edges"]
    wave = (h * 0.02 * np.sin(xx / w * 6.28 * params["freq"] + 0.05 * t)).astype(np.int64)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        ids[(yy + wave >= lo) & (yy + wave < hi)] = 1000 + i
    for j, (cy, cx, ry, rx, vy, vx) in enumerate(params["objects"]):
        y, x = cy + vy * t, cx + vx * t
        ids[((yy - y) / ry) ** 2 + ((xx - x) / rx) ** 2 <= 1] = 5000 + j
    return ids


def void_mask(rng: np.random.Generator, ids: np.ndarray) -> np.ndarray:
    """VIPSeg-like void: a 2-px strip along segment borders and 0.5% speckles."""
    border = np.zeros(ids.shape, bool)
    border[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    border[1:, :] |= ids[1:, :] != ids[:-1, :]
    border[:, :-1] |= border[:, 1:]
    return border | (rng.random(ids.shape) < 0.005)


def segments(ids: np.ndarray) -> list[dict]:
    u, c = np.unique(ids, return_counts=True)
    return [{"id": int(i), "category_id": int(i) % 124, "iscrowd": 0, "area": int(n)}
            for i, n in zip(u, c) if i != 0]


def save(path: Path, ids: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(id2rgb(ids)).save(path, compress_level=1)


def generate(root: Path, videos: int, frames: int, h: int, w: int, seed: int = 0) -> dict:
    """Write the synthetic set; returns the three CLI paths."""
    rng = np.random.default_rng(seed)
    gt_json = {"videos": [], "annotations": [], "categories": [
        {"id": i, "name": f"c{i}", "isthing": int(i >= 60), "color": [i, i, i]} for i in range(124)]}
    pred_json = {"annotations": []}
    for v in range(videos):
        vid = f"{v}_synthetic"
        n_bands, n_obj = rng.integers(3, 7), rng.integers(2, 8)
        params = {
            "band_edges": np.sort(np.r_[0, rng.integers(0, h, n_bands - 1), h]),
            "freq": rng.uniform(1, 4),
            "objects": [(rng.uniform(0.2, 0.8) * h, rng.uniform(0.1, 0.9) * w, rng.uniform(0.05, 0.2) * h,
                         rng.uniform(0.03, 0.15) * w, rng.uniform(-3, 3), rng.uniform(-8, 8))
                        for _ in range(n_obj)],
        }
        images, gt_frames, pred_frames = [], [], []
        for t in range(frames):
            stem = f"{5 * t:08d}"
            truth = scene(rng, t, h, w, params)
            gt = np.where(void_mask(rng, truth), 0, truth)
            # Prediction: the scene one frame later (jitter), object 0 switches id halfway,
            # 2% unassigned pixels.
            pred = scene(rng, t + 1, h, w, params) + 17
            if t >= frames // 2:
                pred[pred == 5000 + 17] = 9999
            pred[rng.random(pred.shape) < 0.02] = 0
            save(root / "gt" / "panomasksRGB" / vid / f"{stem}.png", gt)
            save(root / "pred" / "pan_pred" / vid / f"{stem}.png", pred)
            images.append({"id": stem, "width": w, "height": h, "file_name": f"{stem}.png"})
            gt_frames.append({"image_id": stem, "file_name": f"{stem}.png", "segments_info": segments(gt)})
            pred_frames.append({"file_name": f"{stem}.jpg", "segments_info": segments(pred)})
        gt_json["videos"].append({"video_id": vid, "images": images})
        gt_json["annotations"].append({"video_id": vid, "annotations": gt_frames})
        pred_json["annotations"].append({"video_id": vid, "annotations": pred_frames})
    (root / "gt" / "gt.json").write_text(json.dumps(gt_json))
    (root / "pred" / "pred.json").write_text(json.dumps(pred_json))
    return {"pred": root / "pred", "gt": root / "gt" / "panomasksRGB", "gt_json": root / "gt" / "gt.json"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default="eval_speed.json", help="JSON results file")
    parser.add_argument("--keep", help="write the synthetic set here instead of a temp folder")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        t0 = time.perf_counter()
        paths = generate(root, args.videos, args.frames, args.height, args.width)
        gen_s = time.perf_counter() - t0
        runs, reference = [], None
        for workers in args.workers:
            t0 = time.perf_counter()
            report = evaluate_entity(paths["pred"], paths["gt"], paths["gt_json"], workers=workers)
            seconds = time.perf_counter() - t0
            n_frames = args.videos * args.frames
            runs.append({"workers": workers, "seconds": seconds, "frames_per_s": n_frames / seconds,
                         "VEQ": report["veq"]["VEQ"], "STQ": report["stq"]["STQ"]})
            same = reference is None or report == reference
            reference = reference or report
            runs[-1]["identical_to_first"] = same

    result = {
        "set": {"videos": args.videos, "frames": args.frames, "height": args.height,
                "width": args.width, "generation_s": gen_s},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
        "runs": runs,
    }
    print(f"synthetic set: {args.videos} videos x {args.frames} frames x {args.height}x{args.width} "
          f"(generated in {gen_s:.1f} s; {os.cpu_count()} CPUs)")
    print(f"{'workers':>8} {'seconds':>10} {'frames/s':>10} {'VEQ':>10} {'STQ':>10} {'identical':>10}")
    for r in runs:
        print(f"{r['workers']:>8} {r['seconds']:>10.2f} {r['frames_per_s']:>10.1f} {r['VEQ']:>10.4f} "
              f"{r['STQ']:>10.6f} {str(r['identical_to_first']):>10}")
    with atomic_file(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
