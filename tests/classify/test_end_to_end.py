"""`entitysam classify` end to end on the synthetic scene (conftest.py), then `entitysam eval`.

The scripted chat server answers each crop by its centre colour, so the labels equal the
scene's categories; the class-specific metrics of `entitysam eval` must then be perfect:
VPQ 100 (all/things/stuff), mIoU 1.0, AP 1.0. A server that answers wrongly must not be.
"""

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from entitysam.cli import main
from entitysam.classify.vocab import load_vocabulary
from entitysam.io.ids import id2rgb, rgb2id

from classify_testkit import ENTITIES, VIPSEG_IDS, H, W

VIP = load_vocabulary("vipseg")
GT_IDS = {1: 1001, 2: 1001, 3: 1002, 4: 2001, 5: 2002}  # sky halves form one GT segment


def category_of(entity):
    return VIPSEG_IDS[ENTITIES[entity][0]]


def write_vipseg_gt(scene, root):
    """VIPSeg layout (evaluation.md §2): panomasksRGB/<video>/<stem>.png + GT JSON."""
    png_dir = root / "panomasksRGB" / "vid0"
    png_dir.mkdir(parents=True)
    images, frames = [], []
    for m, name in zip(scene.maps, scene.names):
        gt = np.vectorize(lambda e: GT_IDS.get(int(e), 0))(m)
        Image.fromarray(id2rgb(gt)).save(png_dir / name)
        stem = name.split(".")[0]
        images.append({"id": stem, "width": W, "height": H, "file_name": name})
        segs = [{"id": int(g), "category_id": category_of(next(e for e, v in GT_IDS.items() if v == g)),
                 "iscrowd": 0, "area": int((gt == g).sum())} for g in np.unique(gt) if g]
        frames.append({"image_id": stem, "file_name": name, "segments_info": segs})
    cats = [{"id": c.id, "name": c.name, "isthing": int(c.isthing), "color": [1, 2, 3]} for c in VIP]
    gt_json = root / "panoptic_gt_VIPSeg_val.json"
    gt_json.write_text(json.dumps({"videos": [{"video_id": "vid0", "images": images}],
                                   "annotations": [{"video_id": "vid0", "annotations": frames}],
                                   "categories": cats}))
    return root / "panomasksRGB", gt_json


def write_vspw_gt(scene, root):
    """VSPW layout (evaluation.md §10.2): data/<video>/mask/<stem>.png raw = class + 1."""
    mask_dir = root / "data" / "vid0" / "mask"
    mask_dir.mkdir(parents=True)
    (root / "val.txt").write_text("vid0\n")
    for m, name in zip(scene.maps, scene.names):
        raw = np.vectorize(lambda e: category_of(int(e)) + 1 if e else 0)(m).astype(np.uint8)
        Image.fromarray(raw).save(mask_dir / name)
    return root


def write_ytvis_gt(scene, path, video_id=5):
    """YouTube-VIS instances JSON (evaluation.md §10.3) with the scene's things."""
    anns = []
    for k, entity in enumerate((4, 5)):
        segs, areas, boxes = [], [], []
        for m in scene.maps:
            mask = m == entity
            if mask.any():
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                rle["counts"] = rle["counts"].decode()
                segs.append(rle), areas.append(int(mask.sum())), boxes.append(list(mask_utils.toBbox(rle)))
            else:
                segs.append(None), areas.append(None), boxes.append(None)
        anns.append({"id": k + 1, "video_id": video_id, "category_id": category_of(entity),
                     "segmentations": segs, "areas": areas, "bboxes": boxes, "iscrowd": 0})
    videos = [{"id": video_id, "height": H, "width": W, "length": len(scene.names),
               "file_names": [f"vid0/{n}" for n in scene.names]}]
    cats = [{"id": c.id, "name": c.name} for c in VIP]
    path.write_text(json.dumps({"videos": videos, "annotations": anns, "categories": cats}))
    return path


