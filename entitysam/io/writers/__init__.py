"""Output writers, one module per format, behind one interface (:class:`Writer`).

=========  ==========================================  ===========================
format     files under OUTDIR                          module
=========  ==========================================  ===========================
panoptic   ``pan_pred/<video>/<stem>.png``, pred.json  :mod:`.panoptic`
rle        ``rle.json``                                :mod:`.rle`
ytvis      ``ytvis.json``                              :mod:`.ytvis`
davis      ``davis/<video>/<stem>.png``                :mod:`.davis`
overlay    ``overlay.mp4``                             :mod:`.overlay`
=========  ==========================================  ===========================
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from entitysam.errors import EntitySAMError
from entitysam.io.rle import FrameRLE
from entitysam.io.writers.base import Writer, entity_colour
from entitysam.io.writers.davis import DAVISWriter
from entitysam.io.writers.overlay import OverlayWriter
from entitysam.io.writers.panoptic import PanopticWriter
from entitysam.io.writers.rle import RLEWriter
from entitysam.io.writers.ytvis import YTVISWriter

WRITERS: dict[str, type[Writer]] = {
    w.name: w for w in (PanopticWriter, RLEWriter, YTVISWriter, DAVISWriter, OverlayWriter)
}


def parse_formats(formats) -> list[str]:
    """'panoptic,overlay' or an iterable of names -> validated list without duplicates."""
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    out = []
    for f in formats:
        if f not in WRITERS:
            raise EntitySAMError(f"unknown format {f!r}; choose from {','.join(WRITERS)}")
        if f not in out:
            out.append(f)
    if not out:
        raise EntitySAMError(f"no output format given; choose from {','.join(WRITERS)}")
    return out


def make_writers(formats, root) -> list[Writer]:
    """One writer per format; the RLE-based ones share one :class:`FrameRLE`, so that each
    entity mask of a frame is encoded once."""
    rles = FrameRLE()
    return [WRITERS[f](root, rles=rles) if f in ("rle", "ytvis") else WRITERS[f](root)
            for f in parse_formats(formats)]


@contextlib.contextmanager
def open_writers(formats, root, info) -> Iterator[list[Writer]]:
    """Writers of ``formats`` opened for the video ``info`` (name, size, fps); closed when the
    block succeeds, aborted (partial files dropped) when it raises."""
    writers = make_writers(formats, root)
    try:
        for w in writers:
            w.open(info.name, info.size, info.fps)
        yield writers
        for w in writers:
            w.close()
    except BaseException:
        for w in writers:
            w.abort()
        raise


__all__ = ["Writer", "WRITERS", "entity_colour", "make_writers", "open_writers", "parse_formats",
           "PanopticWriter", "RLEWriter", "YTVISWriter", "DAVISWriter", "OverlayWriter"]
