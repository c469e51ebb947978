"""Frames per second of EntitySAM on a synthetic clip: model only and end to end with writers.

    python benchmarks/gpu_speed.py                       # on a GPU: ViT-S and ViT-L, fp32 and official-bf16
    python benchmarks/gpu_speed.py --device cpu --models tiny --precisions fp32 --frames 2 --size 256

For every (model, precision):

* ``model``: ``EntitySAMPredictor.step`` over the clip's preprocessed frames (preprocessing
  done before the clock starts; ``torch.cuda.synchronize`` before reading it), frames / s;
* ``end_to_end``: ``segment_video`` on the same clip written as a folder of PNG frames with
  every output format (panoptic, rle, ytvis, davis, overlay), the offline merge, frames / s
  from the run's own ``summary.json`` (decoding, model, merge and writing; not the build).

Weights are random (built with a fixed seed; ``--checkpoint-dir`` with ``vit-s.pth`` /
``vit-l.pth`` loads real ones): speed does not depend on them, but the number of entities the
merge keeps (and so the writers' work) does, and it is recorded. ``official-bf16`` needs CUDA
and is skipped elsewhere. The clip is ``--frames`` frames of moving discs on a gradient at
``--size`` pixels (1024 by default, the models' input side). Results go to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from segment_memory import moving_discs  # noqa: E402 - the same synthetic clip as the length benchmark


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(model_name: str, device: str, precision: str, checkpoint_dir: str | None):
    import torch

    from entitysam.checkpoint import load_checkpoint
    from entitysam.configs import resolve_config
    from entitysam.inference.predictor import EntitySAMPredictor
    from entitysam.modeling import build_entitysam

    cfg = resolve_config(model_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_entitysam(cfg, device=device)
    ckpt = Path(checkpoint_dir) / f"{cfg.name}.pth" if checkpoint_dir else None
    if ckpt is not None and ckpt.is_file():
        load_checkpoint(net, ckpt, trust=True)
    return EntitySAMPredictor(net, precision=precision), ckpt is not None and ckpt.is_file()


def measure(model_name: str, precision: str, frames: list[np.ndarray], device: str, tmp: Path,
            checkpoint_dir: str | None, formats: str) -> dict:
    from PIL import Image

    from entitysam.io.frames import preprocess
    from entitysam.segment import segment_video

    predictor, real_weights = build(model_name, device, precision, checkpoint_dir)
    inputs = [preprocess(Image.fromarray(f), predictor.image_size) for f in frames]
    # model only: one untimed frame first (lazy initialisation, kernel selection)
    predictor.reset()
    predictor.step(inputs[0])
    predictor.reset()
    _sync(predictor.device)
    t0 = time.perf_counter()
    for x in inputs:
        predictor.step(x)
    _sync(predictor.device)
    model_s = time.perf_counter() - t0
    # end to end: the clip as a folder of PNG frames, every writer on
    folder = tmp / "frames"
    if not folder.is_dir():
        folder.mkdir()
        for i, f in enumerate(frames):
            Image.fromarray(f).save(folder / f"{i:05d}.png")
    out = tmp / f"out_{model_name}_{precision}"
    summary = segment_video(folder, out, predictor=predictor, formats=formats, progress=False)
    return {
        "model": model_name, "precision": precision, "frames": len(frames),
        "weights": "checkpoint" if real_weights else "random",
        "model_fps": len(frames) / model_s, "model_s_per_frame": model_s / len(frames),
        "end_to_end_fps": summary.frames / summary.seconds,
        "end_to_end_s_per_frame": summary.seconds_per_frame, "entities": summary.entities,
        "peak_rss_mib": summary.peak_rss_mib,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["vit-s", "vit-l"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "official-bf16"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=1024, help="side of the square synthetic frames")
    ap.add_argument("--formats", default="panoptic,rle,ytvis,davis,overlay")
    ap.add_argument("--checkpoint-dir", help="folder with <model>.pth checkpoints (default: random weights)")
    ap.add_argument("--json", default="benchmarks/results/gpu_speed.json")
    args = ap.parse_args(argv)
    import torch

    device = torch.device(args.device)
    frames = list(moving_discs(args.frames, args.size, args.size))
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random-weights warning of the tiny config
        for model_name in args.models:
            for precision in args.precisions:
                if precision == "official-bf16" and device.type != "cuda":
                    skipped.append({"model": model_name, "precision": precision, "reason": "needs CUDA"})
                    continue
                row = measure(model_name, precision, frames, args.device, Path(tmp), args.checkpoint_dir,
                              args.formats)
                rows.append(row)
                print(f"{model_name:6s} {precision:13s} model {row['model_fps']:7.2f} frames/s, end to end "
                      f"{row['end_to_end_fps']:7.2f} frames/s ({row['entities']} entities, {row['weights']} weights)",
                      flush=True)
    result = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "frame_size": [args.size, args.size], "formats": args.formats,
        "rows": rows, "skipped": skipped,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
