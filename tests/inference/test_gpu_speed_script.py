"""``benchmarks/gpu_speed.py`` runs on a CPU (tiny model, two frames) and writes its JSON."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_speed.py"


def test_gpu_speed_runs_on_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_speed", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    result = bench.main(["--device", "cpu", "--models", "tiny", "--precisions", "fp32", "official-bf16",
                         "--frames", "2", "--size", "64", "--json", str(out)])
    (row,) = result["rows"]
    assert (row["model"], row["precision"], row["frames"]) == ("tiny", "fp32", 2)
    assert row["model_fps"] > 0 and row["end_to_end_fps"] > 0
    assert result["skipped"] == [{"model": "tiny", "precision": "official-bf16", "reason": "needs CUDA"}]
    assert json.loads(out.read_text())["rows"][0]["end_to_end_s_per_frame"] == row["end_to_end_s_per_frame"]
