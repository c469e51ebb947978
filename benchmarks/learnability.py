"""Does the whole pipeline learn? Train the tiny config from scratch on synthetic images, segment
held-out synthetic videos, score them with the project's own metrics (issue: prove learning).

    python benchmarks/learnability.py --out benchmarks/results/learnability   # <= 30 min of training on 2 cores
    python benchmarks/learnability.py --out /tmp/learn --stage1-iters 40 --stage2-iters 10 --quick   # smoke
    python benchmarks/learnability.py --out DIR ... --eval-only   # re-score DIR's checkpoints (e.g. after
                                                                   # an inference change), no training

Steps (everything generated here, deterministic by seed):
  1. training images: synthetic COCO-panoptic set (single images only, as in the paper);
  2. held-out videos: synthetic entity videos in the VIPSeg layout (things enter late, leave,
     get occluded, change scale);
  3. stage 1 (T = 1) then stage 2 (T-frame pseudo-video clips from stage 1), ``--train-all``;
  4. ``entitysam segment`` (the official offline merge) on every held-out video with the
     stage-1 and the stage-2 checkpoints;
  5. ``entitysam eval --task entity`` (VEQ / VEQ^SQ / VEQ^RQ per window, STQ^EN) and the recall
     of entities that first appear after frame 0;
  6. report.json, report.md and veq_per_window.png in --out, plus both checkpoints.

Deviations from the paper's recipe, needed to learn from scratch on a CPU in minutes, are
explicit arguments (recorded in the report): the learning rate (official 5e-5 fine-tunes a
pretrained model), clips per iteration, frames per stage-2 clip, points per mask, entities
per clip.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _train(stage: int, data: Path, out: Path, args, init: Path | None, iters: int, frames: int, lr: float) -> Path:
    from entitysam._cli.train import add_arguments, build_trainer

    p = argparse.ArgumentParser()
    add_arguments(p)
    argv = ["--model", args.model, "--stage", str(stage), "--data", str(data), "-o", str(out), "--train-all",
            "--max-iter", str(iters), "--steps", str(int(iters * 0.8)), "--frames", str(frames),
            "--lr", str(lr), "--clip-grad-norm", str(args.clip_grad_norm), "--num-points", str(args.num_points),
            "--max-num-masks", str(args.max_num_masks), "--clips-per-rank", str(args.clips_per_rank), "--checkpoint-period", str(iters), "--no-amp",
            "--device", "cpu", "--seed", str(args.seed), "--log-period", "10"]
    argv += _option_argv(args)
    if init is not None:
        argv += ["--init", str(init)]
    trainer = build_trainer(p.parse_args(argv), log=lambda s: print(s, file=sys.stderr))
    return trainer.train()


def _option_argv(args) -> list[str]:
    """The research options and training levers (issue 16) of this run as ``entitysam train`` arguments."""
    argv = []
    if args.entity_logits_from is not None:
        argv += ["--entity-logits-from", args.entity_logits_from]
    if args.decoder_depth is not None:
        argv += ["--decoder-depth", str(args.decoder_depth)]
    for flag in ("no_memory", "shared_queries", "no_semantic", "unmatched_iou_zero"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    for name in ("point_loss", "point_match", "lsj_scale"):  # training options (issue 16 levers)
        if getattr(args, name, None):
            argv += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    return argv


def _segment_all(ckpt: Path, val: Path, pred: Path, options: dict | None = None,
                 fast_modes: dict | None = None, model: str = "tiny") -> dict:
    """Segment every held-out video into one prediction folder (pan_pred/ + one pred.json).
    ``fast_modes`` (issue 15): see ``entitysam.segment.build_predictor``; with slot pruning the
    result also has the share of slot-positions computed."""
    from entitysam.segment import build_predictor, segment_video

    predictor = build_predictor(model, checkpoint=ckpt, device="cpu", model_options=options,
                                fast_modes=fast_modes)
    gt = json.loads((val / "panoptic_gt_synthetic.json").read_text())
    annotations, frames, seconds = [], 0, 0.0
    computed = positions = 0
    (pred / "pan_pred").mkdir(parents=True)
    for video in gt["videos"]:
        vid = video["video_id"]
        tmp = pred / f".{vid}"
        s = segment_video(val / "images" / vid, tmp, model=model, predictor=predictor, formats=("panoptic",),
                          progress=False)
        frames += s.frames
        seconds += s.seconds
        if predictor.pruning is not None:  # reset per video: accumulate here
            computed += predictor.pruning.computed
            positions += predictor.pruning.positions * predictor.num_slots
        shutil.move(str(tmp / "pan_pred" / vid), pred / "pan_pred" / vid)
        annotations += json.loads((tmp / "pred.json").read_text())["annotations"]
        shutil.rmtree(tmp)
    (pred / "pred.json").write_text(json.dumps({"annotations": annotations}))
    out = {"frames": frames, "seconds_per_frame": seconds / max(frames, 1)}
    if positions:
        out["computed_slot_share"] = computed / positions
    return out


def late_entity_recall(val: Path, pred: Path) -> dict:
    """Recall of GT entities first visible after frame 0: a tube IoU > 0.5 with some predicted tube."""
    from entitysam.io.ids import rgb2id

    ents = json.loads((val / "entities.json").read_text())
    gt = json.loads((val / "panoptic_gt_synthetic.json").read_text())
    found = total = 0
    for video in gt["videos"]:
        vid = video["video_id"]
        late = {e["id"] for e in ents[vid] if e["first_frame"] > 0}
        if not late:
            continue
        inter: dict[tuple[int, int], int] = {}
        area_g: dict[int, int] = {}
        area_p: dict[int, int] = {}
        for img in video["images"]:
            g = rgb2id(np.array(Image.open(val / "panomasksRGB" / vid / img["file_name"]))).ravel()
            p = rgb2id(np.array(Image.open(pred / "pan_pred" / vid / img["file_name"]))).ravel()
            for k, v in zip(*np.unique(g, return_counts=True)):
                area_g[int(k)] = area_g.get(int(k), 0) + int(v)
            for k, v in zip(*np.unique(p, return_counts=True)):
                area_p[int(k)] = area_p.get(int(k), 0) + int(v)
            pairs, counts = np.unique(g * (1 << 24) + p, return_counts=True)
            for pair, c in zip(pairs.tolist(), counts.tolist()):
                key = (pair >> 24, pair & 0xFFFFFF)
                inter[key] = inter.get(key, 0) + c
        for gid in late:
            total += 1
            best = max((c / (area_g[gid] + area_p[p] - c) for (g, p), c in inter.items() if g == gid and p != 0),
                       default=0.0)
            found += best > 0.5
    return {"late_entities": total, "recalled": found, "recall": found / total if total else None}


def slot_oracle(ckpt: Path, val: Path, options: dict | None = None, model: str = "tiny") -> dict:
    """Mask quality before the merge: for every (GT entity, frame) the best IoU of any slot's
    mask (p >= 0.5) in that frame. Separates "no slot segments it" from "the merge drops it"."""
    from entitysam.inference.merge.steps import probabilities
    from entitysam.io.frames import preprocess
    from entitysam.io.ids import rgb2id
    from entitysam.segment import build_predictor

    predictor = build_predictor(model, checkpoint=ckpt, device="cpu", model_options=options)
    gt = json.loads((val / "panoptic_gt_synthetic.json").read_text())
    best, spread, inside = [], [], []
    for video in gt["videos"]:
        vid = video["video_id"]
        predictor.reset()
        for f, img in enumerate(video["images"]):
            frame = Image.open(val / "images" / vid / f"{img['file_name'].split('.')[0]}.jpg").convert("RGB")
            out = predictor.step(preprocess(frame, predictor.image_size))[-1]
            g = rgb2id(np.array(Image.open(val / "panomasksRGB" / vid / img["file_name"])))
            if f == 0:  # the sampled prompt points: spread over the slots, and on which entity they land
                pts = out.points.float().numpy()  # (Q, 2) read by the prompt encoder as (x, y), input pixels
                spread.append(float(pts.std(0).mean()))
                h, w = g.shape
                ys = np.clip((pts[:, 1] + 0.5) * h / predictor.image_size, 0, h - 1).astype(int)
                xs = np.clip((pts[:, 0] + 0.5) * w / predictor.image_size, 0, w - 1).astype(int)
                inside.append(len(set(g[ys, xs].tolist()) - {0}) / max(len(set(np.unique(g).tolist()) - {0}), 1))
            masks = probabilities(out.lowres_logits[:, 0], g.shape).numpy() >= 0.5  # (Q, H, W)
            for gid in np.unique(g):
                if gid == 0:
                    continue
                gm = g == gid
                inter = (masks & gm).sum((1, 2))
                union = (masks | gm).sum((1, 2))
                best.append(float((inter / np.maximum(union, 1)).max()))
    b = np.array(best)
    return {"mean_best_slot_iou": float(b.mean()), "best_slot_iou_over_0.5": float((b > 0.5).mean()),
            "pairs": int(b.size),
            # frame 0: std of the slots' prompt points (input pixels, mean of x and y), and the share of
            # GT entities that at least one slot's point lands on
            "point_spread_px": float(np.mean(spread)), "entities_prompted": float(np.mean(inside))}


def entity_counts(val: Path, pred: Path) -> dict:
    """Mean number of entities per video: predicted (segments kept by the merge) vs ground truth."""
    def per_video(path: Path) -> list[int]:
        anns = json.loads(path.read_text())["annotations"]
        return [len({s["id"] for f in a["annotations"] for s in f["segments_info"]}) for a in anns]

    p, g = per_video(pred / "pred.json"), per_video(val / "panoptic_gt_synthetic.json")
    return {"predicted": sum(p) / max(len(p), 1), "ground_truth": sum(g) / max(len(g), 1)}


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend (optional extra [plot]), or a clear exit."""
    try:
        import matplotlib
    except ImportError:
        sys.exit("learnability.py draws veq_per_window.png with matplotlib: "
                 "pip install 'entitysam[plot]' (or pip install matplotlib)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot(curves: dict[str, list[tuple[int, float]]], path: Path) -> None:
    """VEQ per window k (the paper's Figure 3): one curve per model, drawn with matplotlib."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for name, pts in curves.items():
        ax.plot([k for k, _ in pts], [v for _, v in pts], marker="o", linewidth=2, label=name)
    ks = [k for k, _ in next(iter(curves.values()))]
    ax.set_xticks(ks, [f"k={k}" for k in ks])
    ax.set_ylim(0, 100)
    ax.set_xlabel("window k = 5 x (frames in the window - 1)")
    ax.set_ylabel("VEQ")
    ax.set_title("VEQ per window k (held-out synthetic videos)")
    ax.grid(True, color="0.9")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-images", type=int, default=400)
    ap.add_argument("--val-videos", type=int, default=8)
    ap.add_argument("--val-frames", type=int, default=24)
    ap.add_argument("--stage1-iters", type=int, default=5000)
    ap.add_argument("--stage2-iters", type=int, default=400, help="0: stage 1 only (a stage-1 report)")
    ap.add_argument("--stage2-frames", type=int, default=4)
    ap.add_argument("--lr1", type=float, default=1e-3)
    ap.add_argument("--lr2", type=float, default=2e-4)
    ap.add_argument("--clip-grad-norm", type=float, default=0.01)
    ap.add_argument("--num-points", type=int, default=1024)
    ap.add_argument("--max-num-masks", type=int, default=12)
    ap.add_argument("--clips-per-rank", type=int, default=2, help="clips per iteration (batch size)")
    ap.add_argument("--eval-only", action="store_true",
                    help="re-evaluate the checkpoints of an earlier run in --out (same arguments) without training")
    ap.add_argument("--quick", action="store_true", help="tiny data sizes for a smoke run")
    ap.add_argument("--other-val-seeds", default="",
                    help="comma-separated generator seeds: the same models also scored on held-out videos of these "
                         "seeds (generator seed 2000 + s; the main set is --seed)")
    ap.add_argument("--unmatched-iou-zero", action="store_true", help="loss option (issue 16), see entitysam train")
    ap.add_argument("--point-loss", type=float, default=0.0, help="loss option (issue 16), see entitysam train")
    ap.add_argument("--point-match", type=float, default=0.0, help="matching option (issue 16), see entitysam train")
    ap.add_argument("--lsj-scale", default=None, metavar="MIN,MAX",
                    help="augmentation option, see entitysam train (official 0.25,4.0)")
    ap.add_argument("--model", default="tiny", choices=["tiny", "tiny-wide"],
                    help="config trained from scratch (tiny-wide: twice the Hiera width, the capacity lever)")
    from entitysam._cli.options import add_model_options

    add_model_options(ap)  # research options (issue 16), recorded in the report's setup
    args = ap.parse_args()
    _pyplot()  # matplotlib present? checked before any training

    import torch

    from entitysam.evaluation import evaluate_entity
    from entitysam.synthetic.videos import write_synthetic_videos
    from entitysam.synthetic.coco import SyntheticConfig, write_synthetic_coco_panoptic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    if not args.eval_only:
        shutil.rmtree(work, ignore_errors=True)
    for name in ("train", "val", "pred_stage1", "pred_stage2"):  # regenerated (deterministic)
        shutil.rmtree(work / name, ignore_errors=True)
    n_img = 16 if args.quick else args.train_images
    n_vid = 2 if args.quick else args.val_videos
    t0 = time.time()
    train = write_synthetic_coco_panoptic(work / "train", SyntheticConfig(
        num_images=n_img, height=256, width=256, stuff_per_image=(1, 3), things_per_image=(2, 4),
        crowd_prob=0.2, void_prob=0.0, seed=1000 + args.seed))
    val = write_synthetic_videos(work / "val", num_videos=n_vid, num_frames=args.val_frames, size=(144, 256),
                                 seed=2000 + args.seed, things=(2, 4))
    timings = {"data_s": time.time() - t0}

    stages = []  # (name, checkpoint): stage 1, then stage 2 unless --stage2-iters 0
    if args.eval_only:  # the checkpoints of an earlier run in --out; training times from its logs
        for name in ("stage1", "stage2")[: 1 if args.stage2_iters == 0 else 2]:
            ck = work / name / "model_final.pth"
            if not ck.is_file():
                sys.exit(f"--eval-only: {ck} not found (run the training first)")
            last = json.loads((ck.parent / "metrics.jsonl").read_text().splitlines()[-1])
            timings[f"{name}_train_s"] = last["time"]
            stages.append((name, ck))
    else:
        t0 = time.time()
        stages.append(("stage1", _train(1, train, work / "stage1", args, None, args.stage1_iters, 1, args.lr1)))
        timings["stage1_train_s"] = time.time() - t0
        if args.stage2_iters > 0:
            t0 = time.time()
            stages.append(("stage2", _train(2, train, work / "stage2", args, stages[0][1], args.stage2_iters,
                                            args.stage2_frames, args.lr2)))
            timings["stage2_train_s"] = time.time() - t0

    from entitysam._cli.options import model_overrides

    options = model_overrides(args)
    other_seeds = [int(x) for x in args.other_val_seeds.split(",") if x.strip()]
    results = {}
    for name, ck in stages:
        pred = work / f"pred_{name}"
        speed = _segment_all(ck, val, pred, options, model=args.model)
        rep = evaluate_entity(pred, val / "panomasksRGB", val / "panoptic_gt_synthetic.json")
        results[name] = {
            "VEQ": rep["veq"]["VEQ"], "VEQ_SQ": rep["veq"]["VEQ_SQ"], "VEQ_RQ": rep["veq"]["VEQ_RQ"],
            "STQ_EN": rep["stq"]["STQ"], "AQ": rep["stq"]["AQ"], "IoU": rep["stq"]["IoU"],
            "veq_per_window": [{"k": w["k"], "VEQ": w["VEQ"]} for w in rep["veq"]["windows"]],
            "late_entities": late_entity_recall(val, pred),
            "entities_per_video": entity_counts(val, pred),
            "slot_oracle": slot_oracle(ck, val, options, model=args.model),
            **speed,
        }
        for vs in other_seeds:  # the same model on held-out videos of other generator seeds
            v = work / f"val_seed{vs}"
            if name == "stage1":  # generated once per run (deterministic)
                shutil.rmtree(v, ignore_errors=True)
                write_synthetic_videos(v, num_videos=n_vid, num_frames=args.val_frames, size=(144, 256),
                                       seed=2000 + vs, things=(2, 4))
            p = work / f"pred_{name}_seed{vs}"
            shutil.rmtree(p, ignore_errors=True)
            _segment_all(ck, v, p, options, model=args.model)
            r = evaluate_entity(p, v / "panomasksRGB", v / "panoptic_gt_synthetic.json")
            results[name].setdefault("other_seeds", {})[str(vs)] = {
                "VEQ": r["veq"]["VEQ"], "VEQ_SQ": r["veq"]["VEQ_SQ"], "VEQ_RQ": r["veq"]["VEQ_RQ"],
                "STQ_EN": r["stq"]["STQ"], "late_entities": late_entity_recall(v, p)}
    for n, ck in stages:  # tiny_stage1.pth, tiny_stage2.pth (tiny_wide_... for --model tiny-wide)
        shutil.copy(ck, out / f"{args.model.replace('-', '_')}_{n}.pth")
    report = {
        "setup": {k: v for k, v in vars(args).items() if k != "out"} | {
            "train_images": n_img, "val_videos": n_vid, "image_size": 256,
            "torch_threads": torch.get_num_threads()},
        "timings_s": timings,
        "results": results,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    _plot({n: [(w["k"], w["VEQ"]) for w in r["veq_per_window"]] for n, r in results.items()},
          out / "veq_per_window.png")
    rows = ["| model | VEQ | VEQ^SQ | VEQ^RQ | STQ^EN | AQ | IoU | late-entity recall | entities/video (pred / GT) | s/frame |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for n, r in results.items():
        le = r["late_entities"]
        rec = "n/a" if le["recall"] is None else f"{le['recall']:.2f} ({le['recalled']}/{le['late_entities']})"
        rows.append(f"| {n} | {r['VEQ']:.1f} | {r['VEQ_SQ']:.1f} | {r['VEQ_RQ']:.1f} | {r['STQ_EN']:.3f} | "
                    f"{r['AQ']:.3f} | {r['IoU']:.3f} | {rec} | {r['entities_per_video']['predicted']:.1f} / "
                    f"{r['entities_per_video']['ground_truth']:.1f} | {r['seconds_per_frame']:.3f} |")
    oracle = ["| model | mean best-slot IoU per (GT entity, frame) | share with a slot IoU > 0.5 | "
              "frame-0 point spread (px of 256) | GT entities under some slot's point |", "|---|---|---|---|---|"]
    for n, r in results.items():
        o = r["slot_oracle"]
        oracle.append(f"| {n} | {o['mean_best_slot_iou']:.3f} | {o['best_slot_iou_over_0.5']:.3f} | "
                      f"{o['point_spread_px']:.1f} | {o['entities_prompted']:.2f} |")
    win = ["| k | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    for i, w in enumerate(results["stage1"]["veq_per_window"]):
        win.append(f"| {w['k']} | " + " | ".join(f"{r['veq_per_window'][i]['VEQ']:.1f}" for r in results.values()) + " |")
    md = [f"# Learnability experiment ({args.model} config, from scratch, CPU)", "",
          "Generated by `benchmarks/learnability.py`; numbers below are measured, not edited.", "",
          *rows, "",
          "Before the merge: how well the best of all slots covers each ground-truth entity in each "
          "frame (no selection, no overlap test):", "", *oracle, "",
          "VEQ per window k (paper's Figure 3):", "", *win, "",
          "![VEQ per window](veq_per_window.png)", "",
          f"Training time: stage 1 {timings['stage1_train_s'] / 60:.1f} min"
          + (f", stage 2 {timings['stage2_train_s'] / 60:.1f} min." if "stage2_train_s" in timings else " (no stage 2)."),
          "", "Setup: " + json.dumps(report["setup"])]
    (out / "report.md").write_text("\n".join(md) + "\n")
    seeds_md = []
    if other_seeds:
        seeds_md = ["Same models on held-out videos of other generator seeds:", "",
                    "| model | val seed | VEQ | VEQ^SQ | VEQ^RQ | STQ^EN | late-entity recall |",
                    "|---|---|---|---|---|---|---|"]
        for n, r in results.items():
            for vs, o in [(str(args.seed), r)] + list(r.get("other_seeds", {}).items()):
                le = o["late_entities"]
                rec = "n/a" if le["recall"] is None else f"{le['recall']:.2f} ({le['recalled']}/{le['late_entities']})"
                seeds_md.append(f"| {n} | {vs} | {o['VEQ']:.1f} | {o['VEQ_SQ']:.1f} | {o['VEQ_RQ']:.1f} | "
                                f"{o['STQ_EN']:.3f} | {rec} |")
        with open(out / "report.md", "a") as f:
            f.write("\n" + "\n".join(seeds_md) + "\n")
    print("\n".join(rows + [""] + seeds_md))


if __name__ == "__main__":
    main()
