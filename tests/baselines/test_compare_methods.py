"""``benchmarks/compare_methods.py``: runs a method per video, merges, evaluates, prints a table."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_methods.py"


def test_compare_methods_synthetic(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("compare_methods", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--synthetic", "2", "--frames", "2", "--random-weights", "--methods", "sam2-mask-init",
                       "--out", str(tmp_path / "work"), "--json", str(tmp_path / "r.json")])
    (row,) = rows
    assert (row["method"], row["videos"], row["frames"]) == ("sam2-mask-init", 2, 4)
    # both videos are in the one merged prediction folder that was evaluated
    pred = Path(row["pred_dir"])
    assert sorted(p.name for p in (pred / "pan_pred").iterdir()) == ["synth_0000_000", "synth_0000_001"]
    assert len(row["report"]["stq"]["per_sequence"]) == 2
    # oracle frame-0 masks: frame 0 is perfect, so the k=0 window finds true positives
    assert row["report"]["veq"]["windows"][0]["tp"] > 0 and 0 < row["STQ_EN"] <= 1
    out = capsys.readouterr().out
    assert "sam2-mask-init" in out and "STQ^EN" in out and (tmp_path / "r.json").is_file()
