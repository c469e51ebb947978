"""Reading segment outputs (panoptic and rle layouts) and finding their frames."""

import json

import av
import numpy as np
import pytest

from entitysam.classify.frames import read_frames, source_for
from entitysam.classify.tracks import read_tracks
from entitysam.errors import EntitySAMError

from classify_testkit import ENTITIES, H, T, W, frame_image


def by_first_area(video):
    return {(t.frames[0].frame, t.frames[0].area): t for t in video.tracks}


@pytest.mark.parametrize("layout", ["panoptic", "rle"])
def test_tracks_and_id_maps_match_the_scene(scene, layout):
    path = scene.tracks if layout == "panoptic" else scene.rle_tracks
    (video,) = read_tracks(path)
    assert video.video == "vid0" and video.layout == layout and video.frame_names == scene.names
    assert len(video.tracks) == 5
    for t, m in enumerate(scene.maps):
        ids = video.id_map(t)
        assert ids.shape == (H, W)
        # the track ids are a relabelling of the scene's entity ids, void stays void
        pairs = set(zip(m.ravel().tolist(), ids.ravel().tolist()))
        assert len(pairs) == len(np.unique(m)) and (0, 0) in pairs
    car = next(tr for tr in video.tracks if len(tr.frames) == T - 1)
    assert [f.frame for f in car.frames] == list(range(1, T))
    assert car.frames[0].area == 12 * 18 and car.frames[0].bbox == (40, 20, 17, 11)
    assert car.score == pytest.approx(0.5 + 5 / 20)


def test_several_videos_in_one_pred_json(scene):
    pred = json.loads((scene.tracks / "pred.json").read_text())
    second = json.loads(json.dumps(pred["annotations"][0]))
    second["video_id"] = "vid1"
    pred["annotations"].append(second)
    (scene.tracks / "pred.json").write_text(json.dumps(pred))
    (scene.tracks / "pan_pred" / "vid0").rename(scene.tracks / "pan_pred" / "vid1")
    videos = read_tracks(scene.tracks / "pred.json")
    assert [v.video for v in videos] == ["vid0", "vid1"]
    assert (videos[1].id_map(0) > 0).any()


def test_bad_tracks_inputs(tmp_path):
    with pytest.raises(EntitySAMError, match="no pred.json"):
        read_tracks(tmp_path)
    (tmp_path / "pred.json").write_text('{"annotations": [{"video_id": "v"}]}')
    with pytest.raises(EntitySAMError, match="malformed prediction JSON"):
        read_tracks(tmp_path)
    with pytest.raises(EntitySAMError, match="no such file"):
        read_tracks(tmp_path / "missing")


def test_frames_from_a_folder_read_only_the_wanted_files(scene):
    src = source_for(scene.frames, "vid0", single=True)
    got = dict(read_frames(src, scene.names, {2, 0}))
    assert sorted(got) == [0, 2]
    assert np.array_equal(np.asarray(got[2]), np.asarray(frame_image(scene.maps[2])))
    with pytest.raises(EntitySAMError, match="no frame for"):
        list(read_frames(src, scene.names + ["00099.png"], {T}))


def test_frames_from_a_video_file(scene, tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for m in scene.maps:
            frame = av.VideoFrame.from_ndarray(np.asarray(frame_image(m)), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    names = [f"{t:08d}.png" for t in range(T)]  # entitysam segment's names for video frames
    got = dict(read_frames(source_for(path, "clip", single=True), names, {3}))
    diff = np.abs(np.asarray(got[3]).astype(int) - np.asarray(frame_image(scene.maps[3])).astype(int))
    assert list(got) == [3] and diff.mean() < 8  # lossy yuv420p colours, same picture


def test_source_per_video(tmp_path):
    (tmp_path / "a").mkdir()
    assert source_for(tmp_path, "a", single=False) == tmp_path / "a"
    with pytest.raises(EntitySAMError, match="no frame folder or video named 'b'"):
        source_for(tmp_path, "b", single=False)
    with pytest.raises(EntitySAMError, match="no such file"):
        source_for(tmp_path / "nope", "a", single=True)


@pytest.mark.parametrize("fmt", ["panoptic", "rle"])
def test_per_frame_eiou_from_the_writers_picks_the_best_frame(scene, tmp_path, fmt):
    """Segment writers record each frame's slot eIoU; the best frame follows it, not area."""
    from entitysam.classify.crops import best_frame
    from entitysam.core.segments import SegmentInfo
    from entitysam.inference.merge.steps import frame_segments
    from entitysam.io.writers import WRITERS

    ids = sorted(ENTITIES)
    infos = {i: SegmentInfo(i, slot=i, score=0.5, mean_eiou=0.5, quality=0.1, overlap_ratio=1.0) for i in ids}
    peak = {i: (k + 2) % T for k, i in enumerate(ids)}  # frame where entity i is most confident
    out = tmp_path / fmt
    out.mkdir()
    writer = WRITERS[fmt](out)
    writer.open("vid0", (H, W), None)
    for t, (m, name) in enumerate(zip(scene.maps, scene.names)):
        eiou = np.full(max(ids) + 1, 0.1, np.float32)
        for i in ids:
            eiou[i] = 0.9 if peak[i] == t else 0.2 + 0.01 * t
        writer.write_frame(t, name, m, frame_segments(m, infos, eiou), None)
    writer.close()
    (video,) = read_tracks(out)
    checked = 0
    for tr in video.tracks:
        slot = tr.slot
        frames_present = [f.frame for f in tr.frames]
        if peak[slot] in frames_present:
            assert best_frame(tr).frame == peak[slot]
            assert [f.score for f in tr.frames] == pytest.approx(
                [0.9 if f == peak[slot] else 0.2 + 0.01 * f for f in frames_present])
            checked += 1
    assert checked >= 2
