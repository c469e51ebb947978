"""--task instance --benchmark ovis: occlusion labels and splits as the OVIS API.

The rules (qjy981010/cocoapi, PythonAPI/pycocotools/oviseval.py):
- labels -> scores: no_occlusion 0, slight_occlusion 0.25, severe_occlusion 0.75; null
  entries (frames without the object) are skipped (OVISeval.__init__ / _prepare);
- a track's score = mean of the top ceil(n/2) of its n scores (_prepare);
- ranges light [0, .25], medium [.25, .5], heavy [.5, 1], bounds inclusive (Params.occRng,
  evaluateVid), reported here as AP_slight / AP_moderate / AP_heavy;
- GT outside the range is ignored (not removed); unmatched predictions are never ignored by
  occlusion (evaluateVid), so they are false positives in every range.
Expected values below are worked out by hand from these rules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from eval_testkit import run_cli
from entitysam.evaluation.ytvis import evaluate_instance

H = W = 20
NO, SLIGHT, SEVERE = "no_occlusion", "slight_occlusion", "severe_occlusion"


def rle(mask: np.ndarray | None):
    if mask is None:
        return None
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": r["size"], "counts": r["counts"].decode()}


def box(y: int, x: int, h: int = 5, w: int = 5) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y:y + h, x:x + w] = True
    return m


def write_ovis(tmp_path, gt_tracks, results, frames=2):
    """An OVIS-layout instances JSON, as distributed: per-frame occlusion *labels* (null where
    the object is absent), bboxes, areas, file_names. gt_tracks: (masks per frame, labels);
    results: (score, masks per frame). One video, one category."""
    anns = []
    for i, (masks, labels) in enumerate(gt_tracks):
        bbs = []
        for m in masks:
            if m is None:
                bbs.append(None)
            else:
                ys, xs = np.nonzero(m)
                bbs.append([int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)])
        anns.append({"id": i + 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                     "length": 1, "height": H, "width": W,
                     "segmentations": [rle(m) for m in masks],
                     "areas": [int(m.sum()) if m is not None else None for m in masks],
                     "bboxes": bbs, "occlusion": labels})
    gt = {"info": {"description": "OVIS"}, "licenses": [],
          "videos": [{"id": 1, "width": W, "height": H, "length": frames,
                      "file_names": [f"v1/img_{t:07d}.jpg" for t in range(frames)]}],
          "categories": [{"id": 1, "name": "Person", "supercategory": "object"}],
          "annotations": anns}
    res = [{"video_id": 1, "category_id": 1, "score": s, "segmentations": [rle(m) for m in masks]}
           for s, masks in results]
    (tmp_path / "ovis_gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    return str(tmp_path / "res.json"), str(tmp_path / "ovis_gt.json")


def test_ovis_labels_accepted_by_cli(tmp_path, capsys):
    """The distributed format (string labels, null on absent frames) through the CLI: a
    slight track ([no, no] -> 0) and a heavy one, absent from frame 0 ([null, severe] ->
    0.75), both predicted exactly -> AP_slight = AP_heavy = 1, no moderate GT -> -1."""
    a, b = box(0, 0), box(10, 10)
    gt = [([a, a], [NO, NO]), ([None, b], [None, SEVERE])]
    res, gt_path = write_ovis(tmp_path, gt, [(0.9, [a, a]), (0.8, [None, b])])
    out = tmp_path / "report.json"
    code, text, err = run_cli(["eval", "--task", "instance", "--benchmark", "ovis", "--pred", res,
                               "--gt-json", gt_path, "--json", str(out), "--no-progress"], capsys)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["benchmark"] == "ovis"
    assert report["AP_slight"] == pytest.approx(1.0, abs=1e-12)
    assert report["AP_heavy"] == pytest.approx(1.0, abs=1e-12)
    assert report["AP_moderate"] == -1 and report["AR_moderate"] == -1
    assert report["AR_slight"] == 1.0 and report["AR_heavy"] == 1.0
    assert report["AP"] == pytest.approx(1.0, abs=1e-12)
    for key in ("AP_slight", "AP_moderate", "AP_heavy", "AR_heavy"):
        assert key in text


# (labels per frame, ranges the track falls in). Each GT track is predicted exactly, so a
# range containing it has AP 1 and a range not containing it has no regular GT (-1).
LEVELS = [
    ([NO, NO], {"slight"}),                          # 0
    ([NO, SEVERE], {"heavy"}),                       # top 1 of 2 -> 0.75 (mean 0.375: moderate)
    ([NO, SLIGHT, SEVERE], {"moderate", "heavy"}),   # top ceil(3/2) = 2 -> (.25 + .75) / 2 = 0.5
    ([SLIGHT, None, None, NO], {"slight", "moderate"}),  # nulls skipped: top 1 of [0, .25] -> 0.25
    ([SLIGHT, SEVERE, SEVERE, NO], {"heavy"}),       # top 2 of 4 -> 0.75
    ([SLIGHT, SLIGHT, NO, NO, NO], {"slight"}),      # top 3 of 5 -> (0 + .25 + .25) / 3 = 1/6
    ([SLIGHT, SLIGHT, SLIGHT, NO], {"slight", "moderate"}),  # top 2 of 4 -> 0.25
]


@pytest.mark.parametrize("labels,inside", LEVELS)
def test_track_level_from_labels(tmp_path, labels, inside):
    masks = [box(0, 0) if lab is not None else None for lab in labels]
    res, gt = write_ovis(tmp_path, [(masks, labels)], [(0.9, masks)], frames=len(labels))
    report = evaluate_instance(res, gt, benchmark="ovis")
    for name in ("slight", "moderate", "heavy"):
        expected = 1.0 if name in inside else -1
        assert report[f"AP_{name}"] == pytest.approx(expected, abs=1e-12), name
        assert report[f"AR_{name}"] == expected, name
    assert report["AP"] == pytest.approx(1.0, abs=1e-12)  # every score is in "all" [0, 1]


def test_splits_ignore_outside_gt_and_count_every_fp(tmp_path):
    """One video, one category, exact masks (IoU 1 or 0, so every threshold is the same).

    GT: G1 slight ([no, no] -> 0), G2 heavy ([severe, severe] -> .75), G3 heavy
    ([slight, severe] -> top 1 = .75). Predictions by score: P2 = G2 (.95), P3 = a false
    positive on empty ground (.9), P1 = G1 (.85), P4 = G3 (.6).

    AP_slight: regular GT {G1}; P2 and P4 match ignored GT -> ignored; P3 unmatched -> FP
      (no occlusion on predictions). Sequence FP, TP: precision [0, 1/2], recall [0, 1];
      envelope [1/2, 1/2] -> every recall point 1/2 -> 0.5.
      (Removing G2 instead of ignoring it would make P2 an FP: 1/3. Ignoring unmatched P3: 1.)
    AP_heavy: regular GT {G2, G3}; P1 matches G1 (ignored) -> ignored. Sequence TP, FP, TP:
      precision [1, 1/2, 2/3], recall [1/2, 1/2, 1]; envelope [1, 2/3, 2/3];
      recall points 0..0.50 (51) -> 1, 0.51..1 (50) -> 2/3: (51 + 50 * 2/3) / 101 = 253/303.
      (Removing G1 would make P1 an FP: (51 + 50 / 2) / 101 = 76/101.)
    AP_moderate: no GT in [.25, .5] -> -1.
    AP (occlusion "all"): TP, FP, TP, TP: precision [1, 1/2, 2/3, 3/4], recall [1/3, 1/3, 2/3, 1];
      envelope [1, 3/4, 3/4, 3/4]; points 0..0.33 (34) -> 1, 0.34..1 (67) -> 3/4:
      (34 + 67 * 3/4) / 101 = 84.25 / 101.
    """
    g1, g2, g3, fp = box(0, 0), box(0, 10), box(10, 0), box(10, 10)
    gt = [([g1, g1], [NO, NO]), ([g2, g2], [SEVERE, SEVERE]), ([g3, g3], [SLIGHT, SEVERE])]
    res = [(0.95, [g2, g2]), (0.9, [fp, fp]), (0.85, [g1, g1]), (0.6, [g3, g3])]
    report = evaluate_instance(*write_ovis(tmp_path, gt, res), benchmark="ovis")
    assert report["AP_slight"] == pytest.approx(0.5, abs=1e-12)
    assert report["AP_heavy"] == pytest.approx(253 / 303, abs=1e-12)
    assert report["AP_moderate"] == -1
    assert report["AP"] == pytest.approx(84.25 / 101, abs=1e-12)
    assert report["AR_slight"] == 1.0 and report["AR_heavy"] == 1.0 and report["AR100"] == 1.0


def test_numeric_scores_are_taken_as_is(tmp_path):
    """Numbers in [0, 1] are scores directly (our extension, on the API's scale): [0.3, 0.2]
    -> top 1 = 0.3 -> moderate only."""
    m = box(0, 0)
    res, gt = write_ovis(tmp_path, [([m, m], [0.3, 0.2])], [(0.9, [m, m])])
    report = evaluate_instance(res, gt, benchmark="ovis")
    assert report["AP_moderate"] == pytest.approx(1.0, abs=1e-12)
    assert report["AP_slight"] == -1 and report["AP_heavy"] == -1


@pytest.mark.parametrize("labels,needle", [
    ([NO, "partial_occlusion"], "'partial_occlusion'"),
    (["Severe_Occlusion", NO], "'Severe_Occlusion'"),
    ([0.5, 1.5], "1.5"),
    ([True, NO], "True"),
    ([None, None], "no occlusion label in any frame"),
    ("severe_occlusion", "must be a list"),
])
def test_malformed_labels_are_one_line_errors(tmp_path, capsys, labels, needle):
    m = box(0, 0)
    res, gt = write_ovis(tmp_path, [([m, m], labels)], [(0.9, [m, m])])
    code, _, err = run_cli(["eval", "--task", "instance", "--benchmark", "ovis", "--pred", res,
                            "--gt-json", gt, "--no-progress"], capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err and gt in err and "annotation 1" in err
