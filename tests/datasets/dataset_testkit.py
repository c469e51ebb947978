"""Helpers of the dataset-run tests: a fast per-video runner and file comparisons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.inference.test_segment import FakePredictor

REPO = Path(__file__).resolve().parents[2]


def fake_factory(calls: list | None = None):
    """runner_factory for segment_dataset: the real segment_video with a FakePredictor (built
    once, reset per video by segment_video), recording the videos it ran."""
    from entitysam.segment import segment_video

    def factory(device):
        predictor = FakePredictor()

        def run(video, out, formats):
            if calls is not None:
                calls.append(video.id)
            return segment_video(video.path, out, formats=formats, predictor=predictor, video_name=video.id,
                                 frames=video.frames, progress=False)
        return run
    return factory


def tree_bytes(out: Path, skip=("summary.json", "manifest.json")) -> dict[str, bytes]:
    """relative path -> bytes of every file under ``out`` except the run records and the parts."""
    found = {}
    for p in sorted(Path(out).rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and not rel.startswith(".parts/") and p.name not in skip:
            found[rel] = p.read_bytes()
    return found


def cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """``python -m entitysam ...`` in a subprocess with the worktree on the path."""
    e = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "entitysam", *args], capture_output=True, text=True,
                          env=e, timeout=timeout, cwd=REPO)
