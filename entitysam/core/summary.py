"""The record of one segmentation run (``summary.json``), shared by every segmentation pipeline."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field


@dataclass
class SegmentSummary:
    """What a run produced. ``peak_rss_mib`` is the process's peak resident set size;
    ``cpu_seconds`` the CPU time the process used while ``seconds`` of wall time passed (less
    sensitive than wall time to other load on a shared machine)."""

    out_dir: str
    video: str
    frames: int
    entities: int
    seconds: float
    seconds_per_frame: float
    peak_rss_mib: float
    formats: list[str]
    online: bool
    spill_bytes: int = 0
    cpu_seconds: float | None = None  # process CPU time (all threads) over the same interval as seconds
    segments: list[dict] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.frames} frames, {self.entities} entities, {self.seconds_per_frame:.3f} s/frame, "
                f"peak RSS {self.peak_rss_mib:.0f} MiB -> {self.out_dir}")


def peak_rss_mib() -> float:
    """Peak RSS of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if os.uname().sysname == "Darwin" else rss / 1024
