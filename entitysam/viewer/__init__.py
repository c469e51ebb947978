"""Look at the entities of a segmentation in a browser: ``entitysam view OUT``.

A pipeline (layer 3): it reads an ``entitysam segment`` output (and optionally the labels of
an ``entitysam classify`` output) with the io layer and writes a static, offline viewer -
plain HTML/JS/CSS from ``static/`` plus the data as scripts and the frames as JPEGs - that
either is served on 127.0.0.1 or stays in a folder that works from file://.

Modules, one concept each: :mod:`.model` (what is shown), :mod:`.tracks` (rle.json /
pred.json), :mod:`.identity` (matching ids across files), :mod:`.labels` (labels.json),
:mod:`.load` (all of it for one OUT), :mod:`.frames` (the JPEG frames), :mod:`.site` (the
folder layout), :mod:`.server` (http on 127.0.0.1), :mod:`.run` (write or serve).

Example::

    from entitysam.viewer import write_viewer
    write_viewer("seg_out/", "viewer/", frames="clip.mp4")   # then open viewer/index.html
"""

from __future__ import annotations

from entitysam.viewer.load import load_videos
from entitysam.viewer.run import serve_viewer, write_viewer
from entitysam.viewer.server import ViewerServer
from entitysam.viewer.site import write_site

__all__ = ["load_videos", "serve_viewer", "write_viewer", "write_site", "ViewerServer"]
