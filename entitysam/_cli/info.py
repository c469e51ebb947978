"""``entitysam info``: configuration, parameter counts, state-dict keys."""

from __future__ import annotations

import argparse
import json

help = "show a model's configuration, parameter counts per module and state-dict keys"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vit-s", help="vit-s | vit-l | tiny | tiny-wide (default: vit-s)")
    p.add_argument("--checkpoint", help="also load this checkpoint (checks every key and shape)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow checkpoints that need arbitrary unpickling")
    p.add_argument("--keys", action="store_true", help="print every state-dict entry as 'name<TAB>shape'")


def run(args: argparse.Namespace) -> int:
    from entitysam.modeling import build_entitysam
    from entitysam.modeling.trainable import is_trainable

    model = build_entitysam(args.model)
    if args.checkpoint:
        from entitysam.checkpoint import load_checkpoint

        load_checkpoint(model, args.checkpoint, trust=args.trust_checkpoint)
    sd = model.state_dict()
    if args.keys:
        for name, t in sd.items():
            print(f"{name}\t{list(t.shape)}")
        return 0
    print(f"model: {model.cfg.name}")
    print("config: " + json.dumps(model.cfg.to_dict()))
    rows: dict[str, list[int]] = {}
    for name, t in sd.items():
        top = name.split(".")[0]
        r = rows.setdefault(top, [0, 0, 0])
        r[0] += 1
        r[1 if is_trainable(name) else 2] += t.numel()
    print(f"{'module':34s} {'tensors':>8s} {'trainable':>12s} {'frozen':>12s}")
    for top, (n, tr, fr) in rows.items():
        print(f"{top:34s} {n:8d} {tr:12,d} {fr:12,d}")
    tot = [sum(r[i] for r in rows.values()) for i in range(3)]
    print(f"{'total':34s} {tot[0]:8d} {tot[1]:12,d} {tot[2]:12,d}")
    if args.checkpoint:
        print(f"checkpoint {args.checkpoint}: all {len(sd)} tensors loaded")
    return 0
