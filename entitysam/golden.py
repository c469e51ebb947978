"""Golden checks: prove this implementation computes the official model's function.

A golden folder (format ``entitysam-model-golden/1``, e.g. ``model-vits-v1``) holds the
official implementation's outputs under deterministic random weights. Its ``meta.json`` is
authoritative: weight rule, seed prefix, frames, progress order, the positions/slots/pooling
of every field and every tolerance. :func:`check_golden` rebuilds the weights with the rule,
verifies them against ``weights_checksums.json``, loads them through the official-checkpoint
loader, runs the frames and compares every recorded field (and the panoptic id maps).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from entitysam.errors import EntitySAMError

_NAMED_HALF = (
    "pos_embed",
    "pos_embed_window",
    "cls_token",
    "mask_token",
    "no_mem_embed",
    "no_mem_pos_enc",
    "maskmem_tpos_enc",
    "no_obj_embed_spatial",
)


def golden_weight(name: str, shape: tuple[int, ...], seed_prefix: str = "") -> tuple[np.ndarray, str]:
    """Rule ``golden-weights-v1``: the value of one state-dict entry, and the rule branch taken."""
    seed = zlib.crc32((seed_prefix + name).encode("utf-8"))
    x = np.random.Generator(np.random.PCG64(seed)).standard_normal(size=shape)
    last = name.rsplit(".", 1)[-1]
    if name.endswith("positional_encoding_gaussian_matrix"):
        value, branch = x, "gaussian_matrix"
    elif last in _NAMED_HALF:
        value, branch = 0.5 * x, "named_half"
    elif len(shape) == 1 and last in ("weight", "gamma"):
        value, branch = 1 + 0.1 * x, "norm_or_scale"
    elif last == "bias" or last.endswith("_bias"):
        value, branch = 0.02 * x, "bias"
    elif len(shape) >= 2:
        numel = math.prod(shape)
        value, branch = x / math.sqrt(numel / shape[0]), "fan_in"
    else:
        value, branch = 0.02 * x, "else"
    return value.astype(np.float32), branch


def golden_state_dict(model: torch.nn.Module, seed_prefix: str = "") -> dict[str, torch.Tensor]:
    """Rule-generated values for every entry of ``model.state_dict()``."""
    return {
        name: torch.from_numpy(golden_weight(name, tuple(t.shape), seed_prefix)[0])
        for name, t in model.state_dict().items()
    }


def verify_checksums(sd: dict[str, torch.Tensor], checksums: dict) -> list[str]:
    """Names whose SHA-256 (float32 LE bytes) or shape differ from the recorded checksums, plus missing ones."""
    bad = []
    tensors = checksums["tensors"]
    for name, rec in tensors.items():
        t = sd.get(name)
        if t is None or list(t.shape) != list(rec["shape"]):
            bad.append(name)
            continue
        digest = hashlib.sha256(t.numpy().astype("<f4", copy=False).tobytes(order="C")).hexdigest()
        if digest != rec["sha256_f32le"]:
            bad.append(name)
    bad += [n for n in sd if n not in tensors]
    return bad


def pool(x: np.ndarray, k: int, axes: tuple[int, int]) -> np.ndarray:
    """Mean over non-overlapping k x k blocks along two axes, in float64."""
    x = np.asarray(x, dtype=np.float64)
    a, b = axes
    shape = list(x.shape)
    new = shape[:a] + [shape[a] // k, k] + shape[a + 1 : b] + [shape[b] // k, k] + shape[b + 1 :]
    return x.reshape(new).mean(axis=(a + 1, b + 2))


def _lowres_stats(logits: np.ndarray) -> np.ndarray:
    x = logits.reshape(logits.shape[0], -1).astype(np.float64)
    return np.stack([x.mean(1), (x > 0).sum(1), (1.0 / (1.0 + np.exp(-x))).sum(1)], axis=1)


def _compare(name: str, ours: np.ndarray, ref: np.ndarray, tol: dict) -> dict:
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        return {"ok": False, "error": f"shape {list(ours.shape)} vs golden {list(ref.shape)}"}
    diff = np.abs(ours - ref)
    rec: dict = {"max_abs_diff": float(diff.max()) if diff.size else 0.0}
    if "rel_to_max" in tol:
        bound = tol["rel_to_max"] * float(np.abs(ref).max())
        rec.update(tolerance=bound, ok=rec["max_abs_diff"] <= bound)
    elif "min_fraction_within" in tol:
        frac = float((diff <= tol["abs"]).mean())
        rec.update(fraction_within=frac, tolerance=tol["abs"], ok=frac >= tol["min_fraction_within"])
    elif isinstance(tol.get("abs"), list) or isinstance(tol.get("rel"), list):  # per column
        cols, ok = [], True
        for c in range(ref.shape[-1]):
            a = (tol.get("abs") or [None] * ref.shape[-1])[c]
            r = (tol.get("rel") or [None] * ref.shape[-1])[c]
            d = diff[..., c]
            col = {"max_abs_diff": float(d.max())}
            if a is not None:
                col["ok"] = bool(d.max() <= a)
                col["tolerance_abs"] = a
            if r is not None:
                rel = d / np.maximum(np.abs(ref[..., c]), 1e-12)
                col["max_rel_diff"] = float(rel.max())
                col["tolerance_rel"] = r
                col["ok"] = bool(rel.max() <= r) and col.get("ok", True)
            ok &= col.get("ok", True)
            cols.append(col)
        rec.update(columns=cols, ok=ok)
    else:
        rec.update(tolerance=tol["abs"], ok=rec["max_abs_diff"] <= tol["abs"])
    rec["ok"] = bool(rec["ok"])
    return rec


def _tolerance(meta: dict, field: str) -> dict:
    tols = meta["tolerances"]
    if field in tols:
        return tols[field]
    base = field.rsplit("_", 1)[0] + "_p"
    if base in tols:
        return tols[base]
    raise EntitySAMError(f"meta.json has no tolerance for field {field!r}")


def check_golden(
    folder: str | Path,
    progress: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> dict:
    """Run the golden check of ``folder``; returns a JSON-able report with ``report["ok"]``.

    Steps: read ``meta.json`` -> rebuild and verify the golden weights, load them through the
    official checkpoint path -> run the frames, recording every field -> compare the fields
    with the folder's tolerances -> compare the panoptic merges. ``threads`` sets PyTorch's CPU
    threads for the check only (restored afterwards).
    """
    folder = Path(folder)
    say = progress or (lambda s: None)
    meta = _read_meta(folder)
    saved_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        t_start = time.time()
        report: dict = {"folder": str(folder), "model": meta["model"], "fields": {}, "timings_s": {}}
        model, report["weights"] = _golden_model(folder, meta, say)
        if not report["weights"]["ok"]:
            report["ok"] = False
            return report
        ours, positions, size_hw = _run_frames(folder, meta, model, report["timings_s"], say)
        report["timings_s"]["total"] = round(time.time() - t_start, 1)
        golden = np.load(folder / "golden.npz")
        report["fields"] = _compare_fields(meta, golden, ours)
        report["panoptic"] = _check_panoptic(meta, folder, golden, positions, size_hw)
    finally:
        torch.set_num_threads(saved_threads)
    report["ok"] = (
        report["weights"]["ok"]
        and all(f["ok"] for f in report["fields"].values())
        and all(p.get("ok", False) for p in report["panoptic"].values())
    )
    return report


def _read_meta(folder: Path) -> dict:
    """``meta.json`` of a golden folder, checked for a format this module understands."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise EntitySAMError(f"{folder} is not a golden folder (no meta.json)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != "entitysam-model-golden/1":
        raise EntitySAMError(f"{meta_path}: unsupported format {meta.get('format')!r}")
    if meta.get("weights_rule") != "golden-weights-v1":
        raise EntitySAMError(f"{meta_path}: unsupported weight rule {meta.get('weights_rule')!r}")
    compute = meta.get("compute", {})
    if compute.get("dtype", "float32") != "float32" or compute.get("autocast", False):
        raise EntitySAMError(f"{meta_path}: only float32 goldens without autocast are supported")
    warmup = int(meta.get("warmup", 3))
    if meta["progress_order"] != [0] * warmup + list(range(len(meta["frames"]))):
        raise EntitySAMError(f"{meta_path}: progress order {meta['progress_order']} is not {warmup} "
                             f"warm-ups followed by the frames")
    return meta


