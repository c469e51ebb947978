"""Argument types that check an option's meaningful range while the command line is parsed.

Every numeric option of every command uses one of these, so that a mistake such as
``--overlap-threshold 5`` is one ``error:`` line (exit 2) before any model is built.
"""

from __future__ import annotations

import argparse
import math
import re


def _number(text: str, kind: type):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _ranged(kind: type, ok, requirement: str, doc: str):
    """An argparse type: ``kind`` parsed from the text, then ``ok(value)`` or the requirement."""

    def parse(text: str):
        value = _number(text, kind)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    parse.__doc__ = doc
    return parse


fraction = _ranged(float, lambda v: 0.0 <= v <= 1.0, "between 0 and 1", "A threshold or probability in [0, 1].")
positive_int = _ranged(int, lambda v: v >= 1, "an integer >= 1", "A count >= 1.")
nonnegative_int = _ranged(int, lambda v: v >= 0, "an integer >= 0", "A count or index >= 0.")
port = _ranged(int, lambda v: 0 <= v <= 65535, "a port number 0..65535",
               "A TCP port: 0 (let the system pick a free one) .. 65535.")
positive_float = _ranged(float, lambda v: v > 0, "a number > 0", "A duration, rate or size > 0.")
nonnegative_float = _ranged(float, lambda v: v >= 0, "a number >= 0", "A margin or weight >= 0.")


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (whether it exists is checked later)."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto, cpu, cuda or cuda:N")
    return text


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes are one ``error:`` line and exit code 2, like the
    errors raised by the commands themselves (``--help`` still prints the full usage)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Research options of the model (issue 16), each off by default (official behaviour). A
    model trained with some of them must be segmented with the same ones."""
    g = p.add_argument_group("model options (research ablations; defaults are the official model)")
    g.add_argument("--entity-logits-from", choices=["prompt", "decoder"], default=None,
                   help="entity score: 'prompt' (official: offset_cls over the prompt generator's attention) or "
                        "'decoder' (cls_prediction_head on the decoder's IoU-query output, sees the slot's tokens)")
    g.add_argument("--no-memory", action="store_true",
                   help="no memory: every frame decoded alone (point sampler every frame, no memory attention); "
                        "slots are tracked by query identity only")
    g.add_argument("--decoder-depth", type=positive_int, default=None,
                   help="EntityDecoder layers (default: the model's, 4 vit-s / 8 vit-l / 2 tiny; changes the state dict)")
    g.add_argument("--shared-queries", action="store_true",
                   help="one query per slot for mask and IoU (official: separate mask and IoU queries)")
    g.add_argument("--no-semantic", action="store_true",
                   help="no semantic branch: DINOv2 not run, its half of the fused features is zeros")


def model_overrides(args: argparse.Namespace) -> dict:
    """The config overrides the model options of ``args`` ask for (empty: the official model)."""
    out: dict = {}
    if getattr(args, "entity_logits_from", None) is not None:
        out["entity_logits_from"] = args.entity_logits_from
    if getattr(args, "no_memory", False):
        out["memory"] = False
    if getattr(args, "decoder_depth", None) is not None:
        out["decoder_depth"] = args.decoder_depth
    if getattr(args, "shared_queries", False):
        out["shared_queries"] = True
    if getattr(args, "no_semantic", False):
        out["semantic"] = False
    return out


def add_fast_mode_options(p: argparse.ArgumentParser) -> None:
    """Fast modes (issue 15): explicit quality-for-speed trades, off by default (README 'Fast modes')."""
    g = p.add_argument_group("fast modes (trade quality for speed; defaults are the official model, "
                             "README 'Fast modes' has the measured costs)")
    g.add_argument("--max-memories", type=positive_int, metavar="N",
                   help="memory attention reads the N most recent memories only (1..7; official: 7)")
    g.add_argument("--prune-slots", type=fraction, metavar="EIOU",
                   help="stop computing a slot whose eIoU stayed below EIOU for --prune-patience frames "
                        "(its memory frozen, its history kept); every --prune-revisit frames all slots run "
                        "and pruned ones at or above EIOU come back")
    g.add_argument("--prune-patience", type=positive_int, metavar="M",
                   help="consecutive frames below --prune-slots before a slot is pruned (default: 5)")
    g.add_argument("--prune-revisit", type=positive_int, metavar="R",
                   help="every R-th frame computes every slot (default: 10)")
    g.add_argument("--input-size", type=positive_int, metavar="S",
                   help="model input side, a multiple of 32 (official: 1024; e.g. 512 is ~4x fewer tokens)")


def fast_modes(args: argparse.Namespace) -> dict:
    """The fast modes of ``args`` as :class:`~entitysam.inference.fast_modes.FastModes` dict
    (empty: the official model)."""
    out: dict = {}
    if getattr(args, "max_memories", None) is not None:
        out["max_memories"] = args.max_memories
    patience, revisit = getattr(args, "prune_patience", None), getattr(args, "prune_revisit", None)
    if getattr(args, "prune_slots", None) is not None:
        out["prune"] = {"below": args.prune_slots, "patience": 5 if patience is None else patience,
                        "revisit": 10 if revisit is None else revisit}
    elif patience is not None or revisit is not None:
        from entitysam.errors import EntitySAMError

        raise EntitySAMError(f"{'--prune-patience' if patience is not None else '--prune-revisit'} needs --prune-slots")
    if getattr(args, "input_size", None) is not None:
        out["input_size"] = args.input_size
    return out
