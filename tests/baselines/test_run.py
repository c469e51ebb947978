"""Both baselines end to end: every output format, evaluable by ``entitysam eval``.

Random weights make the propagated masks meaningless, so content checks are on frame 0, where
the initial masks are SAM 2's output by construction; later frames are checked for structure.
"""

import json
import warnings

import av
import numpy as np
import pytest
from PIL import Image

from entitysam.baselines import EverythingOptions, run_baseline
from entitysam.evaluation.entity import evaluate_entity
from entitysam.io.ids import id2rgb, rgb2id

ALL_FORMATS = "panoptic,rle,ytvis,davis,overlay"
FAST_AMG = EverythingOptions(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)


def _run(method, source, out, model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return run_baseline(method, source, out, ALL_FORMATS, model=model, progress=False, **kw)


def _check_all_formats(out, video, n_frames, stems):
    """Every writer produced its files for every frame, and they agree with each other."""
    pred = json.loads((out / "pred.json").read_text())["annotations"]
    assert len(pred) == 1 and pred[0]["video_id"] == video
    frames = pred[0]["annotations"]
    assert [f["file_name"].split(".")[0] for f in frames] == stems
    rle = json.loads((out / "rle.json").read_text())
    ytvis = json.loads((out / "ytvis.json").read_text())
    assert rle["num_frames"] == n_frames and all(len(t["segmentations"]) == n_frames for t in ytvis)
    for t, (stem, frame) in enumerate(zip(stems, frames)):
        pan = rgb2id(np.asarray(Image.open(out / "pan_pred" / video / f"{stem}.png").convert("RGB")))
        davis = np.asarray(Image.open(out / "davis" / video / f"{stem}.png"))
        assert np.array_equal(pan > 0, davis > 0)
        areas = {s["id"]: s["area"] for s in frame["segments_info"]}
        assert areas == {int(v): int((pan == v).sum()) for v in np.unique(pan) if v}
        rle_areas = sorted(f["area"] for tr in rle["tracks"] for f in tr["frames"] if f["frame"] == t)
        assert rle_areas == sorted(areas.values())
    with av.open(str(out / "overlay.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == n_frames
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == n_frames
    return frames, summary


def _majority_share(values):
    _, counts = np.unique(values, return_counts=True)
    return counts.max() / counts.sum()


def _gt_frame(root, video, stem):
    return rgb2id(np.asarray(Image.open(root / "panomasksRGB" / video / f"{stem}.png").convert("RGB")))


def test_mask_init_reproduces_given_masks_on_frame_0(sam2_test_model, synthetic_root, tmp_path):
    """Given the ground truth of frame 0 as an id PNG, frame 0 of every output has exactly those
    segments (a one-to-one id mapping with identical pixels and areas)."""
    video = "synth_0003_000"
    stems = [f"{t:08d}" for t in range(3)]
    init = synthetic_root / "panomasksRGB" / video / f"{stems[0]}.png"
    out = tmp_path / "out"
    summary = _run("sam2-mask-init", synthetic_root / "images" / video, out, sam2_test_model, init_masks=init)
    frames, saved = _check_all_formats(out, video, 3, stems)

    gt = _gt_frame(synthetic_root, video, stems[0])
    pan = rgb2id(np.asarray(Image.open(out / "pan_pred" / video / f"{stems[0]}.png").convert("RGB")))
    pairs = {(int(g), int(p)) for g, p in zip(gt.ravel(), pan.ravel())}
    gt_ids = sorted(int(v) for v in np.unique(gt) if v)
    assert len(pairs) == len({g for g, _ in pairs}) == len({p for _, p in pairs}) == len(gt_ids)
    assert all(p != 0 for g, p in pairs if g != 0)
    # per-entity ids and areas in the summary follow the given ids (in increasing id order)
    assert [s["source_id"] for s in summary.segments] == gt_ids
    assert [s["area_per_frame"][0] for s in summary.segments] == [int((gt == g).sum()) for g in gt_ids]
    assert sorted(s["area"] for s in frames[0]["segments_info"]) == sorted(int((gt == g).sum()) for g in gt_ids)
    assert saved["method"] == "sam2-mask-init" and saved["segments"] == summary.segments

    report = evaluate_entity(out, synthetic_root / "panomasksRGB", synthetic_root / "panoptic_gt_synthetic.json")
    assert 0 <= report["veq"]["VEQ"] <= 100 and 0 <= report["stq"]["STQ"] <= 1
    # the command line gives the same numbers
    from entitysam.cli import main

    assert main(["eval", "--task", "entity", "--pred", str(out), "--gt", str(synthetic_root / "panomasksRGB"),
                 "--gt-json", str(synthetic_root / "panoptic_gt_synthetic.json"), "--no-progress",
                 "--json", str(tmp_path / "eval.json")]) == 0
    cli = json.loads((tmp_path / "eval.json").read_text())
    assert (cli["veq"]["VEQ"], cli["stq"]["STQ"]) == (report["veq"]["VEQ"], report["stq"]["STQ"])


def test_exact_first_frame_scores_perfectly(sam2_test_model, tmp_path):
    """A one-frame video initialised with its ground truth scores VEQ 100 (window k=0) and STQ 1
    in entitysam eval; SAM 2's own low-res frame-0 output (exact_init_frame=False) does not."""
    from entitysam.synthetic.videos import write_synthetic_videos

    root = write_synthetic_videos(tmp_path / "one", num_videos=1, num_frames=1, size=(48, 64), seed=1)
    video = "synth_0001_000"
    out = tmp_path / "out"
    _run("sam2-mask-init", root / "images" / video, out, sam2_test_model,
         init_masks=root / "panomasksRGB")  # a folder: <video>/<first frame>.png is found
    report = evaluate_entity(out, root / "panomasksRGB", root / "panoptic_gt_synthetic.json")
    k0 = report["veq"]["windows"][0]  # longer windows do not fit in one frame (they score 0)
    assert (k0["k"], k0["VEQ"], k0["fp"], k0["fn"]) == (0, 100.0, 0, 0) and k0["tp"] > 1
    assert report["stq"]["STQ"] == pytest.approx(1.0)

    # exact_init_frame=False: SAM 2's own frame-0 output, the masks' round trip through the
    # 32 x 32 low-res grid of this 128 px model: the same entities, blurred boundaries
    out_sam = tmp_path / "out_sam"
    _run("sam2-mask-init", root / "images" / video, out_sam, sam2_test_model,
         init_masks=root / "panomasksRGB", exact_init_frame=False)
    gt = _gt_frame(root, video, "00000000")
    pan = rgb2id(np.asarray(Image.open(out_sam / "pan_pred" / video / "00000000.png").convert("RGB")))
    agree = np.mean([_majority_share(pan[gt == g]) for g in np.unique(gt)])
    assert 0.8 < agree < 1.0


def test_everything_on_synthetic_clip(sam2_test_model, synthetic_root, tmp_path):
    video = "synth_0003_000"
    out = tmp_path / "out"
    summary = _run("sam2-everything", synthetic_root / "images" / video, out, sam2_test_model,
                   everything=FAST_AMG)
    frames, saved = _check_all_formats(out, video, 3, [f"{t:08d}" for t in range(3)])
    assert saved["method"] == "sam2-everything" and summary.segments
    # frame 0 is the generator's masks: every track has pixels there unless fully overlapped
    assert sum(s["area_per_frame"][0] for s in summary.segments) == sum(
        s["area"] for s in frames[0]["segments_info"])
    report = evaluate_entity(out, synthetic_root / "panomasksRGB", synthetic_root / "panoptic_gt_synthetic.json")
    assert 0 <= report["veq"]["VEQ"] <= 100


def test_both_methods_on_real_clip(sam2_test_model, media_dir, tmp_path):
    """A few frames of a real 852x486 H.264 clip through both methods."""
    clip = media_dir / "example3_input.mp4"
    stems = [f"{t:08d}" for t in range(2)]
    out_e = tmp_path / "everything"
    _run("sam2-everything", clip, out_e, sam2_test_model, everything=FAST_AMG, max_frames=2)
    _check_all_formats(out_e, "example3_input", 2, stems)

    ids = np.zeros((486, 852), np.int64)
    ids[50:200, 100:400] = 1
    ids[250:480, 300:800] = 2
    ids[0:40, :] = 3
    Image.fromarray(id2rgb(ids)).save(tmp_path / "init.png")
    out_m = tmp_path / "mask_init"
    summary = _run("sam2-mask-init", clip, out_m, sam2_test_model, init_masks=tmp_path / "init.png", max_frames=2)
    _check_all_formats(out_m, "example3_input", 2, stems)
    assert [s["area_per_frame"][0] for s in summary.segments] == [int((ids == k).sum()) for k in (1, 2, 3)]


def test_no_object_on_frame_0_writes_empty_frames(sam2_test_model, synthetic_root, tmp_path):
    """The generator keeps nothing (IoU threshold above 1): every frame is written, all void."""
    video = "synth_0003_000"
    out = tmp_path / "out"
    summary = _run("sam2-everything", synthetic_root / "images" / video, out, sam2_test_model,
                   everything=EverythingOptions(points_per_side=2, pred_iou_thresh=1.0))
    frames, _ = _check_all_formats(out, video, 3, [f"{t:08d}" for t in range(3)])
    assert summary.entities == 0 and summary.segments == []
    assert all(f["segments_info"] == [] for f in frames)


def test_everything_init_caps_by_predicted_iou():
    from entitysam.baselines.sam2_everything import everything_init

    class FakeGenerator:
        def generate(self, image):
            masks = [np.zeros(image.shape[:2], bool) for _ in range(3)]
            for k, m in enumerate(masks):
                m[k, :] = True
            return [{"segmentation": m, "predicted_iou": iou} for m, iou in zip(masks, (0.5, 0.9, 0.7))]

    rgb = np.zeros((4, 5, 3), np.uint8)
    init = everything_init(FakeGenerator(), rgb, max_objects=2)
    assert init.scores.tolist() == [0.9, 0.7] and init.masks[0, 1].all() and init.masks[1, 2].all()
    assert everything_init(FakeGenerator(), rgb).scores.tolist() == [0.5, 0.9, 0.7]  # generator order
