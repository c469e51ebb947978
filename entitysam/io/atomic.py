"""Write outputs so that nothing half-written is ever left behind.

Files and folders are written under a temporary name in the same directory and renamed
into place at the end; on any exception the temporary is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` on success.

    ``final`` must not exist yet (an existing folder is replaced only after success if it is
    empty). On failure the temporary folder is deleted and ``final`` is untouched.
    """
    final = Path(final)
    parent = final.parent if str(final.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=parent))
    try:
        yield tmp
        if final.exists():
            if final.is_dir() and not any(final.iterdir()):
                final.rmdir()
            else:
                raise FileExistsError(f"{final} already exists")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``final``; rename it to ``final`` when the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.partial-", dir=final.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
