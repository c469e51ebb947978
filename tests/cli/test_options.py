"""Option mistakes on every command: one `error:` line, exit code 2, at parsing time."""

import argparse

import pytest

from entitysam._cli import options
from entitysam.cli import build_parser, main

RANGE_TYPES = {options.fraction, options.positive_int, options.nonnegative_int, options.positive_float,
               options.nonnegative_float, options.device}


def all_parsers(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_parsers(sub, path + (name,))


def numeric_actions():
    for path, parser in all_parsers(build_parser()):
        for action in parser._actions:
            if action.type in (int, float) and not action.choices:  # choices are checked by argparse
                yield path, action


def test_every_numeric_option_checks_its_range():
    """A bare int/float type accepts meaningless values (a threshold of 5, 0 workers)."""
    loose = [f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}" for path, a in numeric_actions()]
    assert not loose, f"numeric options without a range check: {loose}"


def one_line_error(capsys, argv, monkeypatch):
    import entitysam.modeling as modeling

    def no_build(*a, **k):  # the check must come before any model is built
        raise AssertionError("a model was built before the option was checked")

    monkeypatch.setattr(modeling, "build_entitysam", no_build)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("argv,msg", [
    (["segment", "v.mp4", "-o", "out", "--device", "gpu"], "unknown device 'gpu'"),
    (["segment", "v.mp4", "-o", "out", "--device", "cuda:x"], "unknown device 'cuda:x'"),
    (["segment", "v.mp4", "-o", "out", "--overlap-threshold", "5"], "--overlap-threshold: must be between 0 and 1, got 5"),
    (["segment", "v.mp4", "-o", "out", "--overlap-threshold", "nan"], "--overlap-threshold: expected a finite number"),
    (["segment", "v.mp4", "-o", "out", "--max-frames", "0"], "--max-frames: must be an integer >= 1, got 0"),
    (["segment", "v.mp4", "-o", "out", "--max-frames", "x"], "--max-frames: expected an integer, got 'x'"),
    (["segment", "v.mp4", "-o", "out", "--method", "sam2-everything", "--pred-iou-thresh", "1.5"], "--pred-iou-thresh"),
    (["segment", "v.mp4", "-o", "out", "--points-per-side", "0"], "--points-per-side"),
    (["segment", "v.mp4", "-o", "out", "--min-mask-region-area", "-1"], "--min-mask-region-area"),
    (["eval", "--task", "entity", "--pred", "p", "--gt", "g", "--workers", "0"], "--workers"),
    (["golden", "check", "dir", "--threads", "0"], "--threads"),
    (["train", "--data", "d", "--lr", "-1"], "--lr: must be a number > 0"),
    (["train", "--data", "d", "--workers", "-2"], "--workers: must be an integer >= 0"),
    (["train", "--data", "d", "--steps", "100,x"], "--steps"),
    (["train", "--data", "d", "--device", "gpu"], "unknown device 'gpu'"),
    (["classify", "t", "--frames", "f", "--vocab", "coco", "--backend", "clip", "-o", "o", "--min-confidence", "2"],
     "--min-confidence: must be between 0 and 1"),
    (["classify", "t", "--frames", "f", "--vocab", "coco", "--backend", "openai", "-o", "o", "--concurrency", "0"],
     "--concurrency"),
    (["synthetic", "coco", "o", "--crowd-prob", "1.5"], "--crowd-prob"),
    (["synthetic", "coco", "o", "--num-images", "0"], "--num-images"),
    (["view", "o", "--port", "70000"], "--port"),
    (["synthetic", "videos", "-o", "x", "--frames", "0"], "--frames"),
    (["segment", "v.mp4"], "the following arguments are required: -o/--output"),
    (["segment", "v.mp4", "-o", "out", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_option_mistakes_are_one_line(capsys, monkeypatch, argv, msg):
    line = one_line_error(capsys, argv, monkeypatch)
    assert msg in line, line


def test_unknown_device_from_python_is_an_entitysam_error():
    from entitysam.errors import EntitySAMError
    from entitysam.inference.precision import resolve_device

    for bad in ("gpu", "cuda:x", "meta", "tpu"):
        with pytest.raises(EntitySAMError, match="device"):
            resolve_device(bad)
    assert resolve_device("cpu").type == "cpu"


def test_merge_options_reject_out_of_range_thresholds():
    from entitysam.inference.merge import MergeOptions

    for kw in ({"overlap_threshold": 5.0}, {"overlap_threshold": -0.1}, {"mask_binary_threshold": float("nan")},
               {"test_topk_per_image": 0}):
        with pytest.raises(ValueError):
            MergeOptions(**kw)


def test_segment_video_rejects_overlap_threshold_before_building(tmp_path, monkeypatch):
    import entitysam.modeling as modeling
    from entitysam.errors import EntitySAMError
    from entitysam.segment import segment_video

    monkeypatch.setattr(modeling, "build_entitysam", lambda *a, **k: pytest.fail("model built"))
    with pytest.raises(EntitySAMError, match="overlap_threshold must be between 0 and 1, got 5"):
        segment_video(tmp_path / "v.mp4", tmp_path / "out", model="tiny", overlap_threshold=5.0)
    assert list(tmp_path.iterdir()) == []
