"""Free-text answers -> exactly one candidate or none (rules in entitysam.classify.answers)."""

import pytest

from entitysam.classify.answers import parse_answer
from entitysam.classify.vocab import Vocabulary, load_vocabulary

VIP = load_vocabulary("vipseg")
COCO = load_vocabulary("coco_panoptic")


def name(answer, vocab=VIP):
    cat = parse_answer(answer, vocab)
    return None if cat is None else cat.name


@pytest.mark.parametrize("answer, expected", [
    ("person", "person"),                        # exact
    ("PERSON", "person"),                        # different case
    ("Person.", "person"),                       # trailing punctuation
    ("**car**", "car"),                          # markdown
    ('"traffic light"', "traffic_light"),        # quotes, prompt form of a dataset name
    ("traffic_light", "traffic_light"),          # the dataset form itself
    ("The object in the image is a car.", "car"),          # name inside a sentence
    ("It looks like two dogs playing", "dog"),             # plural inside a sentence
    ("fence", "handrail_or_fence"),              # one alternative of an "a or b" class
    ("handrail or fence", "handrail_or_fence"),  # the full "a or b" name
    ("a handrail, i.e. a fence", "handrail_or_fence"),     # two aliases of ONE class
    ("Microwave oven", "Microwave_oven"),
])
def test_answers_naming_one_candidate(answer, expected):
    assert name(answer) == expected


@pytest.mark.parametrize("answer", [
    "It is either a car or a bus",     # two different candidates: ambiguous -> none
    "cat and dog",
    "spaceship",                       # unknown name
    "I cannot tell.",
    "",
    "None",
    "none of the above; maybe a car",  # starts with none
])
def test_answers_naming_no_single_candidate(answer):
    assert name(answer) is None


def test_names_match_whole_words_only():
    # "car" is not found inside "carpet"; "carpet" is an alternative of cushion_or_carpet
    assert name("carpet-like texture") == "cushion_or_carpet"
    assert name("a cartoon") is None


def test_longer_name_hides_the_name_inside_it():
    assert name("teddy bear", COCO) == "teddy bear"
    assert name("dining table", COCO) == "dining table"  # not also "table" (table-merged)
    assert name("a teddy bear on a bed", COCO) is None   # teddy bear and bed: two classes


def test_small_custom_vocabulary():
    v = Vocabulary.from_names(["cat", "dog"])
    assert parse_answer("Cat", v).id == 0
    assert parse_answer("The answer: dog", v).id == 1
    assert parse_answer("bird", v) is None
