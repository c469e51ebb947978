"""Dataset layouts: which videos, in which order, with which frames; sharding."""

import json
import shutil

import av
import numpy as np
import pytest

from entitysam.errors import EntitySAMError
from entitysam.io.datasets import open_dataset
from entitysam.io.shards import assign_shards
from entitysam.synthetic.datasets import write_mini_dataset

IDS = ["synth_0000_000", "synth_0000_001", "synth_0000_002"]
FRAMES = ("00000000.jpg", "00000001.jpg")


def test_vipseg_order_and_frames_come_from_the_gt_json(tmp_path):
    root = write_mini_dataset(tmp_path / "v", "vipseg", num_videos=3, num_frames=2)
    gt_path = root / "panoptic_gt_VIPSeg_val.json"
    gt = json.loads(gt_path.read_text())
    gt["videos"] = gt["videos"][::-1]  # the JSON's order, not the folder's, is the dataset order
    gt_path.write_text(json.dumps(gt))
    (root / "images" / "not_listed").mkdir()
    ds = open_dataset(root, "vipseg")
    assert [v.id for v in ds.videos] == IDS[::-1]
    assert all(v.frames == FRAMES and v.path == root / "images" / v.id for v in ds.videos)
    assert [v.id for v in open_dataset(root, "vipseg", videos=[IDS[0], IDS[2]]).videos] == [IDS[2], IDS[0]]
    with pytest.raises(EntitySAMError, match="'nope' is not a video"):
        open_dataset(root, "vipseg", videos=["nope"])
    shutil.copy(gt_path, root / "panoptic_gt_VIPSeg_train.json")
    assert len(open_dataset(root, "vipseg", split="train").videos) == 3


def test_vspw_reads_the_split_list_and_origin_frames(tmp_path):
    root = write_mini_dataset(tmp_path / "s", "vspw", num_videos=3, num_frames=2)
    (root / "val.txt").write_text(f"{IDS[1]}\n\n{IDS[0]}\n")
    ds = open_dataset(root, "vspw")
    assert [v.id for v in ds.videos] == [IDS[1], IDS[0]]
    assert ds.videos[0].path == root / "data" / IDS[1] / "origin" and ds.videos[0].frames == FRAMES


def test_ytvis_ids_and_frame_lists_come_from_the_instances_json(tmp_path):
    root = write_mini_dataset(tmp_path / "y", "ytvis", num_videos=3, num_frames=3)
    data = json.loads((root.parent / "valid.json").read_text())
    data["videos"][0]["file_names"] = data["videos"][0]["file_names"][::2]  # annotated frames only
    (root.parent / "valid.json").write_text(json.dumps(data))
    ds = open_dataset(root, "ytvis")
    assert [(v.id, v.dataset_id) for v in ds.videos] == [(IDS[0], 10), (IDS[1], 20), (IDS[2], 30)]
    assert ds.videos[0].frames == ("00000.jpg", "00002.jpg") and ds.videos[0].num_frames == 2
    assert ds.videos[1].path == root / "JPEGImages" / IDS[1]
    # OVIS: <split>/<video>/ without JPEGImages, annotations_<split>.json beside the folder
    ovis = tmp_path / "ovis"
    shutil.copytree(root / "JPEGImages", ovis / "valid")
    (ovis / "annotations_valid.json").write_text(json.dumps(data))
    ds = open_dataset(ovis / "valid", "ytvis")
    assert ds.videos[2].path == ovis / "valid" / IDS[2] and ds.videos[2].dataset_id == 30


def test_folders_take_frame_folders_and_video_files(tmp_path):
    root = write_mini_dataset(tmp_path / "f", "folders", num_videos=2, num_frames=2)
    with av.open(str(root / "clip.b.mp4"), mode="w") as c:
        s = c.add_stream("libx264", rate=5)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    (root / "notes.txt").write_text("not a video")
    ds = open_dataset(root, "folders")
    assert [v.id for v in ds.videos] == ["clip", IDS[0], IDS[1]]
    assert ds.videos[0].frames is None and ds.videos[0].path == root / "clip.b.mp4"
    assert ds.videos[1].frames == FRAMES


@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_are_disjoint_complete_and_balanced(world):
    counts = [30, 5, 12, 12, 40, 1, 7, 25, 3, 18]
    shards = assign_shards(counts, world)
    flat = sorted(i for s in shards for i in s)
    assert flat == list(range(len(counts))) and len(shards) == world
    assert all(s == sorted(s) for s in shards)
    loads = [sum(counts[i] for i in s) for s in shards]
    # greedy LPT bound: no rank exceeds the mean by more than the largest video
    assert max(loads) <= sum(counts) / world + max(counts)
    assert assign_shards(counts, world) == shards  # deterministic


def test_shards_hand_example():
    # by decreasing frames: 40 -> r0, 30 -> r1, 12 -> r1 (30 < 40), 12 -> r0 (40 < 42), 5 -> r1 (47 < 52)
    assert assign_shards([30, 5, 12, 12, 40], 2) == [[3, 4], [0, 1, 2]]
