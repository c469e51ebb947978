"""Read a JSON input file; a missing or malformed file is a one-line error naming it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from entitysam.errors import EntitySAMError


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def load_json(path: str | os.PathLike, what: str) -> Any:
    """Read a JSON file; a missing or malformed file is a one-line error naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise EntitySAMError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EntitySAMError(f"malformed {what} {path}: {one_line(exc)}") from None
