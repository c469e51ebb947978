"""Command line: ``entitysam <command> ...``. Thin: parses, calls the library, prints.

Each command lives in ``entitysam/_cli/<name>.py`` and exposes ``help``,
``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from entitysam._cli.options import OneLineParser
from entitysam.errors import EntitySAMError

# command name -> module; modules are imported only to build their argument parsers.
COMMANDS = {
    "info": "entitysam._cli.info",
    "golden": "entitysam._cli.golden",
    "segment": "entitysam._cli.segment",
    "eval": "entitysam._cli.eval",
    "train": "entitysam._cli.train",
    "classify": "entitysam._cli.classify",
    "view": "entitysam._cli.view",
    "synthetic": "entitysam._cli.synthetic",
}


def build_parser() -> argparse.ArgumentParser:
    from entitysam import __version__

    parser = OneLineParser(
        prog="entitysam",
        description="Segment and track every entity in a video, no prompts (EntitySAM).",
    )
    parser.add_argument("--version", action="version", version=f"entitysam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:  # a command not built yet in this checkout
            if exc.name == modname:
                continue
            raise
        p = sub.add_parser(name, help=mod.help, description=getattr(mod, "description", mod.help))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or an option mistake (2, one line printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except EntitySAMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
