"""Overlay video: ``<root>/overlay.mp4``, H.264 (PyAV, libx264, yuv420p).

Each entity is alpha-blended over the input frame in a stable colour
(:func:`entity_colour` of its id) and outlined with a 1-pixel contour in the same colour.
yuv420p needs even sides: an odd height/width is padded by repeating the last row/column.
The frame rate is the source's (25 fps for folders of frames).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from entitysam.io.writers.base import Writer, entity_colour

DEFAULT_FPS = 25


def contour(id_map: np.ndarray) -> np.ndarray:
    """(H, W) bool: entity pixels with a 4-neighbour of another id (1-px inner contour)."""
    edge = np.zeros(id_map.shape, dtype=bool)
    edge[1:] |= id_map[1:] != id_map[:-1]
    edge[:-1] |= id_map[:-1] != id_map[1:]
    edge[:, 1:] |= id_map[:, 1:] != id_map[:, :-1]
    edge[:, :-1] |= id_map[:, :-1] != id_map[:, 1:]
    return edge & (id_map > 0)


def render_overlay(rgb: np.ndarray, id_map: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 frame + (H, W) ids -> (H, W, 3) uint8 overlay."""
    top = int(id_map.max(initial=0))
    colours = np.array([(0, 0, 0)] + [entity_colour(i) for i in range(1, top + 1)], dtype=np.float32)
    col = colours[id_map]
    fg = (id_map > 0)[..., None]
    out = np.where(fg, (1 - alpha) * rgb.astype(np.float32) + alpha * col, rgb.astype(np.float32))
    edge = contour(id_map)
    out[edge] = col[edge]
    return out.round().clip(0, 255).astype(np.uint8)


class OverlayWriter(Writer):
    name = "overlay"
    needs_rgb = True
    filename = "overlay.mp4"

    def __init__(self, root, alpha: float = 0.5, crf: int = 20):
        super().__init__(root)
        self.alpha, self.crf = alpha, crf
        self._container = None

    def open(self, video_name, frame_size, fps):
        import av

        h, w = frame_size
        self._pad = (h % 2, w % 2)
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(DEFAULT_FPS)
        self._container = av.open(str(self.root / self.filename), mode="w")
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = w + self._pad[1], h + self._pad[0]
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}

    def write_frame(self, frame_index, frame_name, id_map, segments, rgb_frame):
        import av

        img = render_overlay(np.asarray(rgb_frame), id_map, self.alpha)
        if any(self._pad):
            img = np.pad(img, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self):
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def abort(self):
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the output is discarded anyway
                pass
            self._container = None