def _golden_model(folder: Path, meta: dict, say: Callable[[str], None]):
    """The model with the folder's deterministic weights, verified against its checksums and
    loaded through the official checkpoint path. Returns (model, weights report)."""
    from entitysam.checkpoint import load_checkpoint
    from entitysam.modeling import build_entitysam

    model = build_entitysam(meta["model"])
    say(f"generating {meta['weights_rule']} weights")
    sd = golden_state_dict(model, meta.get("seed_prefix", ""))
    checksums = json.loads((folder / "weights_checksums.json").read_text())
    bad = verify_checksums(sd, checksums)
    weights = {"tensors": len(sd), "checksum_mismatches": bad[:20], "ok": not bad}
    if not bad:
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Path(tmp) / "model_golden.pth"
            torch.save({"model": sd}, ckpt)
            del sd
            load_checkpoint(model, ckpt)
    return model, weights


def _run_frames(folder: Path, meta: dict, model, timings: dict, say: Callable[[str], None]):
    """Run the golden frames; return (our value of every recorded field, per-position eIoU
    and real-frame logits for the merge, frame size (H, W))."""
    from entitysam.inference.predictor import EntitySAMPredictor
    from entitysam.io.frames import preprocess

    compute = meta.get("compute", {})
    predictor = EntitySAMPredictor(model, warmup=int(meta.get("warmup", 3)),
                                   fill_hole_area=int(compute.get("fill_hole_area", 8)), keep_debug=True)
    positions = []  # per position: eiou and (for real frames) the low-res logits
    ours: dict[str, np.ndarray] = {}
    size_hw = (0, 0)
    for frame_path in [folder / f for f in meta["frames"]]:
        with Image.open(frame_path) as im:
            size_hw = (im.height, im.width)
            image = preprocess(im, model.cfg.image_size)
        t0 = time.time()
        for out in predictor.iter_step(image):
            timings[f"position_{out.position}"] = round(time.time() - t0, 2)
            say(f"position {out.position} done in {time.time() - t0:.1f} s")
            t0 = time.time()
            ours.update(_position_fields(meta["fields"], model, out))
            positions.append({"eiou": out.eiou.cpu(), "logits": out.lowres_logits.cpu() if not out.is_warmup else None})
    ours["eiou_mean"] = torch.stack([p["eiou"] for p in positions]).mean(0).numpy()
    return ours, positions, size_hw


