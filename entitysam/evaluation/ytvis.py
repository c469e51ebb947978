"""YouTube-VIS 2019/2021 and OVIS: AP / AR with video-level mask IoU (spec evaluation.md §10.3).

A reimplementation of the YouTube-VIS API's ``YTVOSeval`` (youtubevos/cocoapi,
``ytvoseval.py``): COCO's greedy matching, 101-point interpolated precision and summary, on
tracks instead of images. Masks are RLE (pycocotools); IoU over a whole video.

OVIS (``benchmark="ovis"``) follows the OVIS API, ``OVISeval`` in qjy981010/cocoapi
``PythonAPI/pycocotools/oviseval.py``; the spec (§10.3) was unsure of these details and the
API wins where they differ:

- per-frame ``occlusion`` entries are the labels of the distributed annotation files, mapped
  to scores as ``OVISeval.__init__`` (``occann2score``): ``no_occlusion`` 0,
  ``slight_occlusion`` 0.25, ``severe_occlusion`` 0.75; ``null`` entries (frames without
  the object) are skipped. Our extension: a number in [0, 1] is taken as the score itself.
  Any other entry, a missing ``occlusion`` list or one without any non-null entry is a
  one-line error (the API fails with KeyError / ZeroDivisionError there);
- a track's occlusion score is the mean of the top ceil(n/2) of its n frame scores
  (``OVISeval._prepare``);
- occlusion ranges (``Params.occRng`` / ``occRngLbl``): all [0, 1], light [0, 0.25],
  medium [0.25, 0.5], heavy [0.5, 1], both bounds inclusive (``evaluateVid``: a score
  exactly 0.25 or 0.5 is in two ranges); reported as ``AP_slight`` / ``AP_moderate`` /
  ``AP_heavy`` and ``AR_slight`` / ``AR_moderate`` / ``AR_heavy`` (``summarize``: area all,
  maxDets 100, stats 6-8 and 15-17);
- the API evaluates every (area range, occlusion range) pair: AP, AP50, AP75, APs/m/l and
  the ARs use occlusion range "all", the occlusion APs/ARs use area range "all";
- a GT track outside the range is *ignored* (not removed), exactly like a GT outside an area
  range: a prediction matched to it is ignored, and matching falls back to it only when no
  regular GT qualifies; unmatched predictions are ignored by area range only, never by
  occlusion (predictions carry no occlusion), so they are false positives in every
  occlusion range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from entitysam.errors import EntitySAMError
from entitysam.io.jsonfile import load_json

IOU_THRS = np.linspace(0.5, 0.95, 10)
REC_THRS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)
# YouTube-VIS ranges (larger than COCO's 32² / 96²), inclusive bounds as in the API.
AREA_RANGES = {"all": (0, 1e5**2), "small": (0, 128**2), "medium": (128**2, 256**2),
               "large": (256**2, 1e5**2)}
# OVIS API (oviseval.py): label -> score (OVISeval.occann2score) and the occlusion ranges
# (Params.occRng; the API's labels light / medium / heavy are our slight / moderate / heavy).
OCCLUSION_LABELS = {"no_occlusion": 0.0, "slight_occlusion": 0.25, "severe_occlusion": 0.75}
OCCLUSION_ALL = (0.0, 1.0)
OCCLUSION_RANGES = {"slight": (0.0, 0.25), "moderate": (0.25, 0.5), "heavy": (0.5, 1.0)}


@dataclass
class Track:
    """One GT or predicted track of one video."""

    id: int  # 1-based (0 means "unmatched" in the matching arrays, as in the API)
    video_id: int
    category_id: int
    segmentations: list  # per frame: compressed RLE dict or None
    avg_area: float
    score: float = 0.0
    iscrowd: int = 0
    occlusion: float | None = None


def _to_rle(seg, height: int, width: int):
    """Polygons / uncompressed RLE -> compressed RLE (YTVOS.annToRLE); None stays None."""
    from pycocotools import mask as mask_utils

    if not seg:
        return None
    if isinstance(seg, list):  # polygons
        return mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    if isinstance(seg.get("counts"), list):  # uncompressed RLE
        return mask_utils.frPyObjects(seg, height, width)
    return seg


def _avg_area(areas: list) -> float:
    """Mean of the non-empty per-frame areas (``if a``: None and 0 are skipped), 0 if none."""
    present = [a for a in areas if a]
    return float(np.mean(present)) if present else 0.0


def _frame_occlusion(value, where: str) -> float | None:
    """One per-frame ``occlusion`` entry -> score: an OVIS label, a number in [0, 1], or None."""
    if value is None:
        return None
    if isinstance(value, str):
        if value in OCCLUSION_LABELS:
            return OCCLUSION_LABELS[value]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if 0.0 <= value <= 1.0:  # NaN fails this too
            return float(value)
    labels = ", ".join(repr(k) for k in OCCLUSION_LABELS)
    raise EntitySAMError(f"{where} has an invalid occlusion entry {value!r}; expected one of "
                         f"{labels}, null, or a number in [0, 1]")


def _occlusion_score(values, where: str) -> float:
    """Mean of the top ceil(n/2) of a track's n non-null frame scores (OVISeval._prepare)."""
    if not isinstance(values, list):
        raise EntitySAMError(f"{where}: 'occlusion' must be a list with one entry per frame, "
                             f"got {type(values).__name__}")
    scores = sorted(s for t, v in enumerate(values)
                    if (s := _frame_occlusion(v, f"{where} frame {t}")) is not None)
    if not scores:
        raise EntitySAMError(f"{where} has no occlusion label in any frame (empty or all "
                             f"null); the OVIS API needs at least one to grade the track")
    top = scores[len(scores) // 2:]  # the ceil(n/2) largest
    return sum(top) / len(top)


def load_ground_truth(path: str | os.PathLike, occlusion: bool = False):
    """Read a YouTube-VIS / OVIS instances JSON.

    Returns:
        (video ids sorted, category ids sorted, list of GT tracks, video id -> (H, W)).
    """
    from pycocotools import mask as mask_utils

    data = load_json(path, "GT JSON")
    try:
        sizes = {int(v["id"]): (int(v["height"]), int(v["width"])) for v in data["videos"]}
        cat_ids = sorted(int(c["id"]) for c in data["categories"])
        tracks = []
        for i, ann in enumerate(data["annotations"]):
            h, w = sizes[int(ann["video_id"])]
            segs = [_to_rle(s, h, w) for s in ann["segmentations"]]
            areas = ann.get("areas") or [float(mask_utils.area(s)) if s else None for s in segs]
            occ = None
            if occlusion:
                if "occlusion" not in ann:
                    raise EntitySAMError(
                        f"--benchmark ovis needs per-frame 'occlusion' scores in every GT "
                        f"annotation of {path} (annotation {ann.get('id', i + 1)} has none)")
                occ = _occlusion_score(
                    ann["occlusion"], f"GT JSON {path}: annotation {ann.get('id', i + 1)}")
            tracks.append(Track(int(ann.get("id", i + 1)), int(ann["video_id"]),
                                int(ann["category_id"]), segs, _avg_area(areas),
                                iscrowd=int(ann.get("iscrowd", 0) or 0), occlusion=occ))
    except (KeyError, TypeError, ValueError) as exc:
        raise EntitySAMError(
            f"malformed GT JSON {path}: expected the YouTube-VIS layout (problem at {exc})"
        ) from None
    return sorted(sizes), cat_ids, tracks, sizes


def load_results(path: str | os.PathLike, sizes: dict[int, tuple[int, int]]) -> list[Track]:
    """Read a results JSON: [{"video_id", "category_id", "score", "segmentations"}, ...]."""
    from pycocotools import mask as mask_utils

    data = load_json(path, "results JSON")
    if not isinstance(data, list):
        raise EntitySAMError(f"malformed results JSON {path}: expected a list of tracks")
    tracks = []
    for i, r in enumerate(data):
        try:
            vid = int(r["video_id"])
            if vid not in sizes:  # the API asserts results belong to the GT videos
                raise EntitySAMError(f"results JSON {path}: video_id {vid} is not in the GT JSON")
            h, w = sizes[vid]
            segs = [_to_rle(s, h, w) for s in r["segmentations"]]
            areas = [float(mask_utils.area(s)) if s else None for s in segs]
            tracks.append(Track(i + 1, vid, int(r["category_id"]), segs, _avg_area(areas),
                                score=float(r["score"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise EntitySAMError(
                f"malformed track {i} in results JSON {path} (problem at {exc})") from None
    return tracks


def video_iou(d: list, g: list) -> float:
    """Σ_t |d_t ∩ g_t| / Σ_t |d_t ∪ g_t| over the frames (zip); 0 when the union is 0."""
    from pycocotools import mask as mask_utils

    inter = union = 0.0
    for ds, gs in zip(d, g):
        if ds and gs:
            inter += mask_utils.area(mask_utils.merge([ds, gs], True))
            union += mask_utils.area(mask_utils.merge([ds, gs], False))
        elif gs:
            union += mask_utils.area(gs)
        elif ds:
            union += mask_utils.area(ds)
    return inter / union if union > 0 else 0.0


def _sorted_dets(dts: list[Track]) -> list[Track]:
    order = np.argsort([-d.score for d in dts], kind="mergesort")  # stable, as the API
    return [dts[i] for i in order]


def _inside(value: float, rng: tuple[float, float]) -> bool:
    return rng[0] <= value <= rng[1]  # both bounds inclusive, as the APIs


def evaluate_video(gts, dts, ious, area_rng, max_det, occ_rng=None):
    """COCO ``evaluateImg`` for one (video, category, range): greedy matching at every threshold.

    Args:
        gts, dts: the tracks (dts sorted by score and cut to MAX_DETS[-1], matching ``ious``).
        ious: (D, G) video IoUs.
        area_rng: inclusive (lo, hi) range of the average area: GT outside it is ignored, and
            so are unmatched predictions outside it.
        occ_rng: OVIS only, inclusive range of the GT occlusion score: GT outside it is
            ignored; predictions are never ignored by it (OVISeval.evaluateVid).
    Returns:
        None if there is neither GT nor prediction, else the matching arrays.
    """
    if not gts and not dts:
        return None
    gt_ignore = [int(bool(g.iscrowd) or not _inside(g.avg_area, area_rng)
                     or (occ_rng is not None and not _inside(g.occlusion, occ_rng)))
                 for g in gts]
    gtind = np.argsort(gt_ignore, kind="mergesort")
    gts = [gts[i] for i in gtind]
    gt_ig = np.array([gt_ignore[i] for i in gtind])
    dts = dts[:max_det]
    ious = ious[:len(dts)][:, gtind] if len(ious) else ious
    T, G, D = len(IOU_THRS), len(gts), len(dts)
    gtm, dtm, dt_ig = np.zeros((T, G)), np.zeros((T, D)), np.zeros((T, D))
    crowd = [g.iscrowd for g in gts]
    if len(ious):
        for t, thr in enumerate(IOU_THRS):
            for di, d in enumerate(dts):
                best, m = min(thr, 1 - 1e-10), -1
                for gi, g in enumerate(gts):
                    if gtm[t, gi] > 0 and not crowd[gi]:
                        continue
                    # regular GT already matched and only ignored GT left: stop
                    if m > -1 and gt_ig[m] == 0 and gt_ig[gi] == 1:
                        break
                    if ious[di, gi] < best:
                        continue
                    best, m = ious[di, gi], gi
                if m == -1:
                    continue
                dt_ig[t, di] = gt_ig[m]
                dtm[t, di] = gts[m].id
                gtm[t, m] = d.id
    out = np.array([not _inside(d.avg_area, area_rng) for d in dts]).reshape(1, D)
    dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(out, T, 0)))
    return {"dtMatches": dtm, "dtScores": [d.score for d in dts], "gtIgnore": gt_ig,
            "dtIgnore": dt_ig}


def accumulate(evals: list) -> tuple[np.ndarray, np.ndarray]:
    """COCO ``accumulate`` for one (category, range) over all videos.

    Returns:
        precision (T, R, M) and recall (T, M), -1 where the category has no regular GT.
    """
    T, R, M = len(IOU_THRS), len(REC_THRS), len(MAX_DETS)
    precision, recall = -np.ones((T, R, M)), -np.ones((T, M))
    evals = [e for e in evals if e is not None]
    if not evals:
        return precision, recall
    for m, max_det in enumerate(MAX_DETS):
        scores = np.concatenate([e["dtScores"][:max_det] for e in evals])
        inds = np.argsort(-scores, kind="mergesort")
        dtm = np.concatenate([e["dtMatches"][:, :max_det] for e in evals], axis=1)[:, inds]
        dt_ig = np.concatenate([e["dtIgnore"][:, :max_det] for e in evals], axis=1)[:, inds]
        gt_ig = np.concatenate([e["gtIgnore"] for e in evals])
        npig = np.count_nonzero(gt_ig == 0)
        if npig == 0:
            continue
        tps = np.cumsum(np.logical_and(dtm, np.logical_not(dt_ig)), axis=1).astype(float)
        fps = np.cumsum(np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig)), axis=1).astype(float)
        for t, (tp, fp) in enumerate(zip(tps, fps)):
            nd = len(tp)
            rc = tp / npig
            pr = (tp / (fp + tp + np.spacing(1))).tolist()
            recall[t, m] = rc[-1] if nd else 0
            for i in range(nd - 1, 0, -1):  # precision envelope, from the right
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            q = np.zeros(R)
            idx = np.searchsorted(rc, REC_THRS, side="left")
            for ri, pi in enumerate(idx):
                if pi >= nd:  # recall point never reached: precision 0 from here on
                    break
                q[ri] = pr[pi]
            precision[t, :, m] = q
    return precision, recall


def _mean_valid(s: np.ndarray) -> float:
    valid = s[s > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def evaluate_instance(
    results_json: str | os.PathLike,
    gt_json: str | os.PathLike,
    *,
    benchmark: str = "ytvis2019",
) -> dict:
    """AP, AP50, AP75, APs/APm/APl, AR1, AR10, AR100 (fractions, -1 = undefined).

    ``benchmark="ovis"`` adds AP_slight / AP_moderate / AP_heavy and AR_slight / AR_moderate /
    AR_heavy (the OVIS API's light / medium / heavy; see the module docstring).
    """
    ovis = benchmark == "ovis"
    vid_ids, cat_ids, gts, sizes = load_ground_truth(gt_json, occlusion=ovis)
    dts = load_results(results_json, sizes)
    # (name, area range, occlusion range): the OVIS API pairs every area range with occlusion
    # "all" and every occlusion range with area "all" (the summaries it reads).
    all_occ = OCCLUSION_ALL if ovis else None
    ranges = [(name, rng, all_occ) for name, rng in AREA_RANGES.items()]
    if ovis:
        ranges += [(name, AREA_RANGES["all"], rng) for name, rng in OCCLUSION_RANGES.items()]
    by_key_gt: dict[tuple[int, int], list[Track]] = {}
    by_key_dt: dict[tuple[int, int], list[Track]] = {}
    for g in gts:
        by_key_gt.setdefault((g.video_id, g.category_id), []).append(g)
    for d in dts:
        by_key_dt.setdefault((d.video_id, d.category_id), []).append(d)

    precision = -np.ones((len(IOU_THRS), len(REC_THRS), len(cat_ids), len(ranges), len(MAX_DETS)))
    recall = -np.ones((len(IOU_THRS), len(cat_ids), len(ranges), len(MAX_DETS)))
    for k, cat in enumerate(cat_ids):
        per_video = []
        for vid in vid_ids:
            g = by_key_gt.get((vid, cat), [])
            d = _sorted_dets(by_key_dt.get((vid, cat), []))[: MAX_DETS[-1]]
            ious = np.array([[video_iou(x.segmentations, y.segmentations) for y in g] for x in d])
            per_video.append((g, d, ious if (g and d) else np.zeros(0)))
        for a, (_, area_rng, occ_rng) in enumerate(ranges):
            evals = [evaluate_video(g, d, ious, area_rng, MAX_DETS[-1], occ_rng)
                     for g, d, ious in per_video]
            precision[:, :, k, a, :], recall[:, k, a, :] = accumulate(evals)

    names = [r[0] for r in ranges]

    def ap(area="all", thr=None):
        s = precision[:, :, :, names.index(area), MAX_DETS.index(100)]
        return _mean_valid(s if thr is None else s[thr])

    def ar(max_det, area="all"):
        return _mean_valid(recall[:, :, names.index(area), MAX_DETS.index(max_det)])

    report = {"task": "instance", "benchmark": benchmark,
              "AP": ap(), "AP50": ap(thr=0), "AP75": ap(thr=5),
              "APs": ap("small"), "APm": ap("medium"), "APl": ap("large"),
              "AR1": ar(1), "AR10": ar(10), "AR100": ar(100),
              "ARs": ar(100, "small"), "ARm": ar(100, "medium"), "ARl": ar(100, "large")}
    if ovis:
        report.update({f"AP_{name}": ap(name) for name in OCCLUSION_RANGES})
        report.update({f"AR_{name}": ar(100, name) for name in OCCLUSION_RANGES})
    return report
