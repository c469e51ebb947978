"""Peak RSS and s/frame of `entitysam segment` vs video length (flat-memory check).

    python benchmarks/segment_memory.py                       # tiny model, 300 and 3000 frames
    python benchmarks/segment_memory.py --frames 100 1000 --size 240x320 --formats panoptic,overlay,rle

Generates synthetic videos (moving shapes on a gradient, H.264 via PyAV) in a temporary
folder, runs ``entitysam segment --model tiny`` on each in a fresh subprocess (so the peak
RSS of one run does not leak into the next) and reads the run's own ``summary.json``
(peak RSS from ``getrusage``, seconds per frame, spill bytes). Prints a table, writes JSON,
and checks peak RSS(longest) <= 1.1 x peak RSS(shortest) (exit code 1 when it fails).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_video(path: Path, n: int, h: int, w: int, fps: int = 25) -> Path:
    """n frames of three moving discs over a gradient (deterministic)."""
    import av

    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full_like(xx, 80)], -1)
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = base.astype(np.uint8).copy()
            for k, col in enumerate([(255, 40, 40), (40, 255, 40), (40, 40, 255)]):
                cy = h / 2 + h / 3 * np.sin(0.05 * i + 2 * k)
                cx = w / 2 + w / 3 * np.cos(0.03 * i + k)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 < (min(h, w) / 6) ** 2] = col
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def run_segment(video: Path, out: Path, formats: str, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "entitysam.cli", "segment", str(video), "-o", str(out),
           "--model", "tiny", "--device", "cpu", "--formats", formats, "--no-progress", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"segment failed ({proc.returncode}):\n{proc.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    return {"frames": summary["frames"], "entities": summary["entities"],
            "peak_rss_mib": summary["peak_rss_mib"], "s_per_frame": summary["seconds_per_frame"],
            "spill_mib": summary["spill_bytes"] / 2**20, "wall_s": time.perf_counter() - t0,
            "summary_line": proc.stdout.strip()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--size", default="240x320", help="HxW of the synthetic videos")
    ap.add_argument("--formats", default="panoptic,overlay")
    ap.add_argument("--online", action="store_true")
    ap.add_argument("--overlap-threshold", type=float, default=0.7,
                    help="lower it (e.g. 0.1) so that random tiny weights still produce entities")
    ap.add_argument("--tmp", help="folder for videos, outputs and spill (default: system temp)")
    ap.add_argument("--json", default="benchmarks/results/segment_memory.json")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    extra = ["--overlap-threshold", str(args.overlap_threshold)] + (["--online"] if args.online else [])
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n in args.frames:
            video = make_video(Path(tmp) / f"synthetic_{n}.mp4", n, h, w)
            row = {"requested_frames": n, **run_segment(video, Path(tmp) / f"out_{n}", args.formats, extra)}
            rows.append(row)
            print(f"{n:6d} frames: peak RSS {row['peak_rss_mib']:7.1f} MiB, {row['s_per_frame']:.4f} s/frame, "
                  f"spill {row['spill_mib']:.0f} MiB, {row['entities']} entities", flush=True)
    ratio = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    ok = ratio <= 1.1
    print(f"\n{'frames':>8} {'peak RSS MiB':>13} {'s/frame':>9} {'spill MiB':>10}")
    for r in rows:
        print(f"{r['frames']:>8} {r['peak_rss_mib']:>13.1f} {r['s_per_frame']:>9.4f} {r['spill_mib']:>10.0f}")
    print(f"peak RSS({rows[-1]['frames']}) / peak RSS({rows[0]['frames']}) = {ratio:.3f} "
          f"({'OK' if ok else 'FAIL'}: must be <= 1.1)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size_hw": [h, w], "formats": args.formats, "online": args.online,
                               "overlap_threshold": args.overlap_threshold,
                               "rows": rows, "rss_ratio": ratio, "ok": ok}, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
