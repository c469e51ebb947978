"""``entitysam synthetic``: generate synthetic data (evaluation videos, COCO-panoptic training images)."""

from __future__ import annotations

import argparse

from entitysam._cli.options import fraction, nonnegative_int, positive_int
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
    c = sub.add_parser("coco", help="training images in the COCO-panoptic layout (things, stuff, crowd)")
    _coco_arguments(c)


def _coco_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the COCO-panoptic generator (defaults: ``SyntheticConfig``)."""
    from entitysam.synthetic.coco import SyntheticConfig

    d = SyntheticConfig()
    parser.add_argument("out", help="output folder (must not exist)")
    parser.add_argument("--num-images", type=positive_int, default=d.num_images)
    parser.add_argument("--size", type=positive_int, nargs="+", default=[d.height], metavar="H [W]",
                        help="image height [and width] in pixels")
    parser.add_argument("--stuff", type=nonnegative_int, nargs=2, default=d.stuff_per_image, metavar=("MIN", "MAX"),
                        help="stuff (background) entities per image")
    parser.add_argument("--things", type=nonnegative_int, nargs=2, default=d.things_per_image, metavar=("MIN", "MAX"),
                        help="thing (shape) entities per image")
    parser.add_argument("--crowd-prob", type=fraction, default=d.crowd_prob)
    parser.add_argument("--void-prob", type=fraction, default=d.void_prob)
    parser.add_argument("--num-empty", type=nonnegative_int, default=d.num_empty_images,
                        help="number of trailing images without any segment")
    parser.add_argument("--seed", type=nonnegative_int, default=d.seed)
    parser.add_argument("--split", default=d.split)


def _coco_config(args: argparse.Namespace):
    from entitysam.synthetic.coco import SyntheticConfig

    if len(args.size) not in (1, 2):
        raise EntitySAMError(f"--size takes H or H W, got {args.size}")
    h, w = (args.size * 2)[:2]
    return SyntheticConfig(
        num_images=args.num_images, height=h, width=w,
        stuff_per_image=tuple(args.stuff), things_per_image=tuple(args.things),
        crowd_prob=args.crowd_prob, void_prob=args.void_prob, num_empty_images=args.num_empty,
        seed=args.seed, split=args.split,
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.kind == "coco":
        from entitysam.synthetic.coco import write_synthetic_coco_panoptic

        cfg = _coco_config(args)
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
