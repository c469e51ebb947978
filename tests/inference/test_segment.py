"""`segment_video` / `entitysam segment` end to end.

With a fake predictor (synthetic logits, fast): the pipeline writes exactly the official merge
of what the predictor produced, in every format; interruption leaves nothing. With the tiny
model: the real clip and a synthetic mp4 in every format, frame counts equal PyAV's.
"""

import json

import av
import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from entitysam.cli import main
from tests.oracles.panoptic_merge import official_merge
from entitysam.inference.predictor import PositionOutput
from entitysam.io.ids import rgb2id
from entitysam.segment import segment_video

ALL = "panoptic,overlay,rle,ytvis,davis"


class FakePredictor:
    """EntitySAMPredictor interface; logits are a fixed function of the frame (blobs per slot
    placed where the frame is brightest) so that slots pass the overlap test. Records outputs."""

    image_size = 32
    num_slots = 5

    def __init__(self, warmup=3, fail_at=None):
        self.warmup, self.fail_at = warmup, fail_at
        self.reset()

    def reset(self):
        self.position, self.frame, self.outputs = 0, 0, []

    def step(self, image):
        assert image.shape == (3, 32, 32) and image.dtype == torch.float32
        if self.fail_at is not None and self.frame == self.fail_at:
            raise KeyboardInterrupt
        s = self.image_size // 4
        g = torch.Generator().manual_seed(self.frame)
        logits = torch.randn(self.num_slots, 1, s, s, generator=g) - 4
        for b in range(self.num_slots):
            r = (b * 2 + self.frame) % (s - 2)
            logits[b, 0, r:r + 3, b:b + 3] += 10 + image.mean()
        eiou = torch.linspace(0.2, 0.6, self.num_slots) + 0.02 * torch.arange(self.num_slots) * (self.frame % 3)
        outs = []
        for r in range(self.warmup + 1 if self.frame == 0 else 1):
            z = torch.zeros(self.num_slots)
            outs.append(PositionOutput(self.position, self.frame, r < self.warmup and self.frame == 0,
                                       logits.clone(), eiou + 0.01 * r, z, torch.zeros(self.num_slots, 2),
                                       torch.zeros(self.num_slots, 2)))
            self.position += 1
        self.outputs += outs
        self.frame += 1
        return outs


def write_video(path, n, size=(40, 56), fps=8):
    h, w = size
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def pyav_count(path):
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def read_panoptic(out, video, names):
    """(N, H, W) ids from the panoptic PNGs, remapped to 1..K by pred.json order of appearance."""
    return np.stack([rgb2id(np.asarray(Image.open(out / "pan_pred" / video / f"{n.split('.')[0]}.png")))
                     for n in names])


def check_formats_agree(out, video, n_frames):
    """RLE, YTVIS and DAVIS decode to the same masks as the panoptic PNGs; overlay has N frames."""
    pred = json.loads((out / "pred.json").read_text())
    frames = pred["annotations"][0]["annotations"]
    assert len(frames) == n_frames
    names = [f["file_name"] for f in frames]
    pan = read_panoptic(out, video, names)
    rle = json.loads((out / "rle.json").read_text())
    assert rle["num_frames"] == n_frames and rle["frame_names"] == names
    ytvis = json.loads((out / "ytvis.json").read_text())
    assert len(ytvis) == len(rle["tracks"])
    # entity k (rle/ytvis/davis id) <-> panoptic id: through the slot recorded in pred.json
    pan_id_of_slot = {s["slot"]: s["id"] for f in frames for s in f["segments_info"]}
    for track, yt in zip(rle["tracks"], ytvis):
        assert len(yt["segmentations"]) == n_frames and yt["score"] == track["score"]
        pid = pan_id_of_slot[track["slot"]]
        present = {f["frame"]: f for f in track["frames"]}
        for t in range(n_frames):
            ref = pan[t] == pid
            if t in present:
                assert np.array_equal(mask_utils.decode(present[t]["rle"]).astype(bool), ref)
                assert np.array_equal(mask_utils.decode(yt["segmentations"][t]).astype(bool), ref)
            else:
                assert not ref.any() and yt["segmentations"][t] is None
        for t in range(n_frames):
            davis = np.asarray(Image.open(out / "davis" / video / f"{names[t].split('.')[0]}.png"))
            assert np.array_equal(davis == track["id"], pan[t] == pid)
    assert pyav_count(out / "overlay.mp4") == n_frames
    return pan, frames


