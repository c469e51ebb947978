"""Reading a segment output for the viewer: ids, scores, labels, masks (no browser)."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from entitysam.errors import EntitySAMError
from entitysam.io.writers import entity_colour
from entitysam.viewer import load_videos
from entitysam.viewer.site import CHUNK, write_site
from viewer_testkit import H, N, SCORES, VIDEO, W, id_map, write_labels, write_output


def decoded(video, t):
    """(H, W) entity ids of frame t rebuilt from the viewer's masks (mask id -> entity id)."""
    to_entity = {e.mask_id: e.id for e in video.entities}
    out = np.zeros((H, W), np.int32)
    for mid, counts in video.masks(t):
        out[mask_utils.decode({"size": [H, W], "counts": counts.encode()}).astype(bool)] = to_entity[mid]
    return out


@pytest.mark.parametrize("formats", [("rle",), ("panoptic",)])
def test_both_layouts_give_the_entity_ids_scores_and_masks(tmp_path, formats):
    out = write_output(tmp_path / "out", formats=formats)
    (video,) = load_videos(out)
    assert video.layout == ("rle.json" if formats == ("rle",) else "pred.json")
    assert (video.name, video.height, video.width, video.num_frames) == (VIDEO, H, W, N)
    # panoptic ids are mapped back to the entity ids of summary.json (the overlay colours)
    assert sorted(e.id for e in video.entities) == [1, 2, 3]
    three = video.entity(3)
    assert (three.first_frame, three.last_frame) == (2, 5)
    assert three.score == pytest.approx(SCORES[3]) and three.mean_eiou == pytest.approx(SCORES[3] - 0.05)
    for t in range(N):
        np.testing.assert_array_equal(decoded(video, t), id_map(t))
        assert [video.entity(i).areas[t] for i in (1, 2, 3)] == [int((id_map(t) == i).sum()) for i in (1, 2, 3)]


def test_panoptic_without_summary_keeps_panoptic_ids(tmp_path):
    out = write_output(tmp_path / "out", formats=("panoptic",))
    (out / "summary.json").unlink()
    (video,) = load_videos(out)
    pred = json.loads((out / "pred.json").read_text())
    pan_ids = {s["id"] for f in pred["annotations"][0]["annotations"] for s in f["segments_info"]}
    assert {e.id for e in video.entities} == pan_ids


def test_site_data_is_a_script_with_colours_and_chunked_masks(tmp_path, clip):
    out, frames, _ = clip
    site = write_site(load_videos(out), out, tmp_path / "site", frames=frames)
    text = (site / "data.js").read_text()
    assert text.startswith("window.ENTITYSAM_DATA = ") and text.endswith(";\n")
    data = json.loads(text[len("window.ENTITYSAM_DATA = "):-2])
    (video,) = data["videos"]
    assert [e["id"] for e in video["entities"]] == [1, 2, 3]
    assert [tuple(e["colour"]) for e in video["entities"]] == [entity_colour(i) for i in (1, 2, 3)]
    assert video["frames_kind"] == "input" and video["frames"] == "frames/0/"
    assert sorted(p.name for p in (site / "frames" / "0").iterdir()) == [f"{t:06d}.jpg" for t in range(N)]
    chunks = sorted((site / "masks" / "0").iterdir())
    assert len(chunks) == -(-N // CHUNK)
    for name in ("index.html", "viewer.js", "store.js", "entities.js", "rle.js", "viewer.css"):
        html_or_js = (site / name).read_text()
        assert "http://" not in html_or_js.replace("http://www.w3.org/2000/svg", "") and "https://" not in html_or_js


def test_labels_by_panoptic_or_entity_id(tmp_path, clip):
    out, _, _ = clip
    pred = json.loads((out / "pred.json").read_text())
    first = pred["annotations"][0]["annotations"][0]["segments_info"]
    pan_of = {s["slot"] - 10: s["id"] for s in first}  # entities 1, 2 are in frame 0
    # classify read pred.json: labels by panoptic id
    (video,) = load_videos(out, labels=write_labels(tmp_path / "a", {pan_of[1]: "dog", pan_of[2]: None}))
    assert (video.entity(1).label, video.entity(2).label, video.entity(3).label) == ("dog", "(none)", None)
    assert video.entity(1).label_confidence == pytest.approx(0.8)
    # classify read rle.json: labels by entity id
    (video,) = load_videos(out, labels=write_labels(tmp_path / "b", {3: "sky"}) / "labels.json")
    assert video.entity(3).label == "sky"


@pytest.mark.parametrize("make,match", [
    (lambda p: p, "no rle.json or pred.json"),
    (lambda p: p / "missing", "no such folder"),
])
def test_not_an_output_is_one_error(tmp_path, make, match):
    with pytest.raises(EntitySAMError, match=match):
        load_videos(make(tmp_path))


def test_labels_of_another_output_are_an_error(tmp_path, clip):
    out, _, _ = clip
    with pytest.raises(EntitySAMError, match="not entities of this output"):
        load_videos(out, labels=write_labels(tmp_path / "a", {999: "cat"}))
    with pytest.raises(EntitySAMError, match="labels for video"):
        load_videos(out, labels=write_labels(tmp_path / "b", {1: "cat"}, video="other"))
    with pytest.raises(EntitySAMError, match="no labels.json"):
        load_videos(out, labels=tmp_path / "c")


def test_malformed_rle_json_is_one_error(tmp_path):
    out = write_output(tmp_path / "out", formats=("rle",))
    data = json.loads((out / "rle.json").read_text())
    data["tracks"][0]["frames"][0]["frame"] = 99
    (out / "rle.json").write_text(json.dumps(data))
    with pytest.raises(EntitySAMError, match="malformed rle.json"):
        load_videos(out)
    (out / "rle.json").write_text("{")
    with pytest.raises(EntitySAMError, match="cannot read JSON"):
        load_videos(out)


def test_a_classify_panoptic_output_shows_its_own_labels(tmp_path):
    """OUT = pred.json + pan_pred/ + labels.json (an `entitysam classify --task panoptic` output)."""
    out = write_output(tmp_path / "cls", formats=("panoptic",))
    (out / "summary.json").unlink()
    pred = json.loads((out / "pred.json").read_text())
    pan_ids = sorted({s["id"] for f in pred["annotations"][0]["annotations"] for s in f["segments_info"]})
    write_labels(out, {pan_ids[0]: "road"})
    (video,) = load_videos(out)
    assert video.entity(pan_ids[0]).label == "road"
