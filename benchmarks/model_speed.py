"""Per-position inference time of an EntitySAM config (random weights), streaming predictor.

    python benchmarks/model_speed.py --model tiny --frames 20 --repeats 3
    python benchmarks/model_speed.py --model vit-s --frames 2 --repeats 1   # minutes on CPU

Prints one row per position (the first frame is 1 + warm-up positions) and writes JSON.
Positions 0..3 see 0..3 memories, position 4 four, from position 7 on the full 7 memories,
so the per-frame cost grows over the first frames and is flat afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", default="benchmarks/results/model_speed.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from entitysam.inference.predictor import EntitySAMPredictor
    from entitysam.modeling import build_entitysam

    torch.manual_seed(0)
    model = build_entitysam(args.model, device=args.device)
    S = model.cfg.image_size
    frames = [torch.randn(3, S, S, generator=torch.Generator().manual_seed(i)) for i in range(args.frames)]
    runs = []
    for _ in range(args.repeats):
        predictor = EntitySAMPredictor(model, precision=args.precision)
        times, t0 = [], time.perf_counter()
        for f in frames:
            for _out in predictor.iter_step(f):
                t1 = time.perf_counter()
                times.append(t1 - t0)
                t0 = t1
        runs.append(times)
    per_pos = [statistics.median(r[i] for r in runs) for i in range(len(runs[0]))]
    steady = per_pos[7:] or per_pos[-1:]
    result = {
        "model": args.model,
        "precision": args.precision,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "seconds_per_position_median": per_pos,
        "first_frame_seconds": sum(per_pos[:4]),
        "steady_state_seconds_per_frame": statistics.median(steady),
    }
    print(f"{'position':>8s} {'seconds':>10s}")
    for i, t in enumerate(per_pos):
        print(f"{i:8d} {t:10.3f}")
    print(f"first frame (4 positions): {result['first_frame_seconds']:.3f} s; "
          f"steady state: {result['steady_state_seconds_per_frame']:.3f} s/frame")
    import os

    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
