"""Peak RSS and s/frame of `entitysam segment` vs video length (flat memory, flat cost per frame).

    python benchmarks/segment_memory.py                       # tiny model, 300 and 3000 frames
    python benchmarks/segment_memory.py --frames 100 1000 --size 240x320 --formats panoptic,overlay,rle
    python benchmarks/segment_memory.py --checkpoint benchmarks/results/learnability/tiny_stage2.pth \
        --formats panoptic,overlay,rle,ytvis,davis --modes offline online \
        --json benchmarks/results/segment_length.json

Generates synthetic videos (moving shapes on a gradient, H.264 via PyAV) in a temporary
folder, runs ``entitysam segment --model tiny`` on each in a fresh subprocess (so the peak
RSS of one run does not leak into the next) and reads the run's own ``summary.json``
(peak RSS from ``getrusage``, wall and CPU seconds per frame, spill bytes, entities).

Order per mode: shortest, ..., longest, then the shortest again; the shortest video's
reference s/frame is the mean of its two runs, so that a change of the machine's load during
the long run does not pass for a cost that grows with the length (the load average around
each run is recorded too). Checks, per mode: peak RSS(longest) <= 1.1 x peak RSS(shortest),
s/frame(longest) <= 1.2 x s/frame(shortest) in CPU time and in wall time, and (with
``--require-entities``) at least one entity kept in every run so that the writers work.
Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def moving_discs(n: int, h: int, w: int):
    """n RGB uint8 frames, one at a time: three moving discs over a gradient (deterministic)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full_like(xx, 80)], -1)
    for i in range(n):
        img = base.astype(np.uint8).copy()
        for k, col in enumerate([(255, 40, 40), (40, 255, 40), (40, 40, 255)]):
            cy = h / 2 + h / 3 * np.sin(0.05 * i + 2 * k)
            cx = w / 2 + w / 3 * np.cos(0.03 * i + k)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < (min(h, w) / 6) ** 2] = col
        yield img


def make_video(path: Path, n: int, h: int, w: int, fps: int = 25) -> Path:
    """An H.264 file of :func:`moving_discs`."""
    import av

    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for img in moving_discs(n, h, w):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def run_segment(video: Path, out: Path, formats: str, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "entitysam.cli", "segment", str(video), "-o", str(out),
           "--model", "tiny", "--device", "cpu", "--formats", formats, "--no-progress", *extra]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"segment failed ({proc.returncode}):\n{proc.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    frames = summary["frames"]
    cpu = summary.get("cpu_seconds")
    row = {"frames": frames, "entities": summary["entities"],
           "peak_rss_mib": summary["peak_rss_mib"], "s_per_frame": summary["seconds_per_frame"],
           "cpu_s_per_frame": None if cpu is None else cpu / max(frames, 1),
           "spill_mib": summary["spill_bytes"] / 2**20, "wall_s": time.perf_counter() - t0,
           "loadavg_1min_before_after": [load_before, os.getloadavg()[0]],
           "summary_line": proc.stdout.strip()}
    shutil.rmtree(out, ignore_errors=True)  # the next run's disk and page cache start clean
    return row


def check_mode(rows: list[dict], require_entities: bool) -> dict:
    """Ratios and checks of one mode's rows (shortest first, longest, shortest again last)."""
    short = [r for r in rows if r["frames"] == rows[0]["frames"]]
    long = max(rows, key=lambda r: r["frames"])
    ref = {k: sum(r[k] for r in short) / len(short) for k in ("s_per_frame", "cpu_s_per_frame")
           if all(r[k] is not None for r in short)}
    out = {"rss_ratio": long["peak_rss_mib"] / rows[0]["peak_rss_mib"],
           "wall_ratio": long["s_per_frame"] / ref["s_per_frame"],
           "cpu_ratio": long["cpu_s_per_frame"] / ref["cpu_s_per_frame"] if "cpu_s_per_frame" in ref else None,
           "min_entities": min(r["entities"] for r in rows)}
    out["ok_rss"] = out["rss_ratio"] <= 1.1
    out["ok_time"] = out["wall_ratio"] <= 1.2 and (out["cpu_ratio"] is None or out["cpu_ratio"] <= 1.2)
    out["ok_entities"] = out["min_entities"] > 0 or not require_entities
    out["ok"] = out["ok_rss"] and out["ok_time"] and out["ok_entities"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--size", default="240x320", help="HxW of the synthetic videos")
    ap.add_argument("--formats", default="panoptic,overlay")
    ap.add_argument("--modes", nargs="+", choices=["offline", "online"], default=["offline"])
    ap.add_argument("--online", action="store_true", help="same as --modes online")
    ap.add_argument("--checkpoint", help="weights for the tiny model (e.g. the learnability checkpoint, "
                    "so that entities are kept and the writers work)")
    ap.add_argument("--overlap-threshold", type=float, default=0.7,
                    help="lower it (e.g. 0.1) so that random tiny weights still produce entities")
    ap.add_argument("--require-entities", action="store_true", help="fail when a run keeps no entity")
    ap.add_argument("--tmp", help="folder for videos, outputs and spill (default: system temp)")
    ap.add_argument("--json", default="benchmarks/results/segment_memory.json")
    args = ap.parse_args()
    modes = ["online"] if args.online else args.modes
    h, w = (int(v) for v in args.size.lower().split("x"))
    frames = sorted(set(args.frames))
    base = ["--overlap-threshold", str(args.overlap_threshold)]
    if args.checkpoint:
        base += ["--checkpoint", str(Path(args.checkpoint).resolve())]
    result = {"size_hw": [h, w], "formats": args.formats, "checkpoint": args.checkpoint,
              "overlap_threshold": args.overlap_threshold, "cpu_count": os.cpu_count(),
              "conditions": {"omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "nice": os.nice(0)}, "modes": {}}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        videos = {n: make_video(Path(tmp) / f"synthetic_{n}.mp4", n, h, w) for n in frames}
        for mode in modes:
            extra = base + (["--online"] if mode == "online" else [])
            rows = []
            for k, n in enumerate(frames + [frames[0]]):
                row = {"requested_frames": n, **run_segment(videos[n], Path(tmp) / f"out_{mode}_{k}", args.formats, extra)}
                rows.append(row)
                print(f"{mode:7s} {n:6d} frames: peak RSS {row['peak_rss_mib']:7.1f} MiB, "
                      f"{row['s_per_frame']:.4f} s/frame wall, {row['cpu_s_per_frame'] or float('nan'):.4f} CPU, "
                      f"spill {row['spill_mib']:.0f} MiB, {row['entities']} entities, "
                      f"load {row['loadavg_1min_before_after'][0]:.1f}->{row['loadavg_1min_before_after'][1]:.1f}",
                      flush=True)
            checks = check_mode(rows, args.require_entities)
            result["modes"][mode] = {"rows": rows, **checks}
            write_json(args.json, result)  # after each mode: a cut run keeps what it measured
            print(f"{mode}: RSS ratio {checks['rss_ratio']:.3f} (<= 1.1), s/frame ratio wall "
                  f"{checks['wall_ratio']:.3f} CPU {checks['cpu_ratio'] or float('nan'):.3f} (<= 1.2), "
                  f"min entities {checks['min_entities']}: {'OK' if checks['ok'] else 'FAIL'}", flush=True)
    write_json(args.json, result)
    return 0 if result["ok"] else 1


def write_json(path: str, result: dict) -> None:
    result["ok"] = all(m["ok"] for m in result["modes"].values())
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
