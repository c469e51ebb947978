"""Write outputs so that nothing half-written is ever left behind.

Files and folders are written under a temporary name in the same directory and renamed
into place at the end; on any exception the temporary is removed, and so are the parent
folders that were created for it. Final outputs get the ordinary permissions of the
process (``0o777`` / ``0o666`` minus the umask), not the private ``0o700`` / ``0o600`` of
:mod:`tempfile`: results shared on a cluster stay readable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from entitysam.errors import EntitySAMError


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; return the folders it created, deepest first."""
    created: list[Path] = []
    probe = folder
    while not probe.exists():
        created.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    return created


def _remove_created(created: list[Path]) -> None:
    """Remove the folders :func:`_make_parents` created, deepest first, if still empty."""
    for d in created:
        try:
            d.rmdir()
        except OSError:  # not empty (someone else wrote there) or already gone: leave it
            return


def _temp_name(final: Path) -> Path:
    return final.parent / f".{final.name}.partial-{secrets.token_hex(4)}"


def _mkdir_temp(final: Path) -> Path:
    """A new empty folder beside ``final``, mode ``0o777`` minus the umask (``os.mkdir``)."""
    for _ in range(100):
        tmp = _temp_name(final)
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(final))


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` on success.

    ``final`` must not exist yet (an existing folder is replaced only after success if it is
    empty). On failure the temporary folder and the parents created for it are deleted and
    ``final`` is untouched.
    """
    final = Path(final)
    parent = final.parent if str(final.parent) else Path(".")
    created = _make_parents(parent)
    try:
        tmp = _mkdir_temp(final)
    except BaseException:
        _remove_created(created)
        raise
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
        _remove_created(created)
        raise


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``final``; rename it to ``final`` when the block succeeds.

    The file gets mode ``0o666`` minus the umask, as ``open()`` would give it.
    """
    final = Path(final)
    created = _make_parents(final.parent)
    try:
        for _ in range(100):
            tmp = _temp_name(final)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(errno.EEXIST, "no free temporary name", str(final))
    except BaseException:
        _remove_created(created)
        raise
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _remove_created(created)
        raise


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Fail early (before any work) when OUTDIR cannot receive the results."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EntitySAMError(f"{out}: exists and is a file, not an output folder; choose another -o")
    if out.exists() and any(out.iterdir()):
        raise EntitySAMError(f"{out}: output folder already exists and is not empty; choose another -o")
    parent = out.parent if str(out.parent) else Path(".")
    probe = parent
    while not probe.exists():  # the first existing ancestor must be writable (mkdir -p)
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise EntitySAMError(f"{out}: cannot create the output folder ({probe} is not writable)")
    return out