def _position_fields(fields: dict, model, out) -> dict[str, np.ndarray]:
    """The recorded fields of one position, named as in ``golden.npz``."""
    p = out.position
    logits = out.lowres_logits[:, 0].cpu().numpy()
    sel = fields["lowres_logits_sel"].get("slots", [0, 7, 25, 49])
    ours = {
        f"points_{p}": out.points.cpu().numpy(),
        f"entity_logits_{p}": out.entity_logits.cpu().numpy(),
        f"iou_{p}": out.iou.cpu().numpy(),
        f"eiou_{p}": out.eiou.cpu().numpy(),
        f"lowres_stats_{p}": _lowres_stats(logits),
        f"lowres_logits_sel_{p}": logits[sel].astype(np.float16),
        f"holefill_px_{p}": out.holefill_px.cpu().numpy(),
    }
    dbg = out.debug
    if p in fields.get("dino_tokens_pooled", {}).get("positions", []):
        g = model.cfg.grid_size
        k = fields["dino_tokens_pooled"].get("pool", 4)
        ours["dino_tokens_pooled"] = pool(dbg["feats"].dino[0].reshape(g, g, -1).cpu().numpy(), k, (0, 1))
    if p in fields.get("fused_pooled", {}).get("positions", []):
        k = fields["fused_pooled"].get("pool", 4)
        slot = fields["fused_pooled"].get("slot", 0)
        fused = dbg["fused"]
        ours["fused_pooled"] = pool(fused[min(slot, fused.shape[0] - 1)].cpu().numpy(), k, (1, 2))
    if p in fields.get("pix_feat_pooled", {}).get("positions", []):
        k = fields["pix_feat_pooled"].get("pool", 4)
        ours["pix_feat_pooled"] = pool(dbg["feats"].vision[0].cpu().numpy(), k, (1, 2))
    if p in fields.get("memcond_pooled", {}).get("positions", []):
        f = fields["memcond_pooled"]
        pix = dbg["pix_feat"]
        ours[f"memcond_pooled_{p}"] = np.stack([pool(pix[s].cpu().numpy(), f.get("pool", 4), (1, 2))
                                                for s in f["slots"]])
    return ours


