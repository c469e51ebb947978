"""Fast modes (issue 15 §3): speed-up on ViT-S shapes and quality cost on held-out synthetic videos.

    python benchmarks/fast_modes.py --checkpoint benchmarks/results/learnability/tiny_stage2.pth \\
        --json benchmarks/results/fast_modes.json                      # both parts (~10 min ViT-S + ~5 min tiny)
    python benchmarks/fast_modes.py --quick --speed-model tiny --checkpoint CKPT --json /tmp/fm.json \
        --modes "max-memories 2,prune 0.2 (M=2"                                                  # smoke

Quality: the learnability benchmark's held-out synthetic videos (same generator and seed, VIPSeg
layout) are segmented by the tiny model with ``--checkpoint`` in every mode (official merge) and
scored with ``entitysam eval --task entity`` (VEQ, VEQ^SQ, VEQ^RQ, STQ^EN) and the recall of
entities that first appear after frame 0; with slot pruning the share of slot-positions
actually computed is recorded too.

Speed: one steady-state position of ``--speed-model`` (default ViT-S, random weights, fp32, the
default fast path) reading random memories, each mode in its own subprocess, in one run: the
official setting (7 memories, every slot, 1024 input) first and again last; ``frame`` (Hiera +
DINOv2, once per video frame) and ``position`` wall seconds; the speed-up of a mode is
official / mode over frame + position (the per-frame cost at 7 memories). Slot pruning is timed
at fixed active-slot counts; its speed-up on a video depends on how many slots it prunes there
(the quality part reports that share for the synthetic videos).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learnability import _segment_all, late_entity_recall  # noqa: E402 - the learnability benchmark's own steps

QUALITY_MODES = {  # name -> FastModes dict (tiny: 256 input, 12 slots, 7 memories)
    "official": {},
    "max-memories 4": {"max_memories": 4},
    "max-memories 2": {"max_memories": 2},
    "max-memories 1": {"max_memories": 1},
    "prune 0.1 (M=5, R=10)": {"prune": {"below": 0.1, "patience": 5, "revisit": 10}},
    "prune 0.2 (M=5, R=10)": {"prune": {"below": 0.2, "patience": 5, "revisit": 10}},
    "prune 0.2 (M=2, R=5)": {"prune": {"below": 0.2, "patience": 2, "revisit": 5}},
    "input 3/4": {"input_size": "3/4"},
    "input 1/2": {"input_size": "1/2"},
}
SPEED_MODES = {  # name -> (memories, active slots as a share of Q or None, input size as a share of S)
    "official": (7, None, None),
    "max-memories 4": (4, None, None),
    "max-memories 2": (2, None, None),
    "max-memories 1": (1, None, None),
    "prune: 1/2 of the slots active": (7, 0.5, None),
    "prune: 1/5 of the slots active": (7, 0.2, None),
    "input 3/4": (7, None, 0.75),
    "input 1/2": (7, None, 0.5),
}


def _input_size(share, full: int) -> int:
    """A share ("3/4" or 0.75) of the model's input side, rounded down to a multiple of 32."""
    return max(64, int(full * Fraction(str(share))) // 32 * 32)


def _wanted(args, name: str) -> bool:
    """The official setting always; the others as ``--modes`` (prefixes) selects them."""
    if name == "official" or not args.modes:
        return True
    return any(name.startswith(m.strip()) for m in args.modes.split(",") if m.strip())


# ------------------------------------------------------------------------- speed (subprocess)
def speed_worker(model: str, memories: int, active: float | None, size_share: float | None, threads: int | None) -> dict:
    import resource

    import torch

    if threads:
        torch.set_num_threads(threads)
    from entitysam.configs import resolve_config
    from entitysam.modeling import build_entitysam
    from entitysam.modeling.entitysam import Memory

    base = resolve_config(model)
    size = base.image_size if size_share is None else _input_size(size_share, base.image_size)
    torch.manual_seed(0)
    net = build_entitysam(model, image_size=size)
    cfg = net.cfg
    S, Q, g = cfg.image_size, cfg.num_slots, cfg.grid_size
    gen = torch.Generator().manual_seed(1)
    slots = None
    if active is not None:
        k = max(1, round(active * Q))
        slots = torch.randperm(Q, generator=gen)[:k].sort().values
    with torch.inference_mode():
        net.encode_frame(torch.randn(1, 3, S, S, generator=gen))  # first-call set-up not timed
        t0 = time.perf_counter()
        feats = net.encode_frame(torch.randn(1, 3, S, S, generator=gen))
        t1 = time.perf_counter()
        mems = [(k, Memory(torch.randn(Q, cfg.mem_dim, g, g, generator=gen), torch.randn(1, cfg.mem_dim, g, g, generator=gen)))
                for k in range(1, memories + 1)]
        points = torch.rand(Q, 2, generator=gen) * S
        t2 = time.perf_counter()
        net.step(feats, mems, points, slots=slots)
        t3 = time.perf_counter()
    return {"input_size": S, "memories": memories, "active_slots": Q if slots is None else int(slots.numel()),
            "slots": Q, "frame_s": t1 - t0, "position_s": t3 - t2, "threads": torch.get_num_threads(),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_speed(args) -> dict:
    order = [m for m in SPEED_MODES if _wanted(args, m)] + ["official"]  # official again last: load drift shows
    runs: dict[str, list[dict]] = {}
    for name in order:
        mem, active, share = SPEED_MODES[name]
        cmd = [sys.executable, __file__, "--speed-worker", json.dumps([args.speed_model, mem, active, share, args.threads])]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"speed worker {name} failed:\n{proc.stderr}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        runs.setdefault(name, []).append(row)
        print(f"speed {name:32s} frame {row['frame_s']:7.2f} s  position {row['position_s']:7.2f} s  "
              f"(S={row['input_size']}, memories {row['memories']}, slots {row['active_slots']}/{row['slots']})",
              file=sys.stderr)
    off = runs["official"]
    off_frame = sum(r["frame_s"] for r in off) / len(off)
    off_pos = sum(r["position_s"] for r in off) / len(off)
    table = {}
    for name, rows in runs.items():
        r = rows[0] if name != "official" else {**rows[0], "frame_s": off_frame, "position_s": off_pos}
        table[name] = {**r, "per_frame_s": r["frame_s"] + r["position_s"],
                       "speedup": (off_frame + off_pos) / (r["frame_s"] + r["position_s"]),
                       "position_speedup": off_pos / r["position_s"]}
    return {"model": args.speed_model, "official_runs": off, "modes": table,
            "official_drift": off[-1]["position_s"] / off[0]["position_s"]}


# ----------------------------------------------------------------------------- quality
def run_quality(args, work: Path) -> dict:
    from entitysam.configs import resolve_config
    from entitysam.evaluation import evaluate_entity
    from entitysam.synthetic.videos import write_synthetic_videos

    n_vid = 2 if args.quick else args.val_videos
    n_frames = 8 if args.quick else args.val_frames
    val = write_synthetic_videos(work / "val", num_videos=n_vid, num_frames=n_frames, size=(144, 256),
                                 seed=2000 + args.seed, things=(2, 4))
    full = resolve_config("tiny").image_size
    table = {}
    for name, modes in QUALITY_MODES.items():
        if not _wanted(args, name):
            continue
        modes = dict(modes)
        if "input_size" in modes:
            modes["input_size"] = _input_size(modes["input_size"], full)
        pred = work / f"pred_{len(table)}"
        speed = _segment_all(Path(args.checkpoint), val, pred, fast_modes=modes or None)
        rep = evaluate_entity(pred, val / "panomasksRGB", val / "panoptic_gt_synthetic.json")
        table[name] = {"fast_modes": modes, "VEQ": rep["veq"]["VEQ"], "VEQ_SQ": rep["veq"]["VEQ_SQ"],
                       "VEQ_RQ": rep["veq"]["VEQ_RQ"], "STQ_EN": rep["stq"]["STQ"],
                       "late_entities": late_entity_recall(val, pred), **speed}
        t = table[name]
        print(f"quality {name:26s} VEQ {t['VEQ']:5.1f}  RQ {t['VEQ_RQ']:5.1f}  STQ^EN {t['STQ_EN']:.3f}  "
              f"{t['seconds_per_frame']:.3f} s/frame" + (f"  computed {t['computed_slot_share']:.2f}"
                                                          if "computed_slot_share" in t else ""), file=sys.stderr)
    import hashlib

    sha = hashlib.sha256(Path(args.checkpoint).read_bytes()).hexdigest()
    return {"checkpoint": args.checkpoint, "checkpoint_sha256": sha, "val_videos": n_vid, "val_frames": n_frames, "seed": args.seed,
            "modes": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="tiny checkpoint for the quality part (e.g. the learnability one)")
    ap.add_argument("--speed-model", default="vit-s")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0, help="held-out videos: generator seed 2000 + seed (learnability's)")
    ap.add_argument("--val-videos", type=int, default=8)
    ap.add_argument("--val-frames", type=int, default=24)
    ap.add_argument("--parts", default="speed,quality")
    ap.add_argument("--quick", action="store_true", help="2 held-out videos of 8 frames (smoke run)")
    ap.add_argument("--modes", help="comma-separated name prefixes of the modes to run, e.g. 'max-memories 2,prune' "
                                    "(default: all; the official setting always runs)")
    ap.add_argument("--json", default="benchmarks/results/fast_modes.json")
    ap.add_argument("--speed-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.speed_worker:
        print(json.dumps(speed_worker(*json.loads(args.speed_worker))))
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if "quality" in parts and not args.checkpoint:
        sys.exit("error: the quality part needs --checkpoint (a trained tiny checkpoint)")
    import torch

    result = {"what": "fast modes (issue 15 §3): speed on the speed model's shapes, quality on held-out "
                      "synthetic videos with a trained tiny checkpoint",
              "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "torch": torch.__version__, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "conditions": {"omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "nice": os.nice(0)}}
    if "speed" in parts:
        result["speed"] = run_speed(args)
    if "quality" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            result["quality"] = run_quality(args, Path(tmp))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
