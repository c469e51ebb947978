"""Per-position inference time and peak memory of an EntitySAM config (random weights).

Compares the default exact fast path with the reference computation (the implementation
before issue 13, ``EntitySAMPredictor(reference=True)``) and optionally the fast path under
``--precision bf16`` in ONE run on the same machine: each path runs in its own subprocess (so
its peak RSS is its own), the paths alternate (A, B, C, C, B, A, ...) over ``--repeats``
rounds, and per-position medians are reported.

    python benchmarks/model_speed.py --model tiny --frames 20 --repeats 3
    python benchmarks/model_speed.py --model vit-s --frames 5 --repeats 1 \\
        --paths reference,fast,bf16 --json benchmarks/results/model_speed_vits_cpu_fast.json
    python benchmarks/model_speed.py --model vit-s --profile --memories 7  # per-part seconds
    python benchmarks/model_speed.py --precision bf16 --deviation tests/data/golden/model-vits-v1

Positions 0..3 are video frame 0 (3 warm-ups) and see 0..3 memories, position 4 four, and
from position 7 on the full 7 memories, so the cost grows over the first frames and is flat
afterwards ("steady state" = median over positions >= 7).

``--profile`` times the parts of one position at ``--memories`` random memories (both paths,
each in its own subprocess): memory attention (its self-attention, cross-attention, FFN),
heads (offset attention, decoder), memory encoder, frame encoders. Parts that run on the fast
path's worker threads are summed over threads ("thread-seconds"); wall seconds are given per
stage.

``--deviation GOLDEN_FOLDER`` runs a golden folder's frames with fp32 and with ``--precision``
and reports how far the second is from the first (eIoU, entity logits, panoptic maps).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

# reference: the computation before issue 13 (fp32); fast: the default exact fast path (fp32);
# bf16: the fast path under ``--precision bf16`` (CPU bf16 autocast, not a parity mode).
PATHS = ("reference", "fast", "bf16")


def _peak_rss_gb() -> float:
    """This process's peak resident set size (VmHWM) in GiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ---------------------------------------------------------------------------------- workers
