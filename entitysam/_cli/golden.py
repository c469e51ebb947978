"""``entitysam golden check DIR``: compare this implementation with official golden outputs."""

from __future__ import annotations

import argparse
import json
import sys

from entitysam._cli.options import positive_int

help = "check the model against a golden folder of official outputs (e.g. model-vits-v1)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="golden_command", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="run the check and print a JSON report; exit 1 when outside tolerance")
    c.add_argument("folder", help="golden folder with meta.json, golden.npz, weights_checksums.json, frames/")
    c.add_argument("--json", help="also write the report to this file")
    c.add_argument("--threads", type=positive_int, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    from entitysam.golden import check_golden

    report = check_golden(args.folder, progress=lambda s: print(s, file=sys.stderr, flush=True), threads=args.threads)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        from entitysam.io.atomic import atomic_file

        with atomic_file(args.json, "w") as f:
            f.write(text)
    failed = [k for k, v in report.get("fields", {}).items() if not v.get("ok")]
    failed += [f"panoptic:{k}" for k, v in report.get("panoptic", {}).items() if not v.get("ok")]
    if not report.get("weights", {}).get("ok", False):
        failed.insert(0, "weights")
    print(("golden check passed" if report["ok"] else f"golden check FAILED: {', '.join(failed)}"), file=sys.stderr)
    return 0 if report["ok"] else 1
