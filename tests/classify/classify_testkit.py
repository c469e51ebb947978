"""Test helpers for ``entitysam classify``: a scripted chat-completions server on 127.0.0.1
and a synthetic video whose entities have known categories (fixtures in conftest.py).

The scene (H x W = 48 x 64, 8 frames): a sky band on top split into two tracks (left and
right halves, both "sky", stuff), a road band at the bottom ("road", stuff), a person
(red rectangle, moves right) and a car (blue rectangle, absent from frame 0 only). A
strip between the bands belongs to no entity (void). Each entity has a distinct flat colour,
so the fake server answers by looking at the crop's centre pixel.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

H, W, T = 48, 64, 8  # 8 frames: every VPQ window size (1..8) has a window
# entity id -> (category name, colour); 1 and 2 are the two sky tracks
ENTITIES = {
    1: ("sky", (120, 200, 250)),
    2: ("sky", (120, 200, 250)),
    3: ("road", (90, 90, 90)),
    4: ("person", (220, 30, 30)),
    5: ("car", (30, 40, 220)),
}
COLOURS = {name: colour for name, colour in ENTITIES.values()}
VIPSEG_IDS = {"sky": 28, "road": 18, "person": 60, "car": 48}


def entity_maps() -> list[np.ndarray]:
    """T id maps (H, W) int32 of the scene (module docstring)."""
    maps = []
    for t in range(T):
        m = np.zeros((H, W), np.int32)
        m[0:14, 0:32] = 1
        m[0:14, 32:64] = 2
        m[36:48, :] = 3
        m[16:34, 4 + 3 * t:14 + 3 * t] = 4  # person, moving
        if t >= 1:
            m[20:32, 40:58] = 5  # car
        maps.append(m)
    return maps


def frame_image(m: np.ndarray) -> Image.Image:
    rgb = np.full((H, W, 3), 255, np.uint8)  # void strip: white
    for eid, (_, colour) in ENTITIES.items():
        rgb[m == eid] = colour
    return Image.fromarray(rgb)


@dataclass
class Scene:
    root: Path
    frames: Path  # folder of frames
    tracks: Path  # entitysam segment output (panoptic)
    rle_tracks: Path  # entitysam segment output (rle)
    maps: list[np.ndarray]
    names: list[str]


def write_segment_output(out: Path, fmt: str, maps, names, scores=None) -> None:
    """TRACKS written by the real segment writers from the id maps."""
    from entitysam.core.segments import SegmentInfo
    from entitysam.inference.merge.steps import frame_segments
    from entitysam.io.writers import WRITERS

    scores = scores or {i: 0.5 + i / 20 for i in ENTITIES}
    infos = {i: SegmentInfo(i, slot=10 + i, score=scores[i], mean_eiou=0.5, quality=0.1,
                            overlap_ratio=1.0) for i in ENTITIES}
    out.mkdir(parents=True)
    writer = WRITERS[fmt](out)
    writer.open("vid0", (H, W), None)
    for t, (m, name) in enumerate(zip(maps, names)):
        writer.write_frame(t, name, m, frame_segments(m, infos), None)
    writer.close()


def make_scene(tmp_path) -> Scene:
    """The scene's frames and its segment outputs (panoptic and rle) under ``tmp_path``."""
    maps = entity_maps()
    names = [f"{t:05d}.png" for t in range(T)]  # lossless frames: colours stay exact
    frames = tmp_path / "frames"
    frames.mkdir()
    for m, name in zip(maps, names):
        frame_image(m).save(frames / name)
    write_segment_output(tmp_path / "seg", "panoptic", maps, names)
    write_segment_output(tmp_path / "seg_rle", "rle", maps, names)
    return Scene(tmp_path, frames, tmp_path / "seg", tmp_path / "seg_rle", maps, names)


# ----------------------------------------------------------------------------- fake server


def centre_colour_answer(image: Image.Image) -> str:
    """The scene category whose colour is nearest to the crop's centre pixel."""
    px = np.asarray(image.convert("RGB"))[image.height // 2, image.width // 2].astype(int)
    return min(COLOURS, key=lambda n: int(((np.array(COLOURS[n]) - px) ** 2).sum()))


@dataclass
class FakeChatServer:
    """A chat-completions server with scripted behaviour.

    ``script``: a queue of actions used one per request before falling back to ``default``;
    an action is ("answer", text) | ("status", code) | ("status", code, retry_after) |
    ("timeout", seconds) | ("raw", bytes) | ("centre",) (answer by the crop's centre colour).
    Every request is checked (model, base64 PNG data URL, candidate names in the prompt);
    problems are collected in ``problems`` and answered with HTTP 400.
    """

    url: str = ""
    expect_names: list[str] = field(default_factory=list)
    script: deque = field(default_factory=deque)
    default: tuple = ("centre",)
    requests: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, body: dict) -> Image.Image | None:
        try:
            user = body["messages"][-1]["content"]
            text = " ".join(p["text"] for p in user if p["type"] == "text")
            (url,) = [p["image_url"]["url"] for p in user if p["type"] == "image_url"]
        except (KeyError, TypeError, ValueError) as exc:
            self.problems.append(f"malformed request: {exc!r}")
            return None
        if not body.get("model"):
            self.problems.append("no model")
        prefix = "data:image/png;base64,"
        if not url.startswith(prefix):
            self.problems.append(f"image is not a base64 PNG data URL: {url[:40]}")
            return None
        missing = [n for n in self.expect_names if n not in text]
        if missing:
            self.problems.append(f"candidates missing from the prompt: {missing}")
        return Image.open(io.BytesIO(base64.b64decode(url[len(prefix):]))).convert("RGB")


def _handler(server: FakeChatServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with server.lock:
                server.requests.append(body)
                server.auth.append(self.headers.get("Authorization"))
                action = server.script.popleft() if server.script else server.default
            if self.path != "/v1/chat/completions":
                return self._send(404, b'{"error": "not found"}')
            image = server.check(body)
            if image is None:
                return self._send(400, b'{"error": "bad request"}')
            kind = action[0]
            if kind == "status":
                headers = {"Retry-After": str(action[2])} if len(action) > 2 else {}
                return self._send(action[1], b'{"error": {"message": "scripted failure"}}', headers)
            if kind == "timeout":
                time.sleep(action[1])
                return self._send(200, _completion("late"))
            if kind == "raw":
                return self._send(200, action[1])
            text = action[1] if kind == "answer" else centre_colour_answer(image)
            return self._send(200, _completion(text))

        def _send(self, code, payload: bytes, headers=None):
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

    return Handler


def _completion(text: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "model": "fake",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text}}]}).encode()


@contextlib.contextmanager
def running_chat_server():
    """A running FakeChatServer on 127.0.0.1 (random free port); ``.url`` ends in /v1."""
    fake = FakeChatServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
