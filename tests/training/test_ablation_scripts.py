"""benchmarks/ablation_table.py and the option flags of benchmarks/learnability.py (issue 16 §4)."""

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _report(veq1, veq2, s1, s2):
    def res(v):
        return {"VEQ": v, "VEQ_SQ": v + 1, "VEQ_RQ": v + 2, "STQ_EN": v / 100,
                "late_entities": {"late_entities": 8, "recalled": 2, "recall": 0.25}}
    return {"setup": {"seed": 0}, "timings_s": {"stage1_train_s": s1, "stage2_train_s": s2},
            "results": {"stage1": res(veq1), "stage2": res(veq2)}}


def test_ablation_table_rows(tmp_path, monkeypatch, capsys):
    bench = _load("ablation_table")
    for name, rep in (("a", _report(10.0, 20.0, 600, 300)), ("b", _report(11.0, 15.0, 660, 0))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(rep))
    monkeypatch.setattr("sys.argv", ["x", "--out", str(tmp_path / "out"), f"official={tmp_path / 'a'}",
                                     f"no-memory={tmp_path / 'b'}"])
    bench.main()
    rows = json.loads((tmp_path / "out" / "ablations.json").read_text())["rows"]
    assert [(r["run"], r["model"], r["VEQ"], r["training_minutes"]) for r in rows] == [
        ("official", "stage2", 20.0, 15.0), ("no-memory", "stage2", 15.0, 11.0),
        ("official: image-only (stage 1)", "stage1", 10.0, 10.0)]
    md = (tmp_path / "out" / "ablations.md").read_text()
    assert "| no-memory | 15.0 | 16.0 | 17.0 | 0.150 | 0.25 | 11.0 |" in md


def test_learnability_passes_the_options_to_training():
    bench = _load("learnability")
    from entitysam._cli.options import add_model_options

    p = argparse.ArgumentParser()
    p.add_argument("--unmatched-iou-zero", action="store_true")
    add_model_options(p)
    assert bench._option_argv(p.parse_args([])) == []
    argv = ["--no-memory", "--decoder-depth", "1", "--shared-queries", "--no-semantic", "--unmatched-iou-zero",
            "--entity-logits-from", "decoder"]
    assert sorted(bench._option_argv(p.parse_args(argv))) == sorted(argv)
    p.add_argument("--point-loss", type=float, default=0.0)
    p.add_argument("--point-match", type=float, default=0.0)
    p.add_argument("--lsj-scale", default=None)
    assert bench._option_argv(p.parse_args([])) == []
    levers = ["--point-loss", "2.0", "--point-match", "5.0", "--lsj-scale", "0.75,1.5"]
    assert bench._option_argv(p.parse_args(levers)) == levers
    # and entitysam train accepts them as given
    from entitysam._cli.train import add_arguments

    t = argparse.ArgumentParser()
    add_arguments(t)
    a = t.parse_args(["--data", "d", *levers])
    assert (a.point_loss, a.point_match, a.lsj_scale) == (2.0, 5.0, (0.75, 1.5))
    for bad in ("2,1", "0,1", "1", "a,b"):
        with pytest.raises(SystemExit):
            t.parse_args(["--data", "d", "--lsj-scale", bad])


def test_ablation_table_stage1_runs_with_diagnostics(tmp_path, monkeypatch):
    """Stage-1-only runs (learnability --stage2-iters 0): one row each, no stage-2 time, and the
    slot diagnostics of newer reports as extra columns."""
    bench = _load("ablation_table")
    for name, veq, spread in (("a", 12.0, 3.5), ("b", 14.0, 8.0)):
        rep = _report(veq, 0.0, 300, 0)
        del rep["results"]["stage2"], rep["timings_s"]["stage2_train_s"]
        rep["results"]["stage1"] |= {"slot_oracle": {"mean_best_slot_iou": 0.4, "point_spread_px": spread,
                                                     "entities_prompted": 0.25},
                                     "entities_per_video": {"predicted": 1.5}}
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(rep))
    monkeypatch.setattr("sys.argv", ["x", "--out", str(tmp_path / "out"), "--stage", "stage1", "--title", "Levers",
                                     f"official={tmp_path / 'a'}", f"wide={tmp_path / 'b'}"])
    bench.main()
    rows = json.loads((tmp_path / "out" / "ablations.json").read_text())["rows"]
    assert [(r["run"], r["model"], r["VEQ"], r["training_minutes"]) for r in rows] == [
        ("official", "stage1", 12.0, 5.0), ("wide", "stage1", 14.0, 5.0)]
    md = (tmp_path / "out" / "ablations.md").read_text()
    assert md.startswith("# Levers")
    assert "| wide | 14.0 | 15.0 | 16.0 | 0.140 | 0.25 | 5.0 | 0.400 | 8.0 | 0.25 | 1.5 |" in md
