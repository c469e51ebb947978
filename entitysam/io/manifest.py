"""The run folder of a dataset run: manifest, per-video parts, resume.

Layout under OUT::

    manifest.json            what the run is (dataset, videos in order, checkpoint, options)
                             and each video's status (pending | done), rewritten by rank 0
    .parts/<video>/          one finished video, renamed into place atomically when complete:
                             summary.json and the files that get assembled (pred.json, ytvis.json)
    .parts/.<video>.partial-*  a video in progress (removed when a run starts or resumes)

A video is done exactly when ``.parts/<video>/summary.json`` exists: the part folder appears by
one rename, so a process killed at any moment loses at most the video it was on. A new run
into an OUT whose manifest records other options is refused (one line naming the first
difference).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from entitysam.errors import EntitySAMError
from entitysam.io.atomic import atomic_file, check_out_dir

MANIFEST = "manifest.json"
PARTS = ".parts"
FORMAT = "entitysam-dataset-run/1"


def part_dir(out: Path, video: str) -> Path:
    return Path(out) / PARTS / video


def is_done(out: Path, video: str) -> bool:
    return (part_dir(out, video) / "summary.json").is_file()


def read_manifest(out: Path) -> dict | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise EntitySAMError(f"{path}: unreadable manifest; remove OUT or choose another -o") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EntitySAMError(f"{path}: not a manifest of an entitysam dataset run")
    return data


def check_run_dir(out: Path, run: dict) -> bool:
    """Can ``run`` (the manifest's ``run`` record) go into ``out``? True = resume.

    Raises EntitySAMError when OUT is a file, is non-empty without a manifest, or holds a run
    with other options.
    """
    out = Path(out)
    existing = read_manifest(out) if out.is_dir() else None
    if existing is None:
        check_out_dir(out)
        return False
    old = existing.get("run", {})
    run = json.loads(json.dumps(run))  # as it reads back (tuples are lists in JSON)
    for key in list(run) + [k for k in old if k not in run]:
        if old.get(key) != run.get(key):
            raise EntitySAMError(
                f"{out} holds a run with other options ({key}: {_short(old.get(key))} there, "
                f"{_short(run.get(key))} now); re-run with the same options or choose another -o")
    return True


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def write_manifest(out: Path, run: dict, videos: list[str], skipped: list[tuple[str, str]]) -> None:
    """Write (atomically) the manifest with each video's current status."""
    out = Path(out)
    data = {"format": FORMAT, "run": run,
            "status": {v: ("done" if is_done(out, v) else "pending") for v in videos},
            "skipped": [{"video": v, "problem": p} for v, p in skipped]}
    with atomic_file(out / MANIFEST, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def clean_partials(out: Path) -> None:
    """Remove what killed runs left half-done (temporary part folders and files)."""
    parts = Path(out) / PARTS
    if parts.is_dir():
        for p in parts.iterdir():
            if p.name.startswith(".") and ".partial-" in p.name:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    for p in Path(out).glob(".*.partial-*"):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
