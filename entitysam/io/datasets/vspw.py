"""VSPW (``VSPW_480p/`` as distributed): ``<split>.txt`` lists the videos, one per line;
frames are ``data/<video>/origin/*.jpg`` (masks ``data/<video>/mask/*.png``)."""

from __future__ import annotations

from pathlib import Path

from entitysam.errors import EntitySAMError
from entitysam.io.datasets.base import folder_video


def list_vspw(root: Path, split: str):
    """(videos or problems in list order, the list path)."""
    path = root / f"{split}.txt"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise EntitySAMError(f"VSPW video list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EntitySAMError(f"cannot read VSPW video list {path}: {exc}") from None
    ids = [line.strip() for line in lines if line.strip()]
    return [folder_video(vid, root / "data" / vid / "origin") for vid in ids], path