def check_frame_eiou(out, fake):
    """pred.json segments and RLE frames carry the slot's eIoU of that very frame."""
    real = [o for o in fake.outputs if not o.is_warmup]
    frames = json.loads((out / "pred.json").read_text())["annotations"][0]["annotations"]
    seen = 0
    for t, f in enumerate(frames):
        for seg in f["segments_info"]:
            assert seg["eiou"] == pytest.approx(float(real[t].eiou[seg["slot"]]), abs=1e-6)
            seen += 1
    assert seen
    for track in json.loads((out / "rle.json").read_text())["tracks"]:
        for fr in track["frames"]:
            assert fr["eiou"] == pytest.approx(float(real[fr["frame"]].eiou[track["slot"]]), abs=1e-6)


def test_pipeline_writes_the_official_merge(tmp_path):
    src = tmp_path / "frames"
    src.mkdir()
    rng = np.random.default_rng(1)
    for i in range(7):
        Image.fromarray(rng.integers(0, 256, (19, 27, 3), dtype=np.uint8)).save(src / f"{i:05d}.jpg")
    fake = FakePredictor()
    out = tmp_path / "out"
    summary = segment_video(src, out, formats=ALL, predictor=fake, progress=False,
                            overlap_threshold=0.25)
    assert summary.frames == 7 and len(fake.outputs) == 10
    pan, frames = check_formats_agree(out, "frames", 7)
    check_frame_eiou(out, fake)
    # the written panoptic maps are the in-RAM official merge of the predictor's outputs
    eiou = torch.stack([o.eiou for o in fake.outputs])
    logits = torch.stack([o.lowres_logits[:, 0] for o in fake.outputs if not o.is_warmup], 1)
    ref, ref_segs = official_merge(eiou, logits, (19, 27), 3, overlap_threshold=0.25)
    assert summary.entities == len(ref_segs) >= 2
    slot_to_pan = {s["slot"]: s["id"] for f in frames for s in f["segments_info"]}
    lut = {0: 0} | {seg_id: slot_to_pan[slot] for seg_id, slot, *_ in ref_segs}
    np.testing.assert_array_equal(pan, np.vectorize(lut.get)(ref))
    saved = json.loads((out / "summary.json").read_text())
    assert [(s["id"], s["slot"]) for s in saved["segments"]] == [(r[0], r[1]) for r in ref_segs]
    assert not [p for p in out.rglob(".*")]  # no spill or spool files left in the output


def test_online_mode_writes_every_frame(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 6)
    out = tmp_path / "out"
    fake = FakePredictor()
    summary = segment_video(path, out, formats=ALL, predictor=fake, online=True, progress=False,
                            overlap_threshold=0.25)
    assert summary.online and summary.frames == 6 and summary.entities >= 1
    check_formats_agree(out, "clip", 6)
    check_frame_eiou(out, fake)