def _compare_fields(meta: dict, golden, ours: dict[str, np.ndarray]) -> dict:
    """Each golden field (except the panoptic maps) against ours, with its tolerance."""
    report = {}
    for name in golden.files:
        if name.startswith("panoptic_ids"):
            continue
        if name not in ours:
            report[name] = {"ok": False, "error": "not produced"}
            continue
        report[name] = _compare(name, ours[name], golden[name], _tolerance(meta, name))
    return report


def _check_panoptic(meta: dict, folder: Path, golden, positions: list[dict], size_hw: tuple[int, int]) -> dict:
    """Compare the video-level panoptic merge with each parameter set of ``meta["panoptic"]``."""
    try:
        from entitysam.inference.merge import merge_video
    except ImportError:
        return {"merge": {"ok": False, "error": "panoptic merger not available"}}
    out = {}
    eiou = torch.stack([p["eiou"] for p in positions])  # (positions, Q)
    frames = [p["logits"] for p in positions if p["logits"] is not None]
    for key, params in meta.get("panoptic", {}).items():
        ids, segments = merge_video(
            eiou, frames, size_hw,
            overlap_threshold=params["overlap_threshold"],
            mask_binary_threshold=params["mask_binary_threshold"],
            object_mask_threshold=params["object_mask_threshold"],
            test_topk_per_image=params.get("test_topk_per_image", 100),
        )
        ref_ids = golden[params["ids"]]
        ref_segs = json.loads((folder / params["segments"]).read_text())["segments"]
        tol = meta["tolerances"].get(params["ids"], {})
        agreement = float((ids == ref_ids).mean())
        ours_pairs = [(s["id"], s["slot"]) for s in segments]
        ref_pairs = [(s["id"], s["slot"]) for s in ref_segs]
        area_ok = True
        area_diffs = []
        if ours_pairs == ref_pairs:
            for s, r in zip(segments, ref_segs):
                for a, b in zip(s["area_per_frame"], r["area_per_frame"]):
                    area_diffs.append(abs(a - b))
                    area_ok &= abs(a - b) <= max(20, 0.005 * b)
        ok = ours_pairs == ref_pairs and area_ok and agreement >= tol.get("min_pixel_agreement", 0.995)
        out[key] = {
            "segments": ours_pairs,
            "golden_segments": ref_pairs,
            "pixel_agreement": agreement,
            "max_area_diff": max(area_diffs) if area_diffs else 0,
            "ok": bool(ok),
        }
    return out
