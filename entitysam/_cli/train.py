"""``entitysam train``: the paper's two-stage class-agnostic training (single process or torchrun)."""

from __future__ import annotations

import argparse

from entitysam._cli.options import (add_model_options, device, model_overrides, nonnegative_float, nonnegative_int,
                                    positive_float, positive_int)
from entitysam.errors import EntitySAMError

help = "train EntitySAM on COCO-panoptic-format data (stage 1: images, stage 2: pseudo-videos)"
description = """Train EntitySAM class-agnostically on any COCO-panoptic-format folder.

Stage 1 (images, T=1) starts from SAM 2.1 + DINOv2 weights; stage 2 (8-frame pseudo-videos)
starts from a stage-1 checkpoint (--init). Defaults are the official recipe (spec
training.md); several GPUs or nodes: launch with torchrun (one clip per process).
"""


def _scale_range(text: str) -> tuple[float, float]:
    """``MIN,MAX`` resize scales of the LSJ augmentation, 0 < MIN <= MAX."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (two numbers), got {text!r}")
    lo, hi = (positive_float(p) for p in parts)
    if lo > hi:
        raise argparse.ArgumentTypeError(f"MIN must be <= MAX, got {text!r}")
    return lo, hi


def _ints(text: str) -> tuple[int, ...]:
    """Comma-separated iterations, each >= 1."""
    return tuple(positive_int(v.strip()) for v in text.split(",") if v.strip())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vit-s", help="vit-s | vit-l | tiny | tiny-wide")
    p.add_argument("--stage", type=int, default=1, choices=(1, 2))
    p.add_argument("--data", required=True, help="COCO-panoptic root: <split>/, panoptic_<split>/, annotations/panoptic_<split>.json")
    p.add_argument("--split", default="train2017")
    p.add_argument("-o", "--output-dir", default="output", help="checkpoints, metrics.jsonl, tb/ (default: output)")
    p.add_argument("--sam2-checkpoint", help="SAM 2.1 base checkpoint (e.g. sam2.1_hiera_small.pt) for stage 1")
    p.add_argument("--dinov2-checkpoint", help="DINOv2 weights (e.g. dinov2_vits14_pretrain.pth) for stage 1")
    p.add_argument("--init", help="start from this checkpoint's model (stage 2: the stage-1 model_0079999.pth)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow checkpoints that need arbitrary unpickling")
    p.add_argument("--train-all", action="store_true", help="train every parameter (from-scratch runs of small models)")
    p.add_argument("--max-iter", type=positive_int, help="default: 81000 (stage 1) / 10100 (stage 2)")
    p.add_argument("--steps", type=_ints, help="lr x0.1 at these iterations, comma-separated (default 60000 / 7500)")
    p.add_argument("--frames", type=positive_int, help="frames per clip T (default 1 / 8)")
    p.add_argument("--checkpoint-period", type=positive_int, help="default 10000 / 2000")
    p.add_argument("--lr", type=positive_float, default=5e-5)
    p.add_argument("--weight-decay", type=nonnegative_float, default=0.05)
    p.add_argument("--clip-grad-norm", type=positive_float, default=0.01)
    p.add_argument("--clips-per-rank", type=positive_int, default=1, help="clips per process per iteration (official: 1)")
    p.add_argument("--workers", type=nonnegative_int, help="processes preparing clips ahead of the model "
                   "(default: 4 on CUDA, 0 on CPU; results are identical for any value)")
    p.add_argument("--num-points", type=positive_int, default=12544, help="matcher / loss points per mask")
    p.add_argument("--max-num-masks", type=positive_int, default=30)
    p.add_argument("--log-period", type=positive_int, default=20)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--device", default="auto", type=device, help="auto | cpu | cuda (torchrun: cuda:LOCAL_RANK)")
    p.add_argument("--no-amp", action="store_true", help="disable fp16 autocast on CUDA")
    p.add_argument("--unmatched-iou-zero", action="store_true",
                   help="loss option: supervise the IoU head of unmatched slots towards 0 (official: no IoU loss "
                        "on unmatched slots)")
    p.add_argument("--point-loss", type=nonnegative_float, default=0.0, metavar="WEIGHT",
                   help="loss option: weight of a loss putting each matched slot's point-sampler distribution inside "
                        "its entity (official: 0, none; the sampler then learns only through the prompt encoding)")
    p.add_argument("--lsj-scale", type=_scale_range, default=None, metavar="MIN,MAX",
                   help="augmentation option: resize-scale range of the large-scale jitter (official: 0.25,4.0)")
    p.add_argument("--point-match", type=nonnegative_float, default=0.0, metavar="WEIGHT",
                   help="matching option: add WEIGHT x -log(0.01 + point-sampler mass inside the entity) to the "
                        "Hungarian cost, so a slot tends to be matched to the entity its point is on (official: 0)")
    add_model_options(p)


def build_trainer(args: argparse.Namespace, log=print):
    """The configured Trainer for these CLI arguments (also used by scripts and tests)."""
    import os

    import torch

    from entitysam.checkpoint import init_from_sam2_dinov2, load_state_dict, read_state_dict
    from entitysam.inference.precision import resolve_device
    from entitysam.modeling import build_entitysam
    from entitysam.training.augment import AugmentationConfig
    from entitysam.training.clips import ClipStream, PseudoVideoClips
    from entitysam.training.coco_panoptic import CocoPanoptic
    from entitysam.training.losses import WEIGHT_DICT, SetCriterion
    from entitysam.training.matcher import HungarianMatcher
    from entitysam.training.rng import seeded_default_rng
    from entitysam.training.trainer import TrainConfig, Trainer

    if args.workers is not None and args.workers < 0:
        raise EntitySAMError(f"--workers must be >= 0, got {args.workers}")
    device = resolve_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    cfg = TrainConfig.for_stage(
        args.stage, model=args.model, frames=args.frames, max_iter=args.max_iter, steps=args.steps,
        checkpoint_period=args.checkpoint_period, lr=args.lr, weight_decay=args.weight_decay,
        clip_grad_norm=args.clip_grad_norm, clips_per_rank=args.clips_per_rank, log_period=args.log_period,
        workers=(4 if device.type == "cuda" else 0) if args.workers is None else args.workers,
        seed=args.seed, train_all=args.train_all, amp=not args.no_amp, num_points=args.num_points,
        max_num_masks=args.max_num_masks, output_dir=args.output_dir,
        unmatched_iou_zero=getattr(args, "unmatched_iou_zero", False), model_options=model_overrides(args),
        point_loss=getattr(args, "point_loss", 0.0), point_match=getattr(args, "point_match", 0.0),
    )
    with seeded_default_rng(args.seed, "cpu"):  # seeded initial weights (built on the CPU); global RNG kept
        model = build_entitysam(args.model, **cfg.model_options)
    if args.init:
        load_state_dict(model, read_state_dict(args.init, trust=args.trust_checkpoint), source=args.init)
        log(f"initialised from {args.init}")
    elif args.sam2_checkpoint or args.dinov2_checkpoint:
        if not args.sam2_checkpoint:
            raise EntitySAMError("--dinov2-checkpoint needs --sam2-checkpoint too")
        prov = init_from_sam2_dinov2(model, args.sam2_checkpoint, args.dinov2_checkpoint, trust=args.trust_checkpoint)
        log(f"initialised: {prov.summary()}")
    elif not (args.train_all or args.resume or args.model == "tiny"):
        raise EntitySAMError(
            "the frozen SAM 2.1 / DINOv2 weights must come from somewhere: pass --sam2-checkpoint and "
            "--dinov2-checkpoint (stage 1) or --init (stage 2), or --train-all to train from scratch"
        )
    dataset = CocoPanoptic.from_root(args.data, args.split)
    lsj = getattr(args, "lsj_scale", None)
    aug = AugmentationConfig(image_size=model.cfg.image_size,
                             **({"min_scale": lsj[0], "max_scale": lsj[1]} if lsj else {}))
    clips = ClipStream(PseudoVideoClips(dataset, cfg.frames, aug, cfg.max_num_masks), seed=args.seed)
    weights = dict(WEIGHT_DICT, loss_point=cfg.point_loss) if cfg.point_loss > 0 else WEIGHT_DICT
    criterion = SetCriterion(HungarianMatcher(num_points=cfg.num_points), weight_dict=weights, num_points=cfg.num_points,
                             unmatched_iou_zero=cfg.unmatched_iou_zero, point_match=cfg.point_match)
    trainer = Trainer(model, clips, criterion, cfg, device=device, log=log)
    if args.resume and not trainer.resume():
        log(f"no checkpoint to resume in {cfg.output_dir}; starting at iteration 0")
    return trainer


def run(args: argparse.Namespace) -> int:
    trainer = build_trainer(args)
    path = trainer.train()
    if trainer.dist.main:
        print(f"saved {path}")
    return 0
