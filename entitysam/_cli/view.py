"""``entitysam view``: look at the entities of a segmentation in a browser (served or written)."""

from __future__ import annotations

import argparse
import sys

from entitysam._cli.options import port

help = "look at the entities of an `entitysam segment` output in a browser (local, offline)"
description = (
    "Show OUT (an `entitysam segment` output folder) in a browser: the frames with every "
    "entity's mask drawn in its overlay colour, a frame scrubber, play/pause and arrow keys, "
    "and the entity list (score, mean eIoU, first/last frame, area over time; click one to "
    "isolate it). Without --write, serves it on http://127.0.0.1:PORT (printed; opens "
    "nothing; Ctrl-C stops it). With --write DIR, writes a self-contained static viewer to "
    "DIR (open DIR/index.html, also from file://). Frames come from --frames (the segmented "
    "video or frame folder), else from OUT/overlay.mp4 (colours burned in)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUT", help="entitysam segment output folder (rle.json or pred.json)")
    p.add_argument("--write", metavar="DIR",
                   help="write a static viewer to DIR (must not exist or be empty) instead of serving")
    p.add_argument("--port", type=port,
                   help="port on 127.0.0.1 to serve on (default 0: a free one; the URL is printed)")
    p.add_argument("--frames", metavar="SRC",
                   help="the segmented video file or frame folder (default: OUT/overlay.mp4)")
    p.add_argument("--labels", metavar="CLS_OUT",
                   help="an `entitysam classify` output (or its labels.json): show the labels")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from entitysam.errors import EntitySAMError
    from entitysam.viewer import serve_viewer, write_viewer

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    if args.write is not None:
        if args.port is not None:
            raise EntitySAMError("--port applies only when serving, not with --write")
        dest = write_viewer(args.output, args.write, frames=args.frames, labels=args.labels,
                            progress=progress)
        print(f"wrote {dest / 'index.html'}")
        return 0

    def ready(url: str) -> None:
        print(f"serving {args.output} at {url}  (Ctrl-C to stop)", flush=True)

    try:
        serve_viewer(args.output, port=args.port or 0, frames=args.frames, labels=args.labels,
                     progress=progress, ready=ready)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
