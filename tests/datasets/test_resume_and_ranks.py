"""The tiny model through the command line, in subprocesses: a run killed with SIGKILL after
its first video resumes to the uninterrupted run's bytes without touching the finished video;
`torchrun --nproc_per_node 2` (gloo, CPU) writes the same bytes as one process."""

import json
import os
import signal
import sys

import pytest

from entitysam.synthetic.datasets import write_mini_dataset
from tests.datasets.dataset_testkit import REPO, cli, tree_bytes

FORMATS = "panoptic,rle,ytvis"
V0 = "synth_0000_000"


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """(dataset root, uninterrupted single-process output)."""
    base = tmp_path_factory.mktemp("resume")
    root = write_mini_dataset(base / "data", "vipseg", num_videos=3, num_frames=2, size=(24, 32))
    ref = base / "reference"
    r = cli("segment", str(root), "--dataset", "vipseg", "--model", "tiny", "-o", str(ref),
            "--formats", FORMATS, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [f"3 videos, 6 frames, "
                                             f"{json.loads((ref / 'summary.json').read_text())['entities']} "
                                             f"entities (0 already done) -> {ref}"]
    return root, ref


def args(root, out):
    return ("segment", str(root), "--dataset", "vipseg", "--model", "tiny", "-o", str(out),
            "--formats", FORMATS, "--no-progress")


def video_files(out, video):
    files = [*(out / "pan_pred" / video).iterdir(), out / "rle" / f"{video}.json",
             *(out / ".parts" / video).iterdir()]
    return {str(p): p.stat().st_mtime_ns for p in files}


def test_sigkill_then_resume(mini, tmp_path):
    root, ref = mini
    out = tmp_path / "out"
    r = cli(*args(root, out), env={"ENTITYSAM_TEST_KILL_AFTER_VIDEOS": "1"})
    assert r.returncode == -signal.SIGKILL, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["status"].values()) == ["pending"] * 3  # written at the start
    done = [v for v in manifest["status"] if (out / ".parts" / v / "summary.json").is_file()]
    assert done == [V0] and not (out / "pred.json").exists()
    before = video_files(out, V0)
    # what a kill in the middle of a video leaves behind: a temporary part
    (out / ".parts" / ".synth_0000_001.partial-dead").mkdir()
    (out / ".parts" / ".synth_0000_001.partial-dead" / "pred.json").write_text("{")
    r = cli(*args(root, out))
    assert r.returncode == 0, r.stderr
    assert "(1 already done)" in r.stdout
    assert video_files(out, V0) == before  # the finished video was not redone nor rewritten
    assert not (out / ".parts" / ".synth_0000_001.partial-dead").exists()
    assert tree_bytes(out) == tree_bytes(ref) and (out / "pred.json").is_file()
    status = json.loads((out / "manifest.json").read_text())["status"]
    assert set(status.values()) == {"done"}
    # once complete, the same command again redoes nothing
    r = cli(*args(root, out))
    assert r.returncode == 0 and "(3 already done)" in r.stdout
    assert video_files(out, V0) == before and tree_bytes(out) == tree_bytes(ref)


def test_torchrun_two_ranks_write_the_same_bytes(mini, tmp_path):
    import subprocess

    root, ref = mini
    out = tmp_path / "two"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "entitysam", *args(root, out)], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len([line for line in r.stdout.splitlines() if "videos" in line]) == 1  # rank 0 only
    assert tree_bytes(out) == tree_bytes(ref)
    assert sorted(tree_bytes(out)) == sorted(tree_bytes(ref)) and "pred.json" in tree_bytes(out)
