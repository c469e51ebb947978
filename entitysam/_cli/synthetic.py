"""``entitysam synthetic``: generate synthetic data (evaluation videos, COCO-panoptic training images)."""

from __future__ import annotations

import argparse

from entitysam._cli.options import nonnegative_int, positive_int
from entitysam.errors import EntitySAMError

help = "generate synthetic entity videos (VIPSeg layout) or COCO-panoptic training images"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x180 (WxH), got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    v = sub.add_parser("videos", help="held-out entity videos with VIPSeg-layout ground truth")
    v.add_argument("-o", "--output", required=True, help="output folder (must not exist)")
    v.add_argument("--videos", type=positive_int, default=4)
    v.add_argument("--frames", type=positive_int, default=24)
    v.add_argument("--size", type=_size, default=(180, 320), help="WxH (default 320x180)")
    v.add_argument("--seed", type=nonnegative_int, default=0)
    from entitysam.training.synthetic import add_arguments as coco_arguments

    c = sub.add_parser("coco", help="training images in the COCO-panoptic layout (things, stuff, crowd)")
    coco_arguments(c)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.kind == "coco":
        from entitysam.training.synthetic import config_from_args, write_synthetic_coco_panoptic

        cfg = config_from_args(args)
        write_synthetic_coco_panoptic(args.out, cfg)
        print(f"wrote {cfg.num_images} images to {args.out}")
        return 0
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EntitySAMError(f"output folder {out} already exists and is not empty")
    if args.kind == "videos":
        from entitysam.synthetic.videos import write_synthetic_videos

        if args.videos < 1 or args.frames < 1:
            raise EntitySAMError("--videos and --frames must be >= 1")
        write_synthetic_videos(out, args.videos, args.frames, args.size, args.seed)
        print(f"wrote {args.videos} videos x {args.frames} frames to {out}")
    return 0
