"""The two ways to look at an output: write the static viewer to a folder, or serve it.

Both read and check everything first (a bad OUT, --labels or --frames is one
:class:`~entitysam.errors.EntitySAMError` before anything is written), then write the same
static site (:mod:`.site`): into DEST, all or nothing (:func:`entitysam.io.atomic.atomic_dir`),
or into a temporary folder served on 127.0.0.1 and removed when the server stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from entitysam.errors import EntitySAMError
from entitysam.io.atomic import atomic_dir
from entitysam.viewer.load import load_videos
from entitysam.viewer.server import ViewerServer
from entitysam.viewer.site import write_site


def _check_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise EntitySAMError(f"--write {dest}: exists and is a file; choose another folder")
    if dest.exists() and any(dest.iterdir()):
        raise EntitySAMError(f"--write {dest}: folder already exists and is not empty; choose another")
    probe = dest.parent if str(dest.parent) else Path(".")
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise EntitySAMError(f"--write {dest}: cannot create the folder ({probe} is not writable)")


def write_viewer(out: str | os.PathLike, dest: str | os.PathLike, *, frames=None, labels=None,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Write the static viewer of the output ``out`` to ``dest`` (open ``dest/index.html``).

    ``frames``: the segmented video file or frame folder (default: ``out/overlay.mp4``);
    ``labels``: an ``entitysam classify`` output folder or its ``labels.json``.
    """
    dest = Path(dest)
    _check_dest(dest)
    videos = load_videos(out, labels)
    with atomic_dir(dest) as tmp:
        write_site(videos, out, tmp, frames, progress=progress)
    return dest


def serve_viewer(out: str | os.PathLike, *, port: int = 0, frames=None, labels=None,
                 progress: Callable[[str], None] | None = None,
                 ready: Callable[[str], None] | None = None) -> None:
    """Serve the viewer of ``out`` on http://127.0.0.1:``port`` until interrupted.

    ``port=0`` picks a free port; ``ready(url)`` is called once the page can be loaded.
    KeyboardInterrupt (Ctrl-C) propagates after the server and its files are gone.
    """
    videos = load_videos(out, labels)
    folder = Path(tempfile.mkdtemp(prefix="entitysam-view-"))
    try:
        with ViewerServer(folder, port) as server:  # bound first: a busy port fails before any work
            write_site(videos, out, folder, frames, progress=progress)
            if ready:
                ready(server.url)
            server.serve_forever()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
