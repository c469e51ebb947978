"""Vocabularies: the shipped dataset lists, and lists from files or the command line."""

import json

import pytest

from entitysam.classify.vocab import Vocabulary, load_vocabulary, prompt_name
from entitysam.errors import EntitySAMError


@pytest.mark.parametrize("name, count, things, ids", [
    ("vipseg", 124, 58, range(0, 124)),
    ("vspw", 124, 58, range(0, 124)),
    ("ytvis2019", 40, 40, range(1, 41)),
    ("ytvis2021", 40, 40, range(1, 41)),
    ("ovis", 25, 25, range(1, 26)),
])
def test_builtin_counts_and_ids(name, count, things, ids):
    v = load_vocabulary(name)
    assert len(v) == count
    assert sum(c.isthing for c in v) == things
    assert [c.id for c in v] == list(ids)
    assert len({c.prompt for c in v}) == count  # no two classes shown under one name


def test_coco_panoptic_133_with_80_things_and_coco_ids():
    v = load_vocabulary("coco_panoptic")
    assert len(v) == 133 and sum(c.isthing for c in v) == 80
    assert all(1 <= c.id <= 90 for c in v if c.isthing) and all(92 <= c.id <= 200 for c in v if not c.isthing)
    assert v.by_id(187).name == "sky-other-merged" and v.by_id(187).prompt == "sky"
    assert len({c.prompt for c in v}) == 133


def test_known_entries():
    assert load_vocabulary("vspw").name == "vspw" and load_vocabulary("VIPSeg").name == "vipseg"
    vip = load_vocabulary("vipseg")
    assert (vip.by_id(0).name, vip.by_id(0).isthing) == ("wall", False)
    assert (vip.by_id(60).name, vip.by_id(60).isthing) == ("person", True)
    assert (vip.by_id(123).name, vip.by_id(123).isthing) == ("train", True)
    assert vip.by_id(7).aliases == ("handrail or fence", "handrail", "fence")
    assert load_vocabulary("ytvis2019").by_id(1).name == "person"
    assert load_vocabulary("ytvis2019").by_id(40).name == "tennis_racket"
    assert load_vocabulary("ytvis2021").by_id(40).name == "zebra"
    assert load_vocabulary("ovis").by_id(25).prompt == "vehicle"  # the dataset spells "Vehical"


def test_prompt_names():
    assert prompt_name("billboard_or_Bulletin_Board") == "billboard or bulletin board"
    assert prompt_name("food-other-merged") == "food"
    assert prompt_name("door-stuff") == "door"
    assert prompt_name("tennis_racket") == "tennis racket"


def test_dataset_gt_json_as_vocabulary(tmp_path):
    gt = {"videos": [], "annotations": [],
          "categories": [{"id": 3, "name": "car", "isthing": 1}, {"id": 9, "name": "sky", "isthing": 0}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    v = load_vocabulary(tmp_path / "gt.json")
    assert [(c.id, c.name, c.isthing) for c in v] == [(3, "car", True), (9, "sky", False)]


def test_text_file_and_comma_list(tmp_path):
    (tmp_path / "names.txt").write_text("cat\n\n# a comment\ndog  # trailing\nhot_dog\n")
    v = load_vocabulary(tmp_path / "names.txt")
    assert [(c.id, c.name, c.isthing) for c in v] == [(0, "cat", None), (1, "dog", None), (2, "hot_dog", None)]
    assert not v.has_isthing
    v = load_vocabulary("cat, dog", start=1)
    assert [(c.id, c.name) for c in v] == [(1, "cat"), (2, "dog")]
    (tmp_path / "list.json").write_text('["a", "b"]')
    assert load_vocabulary(tmp_path / "list.json").prompts == ["a", "b"]


def test_errors_are_clear(tmp_path):
    with pytest.raises(EntitySAMError, match="built-in"):
        load_vocabulary("nosuchvocab")
    (tmp_path / "bad.json").write_text('{"categories": [{"name": "x"}]}')
    with pytest.raises(EntitySAMError, match="categories"):
        load_vocabulary(tmp_path / "bad.json")
    with pytest.raises(EntitySAMError, match="duplicate"):
        Vocabulary.from_dict({"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]})
    with pytest.raises(EntitySAMError, match="empty"):
        Vocabulary.from_names([" ", ""])
