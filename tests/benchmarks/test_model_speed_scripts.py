"""The issue-13 benchmark scripts run and report what they claim (tiny sizes, CPU)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args, tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, *args, "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_attention_kernels_agree_with_float64(tmp_path):
    r = run(["benchmarks/attention_kernels.py", "--tokens", "256", "--memories", "2", "--repeats", "1"], tmp_path)
    err = r["max_abs_error_vs_float64"]
    assert set(err) == {"fp32_tiles", "fp32_fused", "bf16_fused", "bf16_tiles"}
    scale = r["output_max_abs"]
    assert err["fp32_tiles"] < 1e-5 * max(scale, 1) and err["fp32_fused"] < 1e-5 * max(scale, 1)
    # bf16 variants are approximate but must still compute the same attention
    assert err["bf16_fused"] < 0.05 * scale and err["bf16_tiles"] < 0.05 * scale
    assert all(s > 0 for s in r["seconds_median"].values())


def test_model_speed_compares_paths_per_position(tmp_path):
    r = run(["benchmarks/model_speed.py", "--model", "tiny", "--frames", "2", "--repeats", "1",
             "--paths", "reference,fast"], tmp_path)
    # frame 0 is fed 4 times (3 warm-ups), frame 1 once: 5 positions per path
    for path in ("reference", "fast"):
        assert len(r[path]["seconds_per_position_median"]) == 5
        assert r[path]["peak_rss_gb"] > 0
    assert len(r["speedup_per_position"]) == 5
    ref, fast = r["reference"]["seconds_per_position_median"], r["fast"]["seconds_per_position_median"]
    assert r["speedup_per_position"][0] == ref[0] / fast[0]


def test_fast_modes_benchmark_reports_speed_and_quality(tmp_path):
    """benchmarks/fast_modes.py (issue 15 §3) on the tiny model: the speed rows time the mode they
    name (memories, active slots, input side) and the quality rows are scored by the evaluator."""
    ckpt = ROOT / "benchmarks" / "results" / "learnability" / "tiny_stage2.pth"
    r = run(["benchmarks/fast_modes.py", "--quick", "--speed-model", "tiny", "--checkpoint", str(ckpt),
             "--modes", "max-memories 2,prune: 1/2,input 1/2,prune 0.2 (M=2"], tmp_path)
    speed = r["speed"]["modes"]
    assert set(speed) == {"official", "max-memories 2", "prune: 1/2 of the slots active", "input 1/2"}
    assert len(r["speed"]["official_runs"]) == 2  # first and last
    assert speed["official"]["memories"] == 7 and speed["official"]["input_size"] == 256
    assert speed["max-memories 2"]["memories"] == 2
    assert speed["prune: 1/2 of the slots active"]["active_slots"] == 6  # of the tiny model's 12
    assert speed["input 1/2"]["input_size"] == 128
    for row in speed.values():
        assert row["speedup"] == speed["official"]["per_frame_s"] / row["per_frame_s"]
    quality = r["quality"]["modes"]
    assert set(quality) == {"official", "max-memories 2", "prune 0.2 (M=2, R=5)", "input 1/2"}
    assert quality["input 1/2"]["fast_modes"] == {"input_size": 128}
    assert 0 < quality["prune 0.2 (M=2, R=5)"]["computed_slot_share"] <= 1
    for row in quality.values():
        assert 0 <= row["VEQ"] <= 100 and 0 <= row["STQ_EN"] <= 1
