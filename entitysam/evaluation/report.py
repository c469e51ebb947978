"""Readable tables of the evaluation reports (the JSON report is the machine-readable one)."""

from __future__ import annotations


def _fmt(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _window_table(rows: list[tuple[str, list[float], float]], ks: list[int], digits: int) -> list[str]:
    head = f"{'':<12}" + "".join(f"{'k=' + str(k):>10}" for k in ks) + f"{'mean':>10}"
    lines = [head]
    for name, values, mean in rows:
        lines.append(f"{name:<12}" + "".join(f"{_fmt(v, digits):>10}" for v in values) + f"{_fmt(mean, digits):>10}")
    return lines


def entity_table(report: dict) -> str:
    """VEQ per window (x100) and STQ^EN (fractions)."""
    veq, stq = report["veq"], report["stq"]
    ks = [w["k"] for w in veq["windows"]]
    rows = [
        (label, [w[key] for w in veq["windows"]], veq[key])
        for label, key in (("VEQ", "VEQ"), ("VEQ^SQ", "VEQ_SQ"), ("VEQ^RQ", "VEQ_RQ"))
    ]
    lines = ["Video entity quality (x100; class-agnostic VPQ over k-frame windows)"]
    lines += _window_table(rows, ks, 4)
    lines.append("")
    lines.append(
        f"STQ^EN  STQ {_fmt(stq['STQ'], 6)}  AQ {_fmt(stq['AQ'], 6)}  "
        f"IoU (SQ term) {_fmt(stq['IoU'], 6)}  ({len(stq['per_sequence'])} sequences, "
        f"{stq['total_gt_tubes']} GT tubes)"
    )
    lines += _footer(report)
    return "\n".join(lines)


def panoptic_table(report: dict) -> str:
    """VPQ all/things/stuff per window (x100) and class-aware STQ."""
    vpq, stq = report["vpq"], report["stq"]
    ks = [w["k"] for w in vpq["windows"]]
    rows = [
        (label, [w[key] for w in vpq["windows"]], vpq.get(key))
        for label, key in (("VPQ", "VPQ"), ("VPQ_thing", "VPQ_thing"), ("VPQ_stuff", "VPQ_stuff"),
                           ("SQ", "SQ"), ("RQ", "RQ"))
    ]
    lines = ["Video panoptic quality (x100, VIPSeg)"]
    lines += _window_table(rows, ks, 4)
    lines.append("")
    lines.append(f"STQ  STQ {_fmt(stq['STQ'], 6)}  AQ {_fmt(stq['AQ'], 6)}  IoU {_fmt(stq['IoU'], 6)}")
    lines += _footer(report)
    return "\n".join(lines)


def semantic_table(report: dict) -> str:
    """VSPW mIoU, mVC8, mVC16 (fractions)."""
    lines = ["VSPW video semantic segmentation (fractions)"]
    for key in ("mIoU", "mVC8", "mVC16"):
        lines.append(f"{key:<8}{_fmt(report[key], 6):>12}")
    return "\n".join(lines)


def instance_table(report: dict) -> str:
    """YouTube-VIS / OVIS AP/AR (fractions, as the API's summarize())."""
    lines = [f"Video instance segmentation ({report.get('benchmark', 'ytvis')}; fractions)"]
    for key, value in report.items():
        if isinstance(value, float):
            lines.append(f"{key:<10}{value:>10.4f}")
    return "\n".join(lines)


def _footer(report: dict) -> list[str]:
    lines = []
    miss = report.get("missing")
    if miss and miss.get("videos"):
        how = {"skip": "left out of both metrics", "empty": "evaluated as empty predictions"}
        lines.append(
            f"missing videos ({miss['mode']}: {how.get(miss['mode'], '')}): " + ", ".join(miss["videos"])
        )
    if report.get("fixed"):
        lines.append("--fixed: STQ quirks corrected (no first-segment crowd, void column not averaged)")
    return lines
