"""State-dict layout: names and shapes equal the official checkpoints' exactly."""

import json

import pytest

from entitysam.cli import main


def _official(golden_dir, name):
    keys = json.loads((golden_dir / "keys" / f"entitysam-{name}.json").read_text())
    return [(k["name"], k["shape"]) for k in keys["keys"]], keys["count"]


@pytest.mark.parametrize("name,count", [("vit-s", 777), ("vit-l", 1473)])
def test_info_keys_equal_official_list(name, count, golden_dir, capsys):
    assert main(["info", "--model", name, "--keys"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ours = []
    for line in lines:
        key, shape = line.split("\t")
        ours.append((key, json.loads(shape)))
    official, n = _official(golden_dir, name)
    assert n == count == len(official)
    assert set(k for k, _ in ours) == set(k for k, _ in official), "no extra, no missing keys"
    assert ours == official, "same names, shapes and order"


def test_info_summary_counts(capsys):
    assert main(["info", "--model", "vit-s"]) == 0
    out = capsys.readouterr().out
    total = [l for l in out.splitlines() if l.startswith("total")][0].split()
    assert int(total[1]) == 777
    assert int(total[2].replace(",", "")) + int(total[3].replace(",", "")) == 72_688_360


def test_unknown_model_is_a_clear_error(capsys):
    assert main(["info", "--model", "vit-xxl"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'vit-xxl'" in err and "vit-s" in err