def classify_cli(scene, server, out, task, *extra, tracks=None):
    server.expect_names = VIP.prompts
    argv = ["classify", str(tracks or scene.tracks), "--frames", str(scene.frames), "--vocab", "vipseg",
            "--backend", "openai", "--base-url", server.url, "--model", "fake-vlm",
            "--cache", str(scene.root / "cache"), "--retries", "0", "-o", str(out), "--task", task, *extra]
    assert main(argv) == 0
    assert server.problems == []


def eval_cli(tmp_path, *argv):
    report = tmp_path / "report.json"
    if report.exists():
        report.unlink()
    assert main(["eval", *argv, "--json", str(report), "--no-progress"]) == 0
    return json.loads(report.read_text())


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.parametrize("tracks", ["panoptic", "rle"])
def test_panoptic_task_scores_100(scene, chat_server, tmp_path, tracks):
    out = tmp_path / "pan"
    classify_cli(scene, chat_server, out, "panoptic",
                 tracks=scene.tracks if tracks == "panoptic" else scene.rle_tracks)
    # layout: pan_pred/<video>/<stem>.png + pred.json with category ids; sky tracks merged
    pred = json.loads((out / "pred.json").read_text())
    (video,) = pred["annotations"]
    assert video["video_id"] == "vid0" and len(video["annotations"]) == len(scene.names)
    frame1 = video["annotations"][1]
    assert frame1["file_name"] == scene.names[1]
    assert sorted(s["category_id"] for s in frame1["segments_info"]) == sorted(
        [VIPSEG_IDS[n] for n in ("sky", "road", "person", "car")])
    pan = rgb2id(np.asarray(Image.open(out / "pan_pred" / "vid0" / "00001.png")))
    for seg in frame1["segments_info"]:
        mask = pan == seg["id"]
        assert seg["area"] == mask.sum() and seg["iscrowd"] == 0
        ys, xs = np.nonzero(mask)
        assert seg["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
    labels = json.loads((out / "labels.json").read_text())
    assert len(labels["videos"][0]["tracks"]) == 5

    root = tmp_path / "vipseg"
    gt_png, gt_json = write_vipseg_gt(scene, root)
    report = eval_cli(tmp_path, "--task", "panoptic", "--pred", str(out), "--gt", str(gt_png),
                      "--gt-json", str(gt_json))
    assert (report["vpq"]["VPQ"], report["vpq"]["VPQ_thing"], report["vpq"]["VPQ_stuff"]) == (100, 100, 100)


def test_wrong_labels_or_unmerged_stuff_do_not_score_100(scene, chat_server, tmp_path):
    gt_png, gt_json = write_vipseg_gt(scene, tmp_path / "vipseg")
    chat_server.default = ("answer", "car")  # every track called a car
    classify_cli(scene, chat_server, tmp_path / "wrong", "panoptic")
    report = eval_cli(tmp_path, "--task", "panoptic", "--pred", str(tmp_path / "wrong"),
                      "--gt", str(gt_png), "--gt-json", str(gt_json))
    assert report["vpq"]["VPQ"] < 50
    chat_server.default = ("centre",)
    # --no-cache: the cache would rightly return the scripted "car" answers for these crops
    classify_cli(scene, chat_server, tmp_path / "unmerged", "panoptic", "--no-merge-stuff", "--no-cache")
    report = eval_cli(tmp_path, "--task", "panoptic", "--pred", str(tmp_path / "unmerged"),
                      "--gt", str(gt_png), "--gt-json", str(gt_json))
    assert report["vpq"]["VPQ_thing"] == 100 and report["vpq"]["VPQ_stuff"] < 100


def test_semantic_task_scores_miou_1(scene, chat_server, tmp_path):
    out = tmp_path / "sem"
    classify_cli(scene, chat_server, out, "semantic")
    sem = np.asarray(Image.open(out / "vid0" / "00002.png"))
    assert sem.dtype == np.uint8 and sem.shape == (H, W) and sem.ndim == 2
    m = scene.maps[2]
    assert (sem[m == 4] == VIPSEG_IDS["person"]).all() and (sem[m == 1] == VIPSEG_IDS["sky"]).all()
    assert set(np.unique(sem)) <= set(VIPSEG_IDS.values())  # void strip filled from neighbours
    vspw = write_vspw_gt(scene, tmp_path / "vspw")
    report = eval_cli(tmp_path, "--task", "semantic", "--pred", str(out), "--gt", str(vspw))
    assert report["mIoU"] == 1.0


def test_instance_task_scores_ap_1_and_drops_stuff(scene, chat_server, tmp_path):
    gt = write_ytvis_gt(scene, tmp_path / "instances.json", video_id=5)
    out = tmp_path / "inst"
    classify_cli(scene, chat_server, out, "instance", "--ytvis-json", str(gt))
    results = json.loads((out / "results.json").read_text())
    assert sorted(r["category_id"] for r in results) == sorted([VIPSEG_IDS["person"], VIPSEG_IDS["car"]])
    for r in results:
        assert r["video_id"] == 5 and len(r["segmentations"]) == len(scene.names)
        assert 0 < r["score"] <= 1.5
    car = next(r for r in results if r["category_id"] == VIPSEG_IDS["car"])
    assert car["segmentations"][0] is None and car["segmentations"][1]["size"] == [H, W]
    report = eval_cli(tmp_path, "--task", "instance", "--pred", str(out / "results.json"),
                      "--gt-json", str(gt))
    assert report["AP"] == pytest.approx(1.0, abs=1e-12) and report["AR10"] == pytest.approx(1.0, abs=1e-12)


def test_rerun_is_served_from_the_cache(scene, chat_server, tmp_path):
    classify_cli(scene, chat_server, tmp_path / "a", "panoptic")
    sent = len(chat_server.requests)
    assert sent == 5  # one request per track
    chat_server.default = ("status", 500)
    classify_cli(scene, chat_server, tmp_path / "b", "semantic")  # same crops, same prompt
    assert len(chat_server.requests) == sent


def test_cli_user_errors_exit_2_with_one_line(scene, chat_server, tmp_path, capsys):
    base = ["classify", str(scene.tracks), "--frames", str(scene.frames), "--backend", "openai",
            "--base-url", chat_server.url, "--no-cache", "--retries", "0"]
    assert main(base + ["--vocab", "nosuch", "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("error: --vocab 'nosuch': not a file, not a built-in")
    chat_server.default = ("status", 503)
    assert main(base + ["--vocab", "vipseg", "-o", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[-1].startswith("error:") and "HTTP 503" in err[-1]
    assert not (tmp_path / "y").exists()  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".y")]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    assert main(base + ["--vocab", "vipseg", "-o", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_several_videos_with_one_frame_folder_each(scene, chat_server, tmp_path):
    pred = json.loads((scene.tracks / "pred.json").read_text())
    second = json.loads(json.dumps(pred["annotations"][0]))
    second["video_id"] = "vid1"
    pred["annotations"].append(second)
    (scene.tracks / "pred.json").write_text(json.dumps(pred))
    shutil.copytree(scene.tracks / "pan_pred" / "vid0", scene.tracks / "pan_pred" / "vid1")
    frames = tmp_path / "images"
    for vid in ("vid0", "vid1"):
        shutil.copytree(scene.frames, frames / vid)
    chat_server.expect_names = VIP.prompts
    out = tmp_path / "multi"
    assert main(["classify", str(scene.tracks), "--frames", str(frames), "--vocab", "vipseg",
                 "--backend", "openai", "--base-url", chat_server.url, "--no-cache",
                 "-o", str(out)]) == 0
    videos = json.loads((out / "pred.json").read_text())["annotations"]
    assert [v["video_id"] for v in videos] == ["vid0", "vid1"]
    assert videos[0]["annotations"] == videos[1]["annotations"]
    assert len(chat_server.requests) == 10
    # one frame folder for several videos is refused with a clear error
    assert main(["classify", str(scene.tracks), "--frames", str(scene.frames), "--vocab", "vipseg",
                 "--backend", "openai", "--base-url", chat_server.url, "--no-cache",
                 "-o", str(tmp_path / "bad")]) == 2
