"""VSPW video semantic segmentation: mIoU, mVC8, mVC16 (spec evaluation.md §10.2).

Layout: ``VSPW_ROOT/<split>.txt`` (one video name per line) and single-channel masks
``VSPW_ROOT/data/<video>/mask/<frame>.png`` holding raw VSPW values; predictions
``PRED_DIR/<video>/<frame>.png`` holding class indices 0..123, paired by file name.

Label convention (DVIS++'s copy of the VSPW evaluator): raw GT 0 ("others") -> 255, then
v - 1, so the 124 classes become 0..123 and everything >= 124 is ignored. mVC uses the raw
GT values (ignored labels included), as ``VC_perclip.py`` does.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from entitysam.errors import EntitySAMError
from entitysam.evaluation.parallel import map_videos
from entitysam.evaluation.files import read_label_png

N_CLASSES = 124
VC_LENGTHS = (8, 16)


def shift_gt(raw: np.ndarray) -> np.ndarray:
    """Raw VSPW mask values -> class indices 0..123; ignored pixels become >= 124."""
    raw = raw.astype(np.int64)
    return np.where(raw == 0, 255, raw) - 1


@dataclass
class SemanticVideoResult:
    """Per-video accumulators: confusion matrix and the VC value of every window."""

    video: str
    confusion: np.ndarray  # (124, 124) int64, rows GT, cols prediction
    vc: dict[int, list[float]] = field(default_factory=dict)  # n -> per-window VC (NaN kept)


def video_consistency(gt: np.ndarray, pred: np.ndarray, n: int) -> list[float]:
    """VC of every n-frame window of one video (VSPW ``VC_perclip.py``).

    Args:
        gt, pred: (L, H, W) raw GT values / predicted classes in frame order.
    Returns:
        one value per window start 0 .. L - n - 1 (the official loop stops one window short
        of the last possible start L - n; replicated), NaN when no GT pixel is constant.
    """
    L = gt.shape[0]
    if L <= n:
        return []
    # breaks[t] counts, per pixel, value changes up to frame t: a pixel is constant over
    # frames i..i+n-1 iff breaks[i+n-1] == breaks[i]. uint8 keeps 720p videos in memory: the
    # count wraps mod 256, but a difference 0 < d <= n - 1 < 256 never wraps to 0.
    gt_breaks = _change_counts(gt)
    pr_breaks = _change_counts(pred)
    out = []
    for i in range(L - n):
        common_gt = gt_breaks[i + n - 1] == gt_breaks[i]
        common_pred = pr_breaks[i + n - 1] == pr_breaks[i]
        denom = int(common_gt.sum())
        both = int(np.logical_and(common_gt, common_pred).sum())
        out.append(both / denom if denom else math.nan)
    return out


def _change_counts(frames: np.ndarray) -> np.ndarray:
    """(L, H, W) -> (L, H, W) uint8 cumulative count (mod 256) of per-pixel value changes."""
    changes = np.concatenate([np.zeros_like(frames[:1], bool), frames[1:] != frames[:-1]])
    return np.cumsum(changes, axis=0, dtype=np.uint8)


def evaluate_semantic_video(job: tuple[str, list[Path], Path]) -> SemanticVideoResult:
    """Read one video's GT masks and predictions; confusion matrix and VC windows."""
    video, gt_paths, pred_dir = job
    gts, preds = [], []
    confusion = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    for gt_path in gt_paths:
        raw = read_label_png(gt_path, "GT mask")
        pred_path = pred_dir / video / gt_path.name
        pred = read_label_png(pred_path, "prediction frame")
        if pred.shape != raw.shape:
            raise EntitySAMError(
                f"size mismatch: prediction frame {pred_path} is {pred.shape[1]}x{pred.shape[0]}, "
                f"GT {gt_path} is {raw.shape[1]}x{raw.shape[0]}"
            )
        gt = shift_gt(raw)
        valid = gt < N_CLASSES
        p = pred[valid]
        if p.size and (p.min() < 0 or p.max() >= N_CLASSES):
            raise EntitySAMError(
                f"prediction frame {pred_path} holds value {int(p.max())}; predictions must be "
                f"class indices 0..{N_CLASSES - 1}"
            )
        confusion += np.bincount(N_CLASSES * gt[valid] + p, minlength=N_CLASSES**2).reshape(
            N_CLASSES, N_CLASSES)
        gts.append(raw.astype(np.uint16))  # PNG values < 2**16; keeps long videos small
        preds.append(pred.astype(np.uint16))
    result = SemanticVideoResult(video, confusion)
    if gts:
        gt_stack, pred_stack = np.stack(gts), np.stack(preds)
        result.vc = {n: video_consistency(gt_stack, pred_stack, n) for n in VC_LENGTHS}
    return result


def miou(confusion: np.ndarray) -> float | None:
    """Mean IoU over the classes present in the GT (row sum > 0); None if there is none."""
    inter = np.diagonal(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - np.diagonal(confusion)
    present = confusion.sum(1) > 0
    if not present.any():
        return None
    return float(np.mean(inter[present] / union[present]))


def list_videos(root: Path, split: str) -> list[str]:
    path = root / f"{split}.txt"
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise EntitySAMError(f"VSPW video list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EntitySAMError(f"cannot read VSPW video list {path}: {exc}") from None


def evaluate_semantic(
    pred_dir: str | os.PathLike,
    vspw_root: str | os.PathLike,
    *,
    split: str = "val",
    missing: str = "error",
    workers: int = 1,
    progress: bool = False,
) -> dict:
    """mIoU, mVC8, mVC16 (fractions in [0, 1]) of a VSPW prediction folder.

    mVC_n is the mean over all windows of all videos pooled (VC_perclip.py's output,
    window-weighted; NaN windows ignored); None when no video is longer than n frames.
    ``missing``: a video without prediction folder is an error, or left out with "skip".
    """
    if missing == "empty":
        raise EntitySAMError("--missing empty is not defined for --task semantic (use error or skip)")
    root, pred_dir = Path(vspw_root), Path(pred_dir)
    jobs, missing_videos = [], []
    for video in list_videos(root, split):
        mask_dir = root / "data" / video / "mask"
        frames = sorted(mask_dir.glob("*.png"))
        if not frames:
            raise EntitySAMError(f"no GT masks in {mask_dir}")
        if not (pred_dir / video).is_dir():
            missing_videos.append(video)
            if missing == "error":
                raise EntitySAMError(
                    f"prediction video missing: {pred_dir / video} (use --missing skip to leave it out)"
                )
            continue
        jobs.append((video, frames, pred_dir))
    confusion = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    windows: dict[int, list[float]] = {n: [] for n in VC_LENGTHS}
    for result in map_videos(evaluate_semantic_video, jobs, workers, "eval semantic", progress):
        confusion += result.confusion
        for n in VC_LENGTHS:
            windows[n].extend(result.vc.get(n, []))
    report = {"task": "semantic", "mIoU": miou(confusion)}
    for n in VC_LENGTHS:
        valid = [v for v in windows[n] if not math.isnan(v)]
        report[f"mVC{n}"] = sum(valid) / len(valid) if valid else None
    report["vc_windows"] = {str(n): len(windows[n]) for n in VC_LENGTHS}
    report["videos"] = len(jobs)
    report["missing"] = {"mode": missing, "videos": missing_videos}
    return report