def worker_positions(args) -> dict:
    """Run the streaming predictor over ``args.frames`` frames with one path; time each position."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from entitysam.inference.predictor import EntitySAMPredictor
    from entitysam.modeling import build_entitysam

    torch.manual_seed(0)
    model = build_entitysam(args.model, device=args.device)
    S = model.cfg.image_size
    frames = [torch.randn(3, S, S, generator=torch.Generator().manual_seed(i)) for i in range(args.frames)]
    precision = "bf16" if args.path == "bf16" else args.precision
    predictor = EntitySAMPredictor(model, precision=precision, reference=args.path == "reference")
    times, rss, t0 = [], [], time.perf_counter()
    for f in frames:
        for _out in predictor.iter_step(f):
            t1 = time.perf_counter()
            times.append(t1 - t0)
            rss.append(_peak_rss_gb())
            t0 = t1
    return {"seconds_per_position": times, "peak_rss_gb_after_position": rss, "peak_rss_gb": _peak_rss_gb(),
            "threads": torch.get_num_threads()}


def worker_profile(args) -> dict:
    """Per-part seconds of one position at ``args.memories`` random memories."""
    import threading
    from collections import defaultdict

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import entitysam.modeling.memory_attention as MA
    from entitysam.modeling import build_entitysam
    from entitysam.modeling.entitysam import Memory
    from entitysam.modeling.prompt_generator import PromptGenerator

    reference = args.path == "reference"
    torch.manual_seed(0)
    model = build_entitysam(args.model, device=args.device)
    cfg = model.cfg
    T: dict[str, float] = defaultdict(float)
    lock = threading.Lock()

    def add(name: str, dt: float) -> None:
        with lock:
            T[name] += dt

    def hook(mod, name: str) -> None:
        key = f"_bench_t0_{name}"
        mod.register_forward_pre_hook(lambda m, a: setattr(m, key + str(threading.get_ident()), time.perf_counter()))
        mod.register_forward_hook(lambda m, a, o: add(name, time.perf_counter() - getattr(m, key + str(threading.get_ident()))))

    def wrap(owner, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        def timed(*a, **k):
            t = time.perf_counter()
            r = fn(*a, **k)
            add(name, time.perf_counter() - t)
            return r

        setattr(owner, attr, timed)

    for layer in model.memory_attention.layers:
        hook(layer.self_attn, "memory_attention.self_attention")
        hook(layer.linear1, "memory_attention.ffn")
        hook(layer.linear2, "memory_attention.ffn")
        if reference:
            hook(layer.cross_attn_image, "memory_attention.cross_attention")
    if not reference:
        wrap(MA, "_cross_attention", "memory_attention.cross_attention")
        wrap(PromptGenerator, "attend_split", "heads.offset_attention")
    else:
        hook(model.offset_attention, "heads.offset_attention")
    hook(model.sam_mask_decoder, "heads.decoder")
    hook(model.memory_encoder, "memory_encoder.sam2_module")
    hook(model.image_encoder, "frame.hiera")
    hook(model.dinov2_feature_extractor, "frame.dinov2")
    S, Q, g = cfg.image_size, cfg.num_slots, cfg.grid_size
    gen = torch.Generator().manual_seed(1)
    wall = {}
    with torch.inference_mode():
        t = time.perf_counter()
        feats = model.encode_frame(torch.randn(1, 3, S, S, generator=gen).to(args.device))
        wall["frame (Hiera + DINOv2, once per video frame)"] = time.perf_counter() - t
        mems = [(k, Memory(features=torch.randn(Q, cfg.mem_dim, g, g, generator=gen).to(args.device),
                           pos_enc=torch.randn(1, cfg.mem_dim, g, g, generator=gen).to(args.device)))
                for k in range(1, args.memories + 1)]
        points = (torch.rand(Q, 2, generator=gen) * S).to(args.device)
        t0 = time.perf_counter()
        pix = model.condition_on_memory(feats, mems, reference=reference)
        t1 = time.perf_counter()
        out = model.forward_heads(pix, feats, points if args.memories else None, reference=reference)
        t2 = time.perf_counter()
        model.encode_memory(feats, out.lowres_logits, reference=reference)
        t3 = time.perf_counter()
    wall.update({"memory_attention": t1 - t0, "heads": t2 - t1, "memory_encoder": t3 - t2, "position": t3 - t0})
    return {"wall_seconds": wall, "part_seconds": dict(T), "peak_rss_gb": _peak_rss_gb(),
            "threads": torch.get_num_threads()}


def precision_deviation(folder: str, precision: str) -> dict:
    """Run a golden folder's frames with fp32 and with ``precision`` (default fast path both)
    and compare: max |diff| of eIoU and entity logits per position, low-res logit sign
    agreement, panoptic pixel agreement (each parameter set of the folder), and each
    precision's panoptic agreement with the folder's golden maps."""
    from pathlib import Path

    import numpy as np
    import torch
    from PIL import Image

    from entitysam.golden import _golden_model, _read_meta
    from entitysam.inference.merge import merge_video
    from entitysam.inference.predictor import EntitySAMPredictor
    from entitysam.io.frames import preprocess

    folder_p = Path(folder)
    meta = _read_meta(folder_p)
    model, weights = _golden_model(folder_p, meta, lambda s: None)
    if not weights["ok"]:
        raise SystemExit("golden weights do not match their checksums")
    golden = np.load(folder_p / "golden.npz")
    images, size_hw = [], (0, 0)
    for f in meta["frames"]:
        with Image.open(folder_p / f) as im:
            size_hw = (im.height, im.width)
            images.append(preprocess(im, model.cfg.image_size))
    runs = {}
    for prec in ("fp32", precision):
        predictor = EntitySAMPredictor(model, warmup=int(meta.get("warmup", 3)), precision=prec,
                                       fill_hole_area=int(meta.get("compute", {}).get("fill_hole_area", 8)))
        outs, times, t0 = [], [], time.perf_counter()
        for image in images:
            for out in predictor.iter_step(image):
                times.append(time.perf_counter() - t0)
                outs.append(out)
                t0 = time.perf_counter()
        runs[prec] = (outs, times)
    a, b = runs["fp32"][0], runs[precision][0]
    per_position = []
    for x, y in zip(a, b):
        per_position.append({
            "position": x.position,
            "eiou_max_abs_diff": (x.eiou - y.eiou.float()).abs().max().item(),
            "entity_logits_max_abs_diff": (x.entity_logits - y.entity_logits.float()).abs().max().item(),
            "iou_max_abs_diff": (x.iou - y.iou.float()).abs().max().item(),
            "lowres_logit_sign_agreement": ((x.lowres_logits > 0) == (y.lowres_logits > 0)).float().mean().item(),
        })
    panoptic = {}
    for key, params in meta.get("panoptic", {}).items():
        maps = {}
        for prec, (outs, _) in runs.items():
            eiou = torch.stack([o.eiou.float() for o in outs])
            frames = [o.lowres_logits.float() for o in outs if not o.is_warmup]
            maps[prec] = merge_video(eiou, frames, size_hw, overlap_threshold=params["overlap_threshold"],
                                     mask_binary_threshold=params["mask_binary_threshold"],
                                     object_mask_threshold=params["object_mask_threshold"],
                                     test_topk_per_image=params.get("test_topk_per_image", 100))
        ref_ids = golden[params["ids"]]
        panoptic[key] = {
            "pixel_agreement_fp32_vs_" + precision: float((maps["fp32"][0] == maps[precision][0]).mean()),
            "segments_fp32": [(s["id"], s["slot"]) for s in maps["fp32"][1]],
            "segments_" + precision: [(s["id"], s["slot"]) for s in maps[precision][1]],
            "pixel_agreement_fp32_vs_golden": float((maps["fp32"][0] == ref_ids).mean()),
            "pixel_agreement_" + precision + "_vs_golden": float((maps[precision][0] == ref_ids).mean()),
        }
    return {
        "folder": folder,
        "precision": precision,
        "threads": torch.get_num_threads(),
        "max_abs_diff_vs_fp32": {
            "eiou": max(p["eiou_max_abs_diff"] for p in per_position),
            "entity_logits": max(p["entity_logits_max_abs_diff"] for p in per_position),
            "iou": max(p["iou_max_abs_diff"] for p in per_position),
        },
        "min_lowres_logit_sign_agreement": min(p["lowres_logit_sign_agreement"] for p in per_position),
        "per_position": per_position,
        "panoptic": panoptic,
        "seconds_per_position": {prec: t for prec, (_, t) in runs.items()},
    }


# ---------------------------------------------------------------------------------- parent
def run_worker(args, path: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--path", path, "--model", args.model,
           "--frames", str(args.frames), "--precision", args.precision, "--device", args.device,
           "--memories", str(args.memories)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.profile:
        cmd.append("--profile")
    load0 = os.getloadavg()
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker for path {path} failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds_total"] = time.perf_counter() - t
    result["loadavg_1min_before_after"] = [load0[0], os.getloadavg()[0]]
    return result


def summarize(args, runs: dict[str, list[dict]]) -> dict:
    out: dict = {}
    for path, rs in runs.items():
        per_pos = [statistics.median(r["seconds_per_position"][i] for r in rs) for i in range(len(rs[0]["seconds_per_position"]))]
        steady = per_pos[7:] or per_pos[-1:]
        out[path] = {
            "seconds_per_position_median": per_pos,
            "first_frame_seconds": sum(per_pos[:4]),
            "steady_state_seconds_per_frame": statistics.median(steady),
            "steady_state_positions": list(range(7, len(per_pos))) or [len(per_pos) - 1],
            "peak_rss_gb": max(r["peak_rss_gb"] for r in rs),
            "runs": rs,
        }
    for slow, quick, key in (("reference", "fast", "speedup"), ("fast", "bf16", "speedup_bf16_vs_fast")):
        if slow in out and quick in out:
            a, b = out[slow], out[quick]
            out[key + "_per_position"] = [x / y for x, y in zip(a["seconds_per_position_median"], b["seconds_per_position_median"])]
            out[key + "_steady_state"] = a["steady_state_seconds_per_frame"] / b["steady_state_seconds_per_frame"]
            out[key + "_first_frame"] = a["first_frame_seconds"] / b["first_frame_seconds"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--paths", default="reference,fast", help="comma-separated: reference, fast, bf16")
    ap.add_argument("--profile", action="store_true", help="per-part seconds of one position instead")
    ap.add_argument("--memories", type=int, default=7, help="--profile: memories read by the position")
    ap.add_argument("--deviation", metavar="GOLDEN_FOLDER",
                    help="instead: compare --precision (e.g. bf16) with fp32 on a golden folder's frames")
    ap.add_argument("--json", default=None, help="output file (default benchmarks/results/model_speed.json)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--path", choices=PATHS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        result = worker_profile(args) if args.profile else worker_positions(args)
        print(json.dumps(result))
        return

    import torch

    if args.deviation:
        if args.threads:
            torch.set_num_threads(args.threads)
        result = precision_deviation(args.deviation, args.precision)
        print(json.dumps({k: result[k] for k in ("max_abs_diff_vs_fp32", "min_lowres_logit_sign_agreement", "panoptic")}, indent=1))
        path = args.json or f"benchmarks/results/model_{args.precision}_deviation.json"
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {path}")
        return
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    runs: dict[str, list[dict]] = {p: [] for p in paths}
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for p in paths:
        if p not in PATHS:
            raise SystemExit(f"unknown path {p!r}; choose from {', '.join(PATHS)}")
    for r in range(args.repeats):
        for path in (paths if r % 2 == 0 else paths[::-1]):
            res = run_worker(args, path)
            runs[path].append(res)
            if args.profile:
                print(f"[{path}] {json.dumps(res['wall_seconds'])}", flush=True)
            else:
                times = " ".join(f"{t:.1f}" for t in res["seconds_per_position"])
                print(f"[{path}] seconds per position: {times}; peak RSS {res['peak_rss_gb']:.2f} GB", flush=True)
    result = {
        "model": args.model,
        "precision": args.precision,
        "device": args.device,
        "threads": args.threads or torch.get_num_threads(),
        "cpu": _cpu_name(),
        "torch": torch.__version__,
        "started": started,
        "repeats": args.repeats,
        "order": "paths alternate per round (A, B, C, C, B, A, ...), each path in its own subprocess",
    }
    if args.profile:
        result["memories"] = args.memories
        for path, rs in runs.items():
            result[path] = {
                "wall_seconds": {k: statistics.median(r["wall_seconds"][k] for r in rs) for k in rs[0]["wall_seconds"]},
                "part_seconds": {k: statistics.median(r["part_seconds"].get(k, 0.0) for r in rs) for k in rs[0]["part_seconds"]},
                "peak_rss_gb": max(r["peak_rss_gb"] for r in rs),
                "runs": rs,
            }
    else:
        result["frames"] = args.frames
        result.update(summarize(args, runs))
        ratios = [k for k in ("speedup", "speedup_bf16_vs_fast") if k + "_per_position" in result]
        print(f"{'position':>8s} " + " ".join(f"{p:>10s}" for p in paths) + "".join(f" {k:>21s}" for k in ratios))
        for i in range(len(result[paths[0]]["seconds_per_position_median"])):
            row = " ".join(f"{result[p]['seconds_per_position_median'][i]:10.2f}" for p in paths)
            sp = "".join(f" {result[k + '_per_position'][i]:20.2f}x" for k in ratios)
            print(f"{i:8d} {row}{sp}")
        for p in paths:
            print(f"{p}: first frame {result[p]['first_frame_seconds']:.1f} s, steady state "
                  f"{result[p]['steady_state_seconds_per_frame']:.1f} s/frame, peak RSS {result[p]['peak_rss_gb']:.2f} GB")
        for k in ratios:
            print(f"{k} at steady state: {result[k + '_steady_state']:.2f}x")
    path = args.json or ("benchmarks/results/model_profile.json" if args.profile else "benchmarks/results/model_speed.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
