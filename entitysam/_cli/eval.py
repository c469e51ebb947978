"""``entitysam eval``: the paper's metrics, numerically identical to the official scripts."""

from __future__ import annotations

import argparse
import json
import sys

from entitysam._cli.options import positive_int

help = "evaluate predictions: VEQ + STQ^EN (entity), VPQ + STQ, VSPW mIoU/mVC, YouTube-VIS/OVIS AP"

description = """\
Evaluate a prediction folder against a benchmark's ground truth.

  --task entity    VEQ, VEQ^SQ, VEQ^RQ (x100) per window k in {0,5,15,25,35} and their mean,
                   and STQ^EN (STQ, AQ, IoU in [0,1]); numerically identical to the official
                   EntitySAM scripts eval_veq.py / eval_stq_vspw_clsag.py.
                   --pred <ckpt>/inference  --gt VIPSeg_720P/panomasksRGB
                   --gt-json VIPSeg_720P/panoptic_gt_VIPSeg_val.json
  --task panoptic  VIPSeg VPQ all/things/stuff (x100) and class-aware STQ (same layout).
  --task semantic  VSPW mIoU, mVC8, mVC16: --pred PRED_DIR --gt VSPW_ROOT.
  --task instance  YouTube-VIS / OVIS AP, AP50, AP75, AR1, AR10: --pred results.json
                   --gt-json instances.json [--benchmark ytvis2019|ytvis2021|ovis].
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--task", choices=("entity", "panoptic", "semantic", "instance"),
                        default="entity", help="metric family (default: entity)")
    parser.add_argument("--pred", required=True, metavar="PATH",
                        help="prediction folder (pred.json + pan_pred/), VSPW prediction folder, "
                             "or YouTube-VIS results JSON")
    parser.add_argument("--gt", metavar="PATH",
                        help="GT PNG folder (VIPSeg panomasksRGB) or VSPW root")
    parser.add_argument("--gt-json", metavar="PATH",
                        help="GT JSON (VIPSeg panoptic_gt_VIPSeg_val.json or YouTube-VIS instances)")
    parser.add_argument("--json", metavar="OUT.json", help="write the full report as JSON")
    parser.add_argument("--workers", type=positive_int, default=1, metavar="N",
                        help="processes over videos (default 1; results do not depend on it)")
    parser.add_argument("--missing", choices=("error", "skip", "empty"), default="error",
                        help="a GT video absent from pred.json: error (default); skip = leave it "
                             "out (the official VEQ behaviour; also left out of STQ); empty = "
                             "count it as a prediction with no segment")
    parser.add_argument("--fixed", action="store_true",
                        help="correct the official STQ quirks: no first-GT-segment-as-crowd, and "
                             "the void column is not averaged into the IoU term (default: official "
                             "numbers)")
    parser.add_argument("--benchmark", choices=("ytvis2019", "ytvis2021", "ovis"), default="ytvis2019",
                        help="instance task: which API conventions (ovis adds occlusion splits)")
    parser.add_argument("--split", default="val", help="semantic task: VSPW list file <split>.txt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _need(args: argparse.Namespace, *names: str) -> None:
    from entitysam.errors import EntitySAMError

    for name in names:
        if getattr(args, name.replace("-", "_")) is None:
            raise EntitySAMError(f"--task {args.task} needs --{name}")


def run(args: argparse.Namespace) -> int:
    from entitysam.evaluation import report as tables

    progress = not args.no_progress
    if args.task == "entity":
        from entitysam.evaluation.entity import evaluate_entity

        _need(args, "gt", "gt-json")
        result = evaluate_entity(args.pred, args.gt, args.gt_json, missing=args.missing,
                                 fixed=args.fixed, workers=args.workers, progress=progress)
        text = tables.entity_table(result)
    elif args.task == "panoptic":
        from entitysam.evaluation.vpq import evaluate_panoptic

        _need(args, "gt", "gt-json")
        result = evaluate_panoptic(args.pred, args.gt, args.gt_json, missing=args.missing,
                                   fixed=args.fixed, workers=args.workers, progress=progress)
        text = tables.panoptic_table(result)
    elif args.task == "semantic":
        from entitysam.evaluation.vspw import evaluate_semantic

        _need(args, "gt")
        result = evaluate_semantic(args.pred, args.gt, split=args.split, missing=args.missing,
                                   workers=args.workers, progress=progress)
        text = tables.semantic_table(result)
    else:
        from entitysam.evaluation.ytvis import evaluate_instance

        _need(args, "gt-json")
        result = evaluate_instance(args.pred, args.gt_json, benchmark=args.benchmark)
        text = tables.instance_table(result)

    print(text)
    _print_warnings(result.get("warnings", []))
    if args.json:
        from entitysam.io.atomic import atomic_file

        with atomic_file(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    return 0


def _print_warnings(warnings: list[str], shown: int = 5) -> None:
    for w in warnings[:shown]:
        print(f"warning: {w}", file=sys.stderr)
    if len(warnings) > shown:
        print(f"warning: ... and {len(warnings) - shown} more (all listed in the --json report)",
              file=sys.stderr)
