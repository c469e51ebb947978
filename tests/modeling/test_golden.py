"""Golden parity with the official implementation (../shared/golden/model-vits-v1, copied to tests/data).

The full check runs the ViT-S model on CPU (about 6 minutes on 2 cores); it is marked slow
and runs in CI. The fast tests show the check itself can fail.
"""

import json
import shutil

import numpy as np
import pytest

from entitysam.cli import main
from entitysam.golden import _compare, golden_weight, pool


@pytest.mark.slow
def test_golden_check_vits(golden_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    rc = main(["golden", "check", str(golden_dir / "model-vits-v1"), "--json", str(out)])
    report = json.loads(out.read_text())
    failed = {k: v for k, v in report["fields"].items() if not v["ok"]}
    assert report["weights"]["ok"] and report["weights"]["tensors"] == 777
    assert not failed, failed
    recorded = np.load(golden_dir / "model-vits-v1" / "golden.npz").files
    assert len(report["fields"]) == len(recorded) - 2 == 41  # every recorded field but the two id maps
    assert report["panoptic"] and all(p["ok"] for p in report["panoptic"].values()), report["panoptic"]
    assert rc == 0 and report["ok"]


def test_golden_check_refuses_tampered_weights(golden_dir, tmp_path, capsys):
    """A checksum that does not match the rule stops the check with a non-zero exit."""
    folder = tmp_path / "g"
    shutil.copytree(golden_dir / "model-vits-v1", folder)
    (folder / "frames").chmod(0o755)
    sums = json.loads((folder / "weights_checksums.json").read_text())
    sums["tensors"]["no_mem_embed"]["sha256_f32le"] = "0" * 64
    (folder / "weights_checksums.json").chmod(0o644)
    (folder / "weights_checksums.json").write_text(json.dumps(sums))
    assert main(["golden", "check", str(folder)]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["weights"]["checksum_mismatches"] == ["no_mem_embed"] and not report["ok"]
    assert "golden check FAILED: weights" in captured.err


def test_golden_weight_rule_branches():
    v, b = golden_weight("sam_mask_decoder.output_upscaling.0.weight", (256, 64, 2, 2))
    assert b == "fan_in" and v.dtype == np.float32
    rng = np.random.Generator(np.random.PCG64(__import__("zlib").crc32(b"sam_mask_decoder.output_upscaling.0.weight")))
    ref = (rng.standard_normal((256, 64, 2, 2)) / np.sqrt(64 * 2 * 2)).astype(np.float32)
    assert np.array_equal(v, ref)
    assert golden_weight("x.in_proj_bias", (3,))[1] == "bias"
    assert golden_weight("memory_encoder.fuser.layers.0.gamma", (4,))[1] == "norm_or_scale"
    assert golden_weight("image_encoder.trunk.pos_embed", (1, 2, 3, 3))[1] == "named_half"


def test_compare_rules_detect_differences():
    ref = np.zeros((4, 3))
    assert _compare("a", ref + 1e-5, ref, {"abs": 1e-4})["ok"]
    assert not _compare("a", ref + 1e-3, ref, {"abs": 1e-4})["ok"]
    stats = np.array([[0.0, 100.0, 50.0]])
    tol = {"abs": [1e-4, 66, None], "rel": [None, None, 1e-4]}
    assert _compare("s", stats + [0, 60, 0.001], stats, tol)["ok"]
    assert not _compare("s", stats + [0, 70, 0], stats, tol)["ok"]
    assert not _compare("s", stats + [0, 0, 0.1], stats, tol)["ok"]
    frac = {"abs": 0.01, "min_fraction_within": 0.999}
    x = np.zeros(10000)
    y = x.copy(); y[:5] = 1
    assert _compare("f", y, x, frac)["ok"] and not _compare("f", np.r_[np.ones(20), x[20:]], x, frac)["ok"]
    assert not _compare("p", np.ones(3), np.ones(2), {"abs": 1})["ok"]


def test_pool_is_blockwise_mean():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    assert pool(x, 2, (1, 2)).tolist() == [[[2.5, 4.5], [10.5, 12.5]]]