def test_interrupted_run_leaves_nothing(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 6)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        segment_video(path, out, formats=ALL, predictor=FakePredictor(fail_at=4), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_tiny_model_frame_count_equals_pyav(tmp_path, capsys):
    """Full video (no --max-frames): every decoded frame is segmented and written."""
    path = write_video(tmp_path / "synthetic.mp4", 9, size=(46, 62))
    out = tmp_path / "out"
    assert main(["segment", str(path), "-o", str(out), "--model", "tiny", "--formats", ALL,
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "random weights, the output is meaningless" in captured.err
    assert captured.out.startswith(f"{pyav_count(path)} frames, ")
    assert "s/frame, peak RSS" in captured.out
    check_formats_agree(out, "synthetic", pyav_count(path))


def test_tiny_model_real_clip_every_format(tmp_path, media_dir, capsys):
    clip = media_dir / "example3_input.mp4"
    out = tmp_path / "out"
    n = 12
    assert main(["segment", str(clip), "-o", str(out), "--model", "tiny", "--formats", ALL,
                 "--max-frames", str(n), "--no-progress", "--overlap-threshold", "0.25"]) == 0
    pan, frames = check_formats_agree(out, "example3_input", n)
    assert pan.shape == (n, 486, 852)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == n and summary["formats"] == ALL.split(",")
    assert summary["entities"] >= 1  # so that the format comparison above is not vacuous
    with av.open(str(out / "overlay.mp4")) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (852, 486)
        assert abs(float(s.average_rate) - 1853440 / 31063) < 0.01


def test_disk_full_is_a_clean_error(tmp_path, monkeypatch):
    import errno

    from entitysam.errors import EntitySAMError
    from entitysam.io.writers.panoptic import PanopticWriter

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PanopticWriter, "write_frame", full)
    path = write_video(tmp_path / "clip.mp4", 3)
    out = tmp_path / "out"
    with pytest.raises(EntitySAMError, match="cannot write the output .No space left on device."):
        segment_video(path, out, formats="panoptic", predictor=FakePredictor(), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_bad_entity_score_is_a_clear_error_before_the_build():
    from entitysam.errors import EntitySAMError
    from entitysam.segment import build_predictor

    with pytest.raises(EntitySAMError, match="entity_score must be one of max, foreground, got 'background'"):
        build_predictor("tiny", device="cpu", entity_score="background")


def test_segment_output_has_ordinary_permissions(tmp_path):
    import os
    import stat

    path = write_video(tmp_path / "clip.mp4", 3)
    old = os.umask(0o022)
    try:
        segment_video(path, tmp_path / "out", formats=ALL, predictor=FakePredictor(), progress=False)
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    for p in out.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644), p


def test_failed_run_leaves_no_created_parents(tmp_path, capsys):
    path = write_video(tmp_path / "clip.mp4", 6)
    with pytest.raises(KeyboardInterrupt):
        segment_video(path, tmp_path / "a" / "b" / "out", formats=ALL, predictor=FakePredictor(fail_at=4),
                      progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    # and through the CLI, with a bad frame in the middle of a folder
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 48, 3), 60 * i, np.uint8)).save(frames / f"{i:04d}.png")
    data = (frames / "0002.png").read_bytes()
    (frames / "0002.png").write_bytes(data[: len(data) // 2])
    assert main(["segment", str(frames), "-o", str(tmp_path / "x" / "y" / "out"), "--model", "tiny",
                 "--no-progress"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "frames"]


@pytest.mark.parametrize("online", [False, True])
def test_summary_records_the_same_entity_fields_offline_and_online(tmp_path, online):
    """summary.json: per entity id, slot, score, mean eIoU, quality, overlap ratio, area per frame;
    the areas equal the written id maps, the mean eIoU the slot's mean over the positions."""
    path = write_video(tmp_path / "clip.mp4", 6)
    out = tmp_path / "out"
    fake = FakePredictor()
    segment_video(path, out, formats="panoptic", predictor=fake, online=online, progress=False,
                  overlap_threshold=0.25)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["entities"] == len(saved["segments"]) >= 2
    frames = json.loads((out / "pred.json").read_text())["annotations"][0]["annotations"]
    maps = read_panoptic(out, "clip", [f["file_name"] for f in frames])
    eiou = torch.stack([o.eiou for o in fake.outputs]).double()
    pan_id_of_slot = {s["slot"]: s["id"] for f in frames for s in f["segments_info"]}
    for seg in saved["segments"]:
        assert set(seg) == {"id", "slot", "score", "mean_eiou", "quality", "overlap_ratio", "area_per_frame"}
        pan_id = pan_id_of_slot[seg["slot"]]
        assert seg["area_per_frame"] == [int((m == pan_id).sum()) for m in maps]
        assert seg["mean_eiou"] == pytest.approx(float(eiou[:, seg["slot"]].mean()), abs=1e-6)
        assert seg["score"] == pytest.approx(seg["mean_eiou"] + 0.5 * seg["quality"], abs=1e-6)
        assert 0 <= seg["quality"] <= 1 and 0 < seg["overlap_ratio"] <= 1
