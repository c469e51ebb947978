"""`entitysam view`: --write (all or nothing), serving on 127.0.0.1, option and input mistakes."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from entitysam.cli import main
from entitysam.errors import EntitySAMError
from entitysam.viewer import ViewerServer, write_viewer

ROOT = Path(__file__).resolve().parents[2]


def data_of(site: Path) -> dict:
    text = (site / "data.js").read_text()
    return json.loads(text[text.index("{"):text.rindex("}") + 1])


def one_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), (code, err)
    return err[0]


def test_write_with_frames_from_the_input_folder(tmp_path, clip, capsys):
    out, frames, _ = clip
    site = tmp_path / "a" / "site"
    assert main(["view", str(out), "--write", str(site), "--frames", str(frames), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {site / 'index.html'}"
    assert data_of(site)["videos"][0]["frames_kind"] == "input"
    assert sorted(p.name for p in site.iterdir()) == sorted(
        ["index.html", "viewer.css", "rle.js", "store.js", "entities.js", "viewer.js", "data.js", "frames", "masks"])


def test_write_with_frames_from_a_video_or_the_overlay(tmp_path, clip):
    out, _, mp4 = clip
    (video,) = data_of(write_viewer(out, tmp_path / "v", frames=mp4))["videos"]
    assert video["frames_kind"] == "input" and len(list((tmp_path / "v" / "frames" / "0").iterdir())) == 8
    (video,) = data_of(write_viewer(out, tmp_path / "o"))["videos"]
    assert video["frames_kind"] == "overlay" and any("overlay.mp4" in n for n in video["notes"])


@pytest.mark.parametrize("case,match", [
    ("missing", "no such folder"),
    ("not_output", "no rle.json or pred.json"),
    ("frames_size", "frames are 32x32 but the masks of clip are 64x48"),
    ("frames_missing", "no frame for '00000000.png'"),
    ("dest_full", "folder already exists and is not empty"),
    ("labels", "no labels.json"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, clip, capsys, case, match):
    out, frames, _ = clip
    dest = tmp_path / "new" / "site"
    argv = ["view", str(out), "--write", str(dest), "--quiet"]
    if case == "missing":
        argv[1] = str(tmp_path / "nope")
    elif case == "not_output":
        argv[1] = str(tmp_path)
    elif case in ("frames_size", "frames_missing"):
        small = tmp_path / "small"
        small.mkdir()
        for t in range(8):
            Image.new("RGB", (32, 32)).save(small / (f"{t:08d}.png" if case == "frames_size" else f"x{t}.png"))
        argv += ["--frames", str(small)]
    elif case == "dest_full":
        dest.mkdir(parents=True)
        (dest / "keep.txt").write_text("mine")
    elif case == "labels":
        argv += ["--labels", str(tmp_path / "nolabels")]
    line = one_error(capsys, argv)
    assert match in line, line
    if case == "dest_full":
        assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    else:
        assert not (tmp_path / "new").exists()  # not the folder, not its parent, no .partial


@pytest.mark.parametrize("argv,match", [
    (["--port", "70000"], "--port: must be a port number 0..65535, got 70000"),
    (["--port", "-1"], "--port: must be a port number"),
    (["--port", "x"], "--port: expected an integer"),
    (["--port", "0", "--write", "somewhere"], "--port applies only when serving"),
])
def test_option_mistakes(capsys, clip, argv, match):
    out, _, _ = clip
    assert match in one_error(capsys, ["view", str(out), *argv])


def test_server_serves_the_folder_on_localhost(tmp_path):
    (tmp_path / "index.html").write_text("<p>hi</p>")
    with ViewerServer(tmp_path, 0).start() as server:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        with urllib.request.urlopen(server.url, timeout=10) as r:
            assert r.status == 200 and r.read() == b"<p>hi</p>"
        with pytest.raises(EntitySAMError, match="pass --port 0"):
            ViewerServer(tmp_path, server.port)  # the port is taken


def test_view_command_serves_until_ctrl_c(clip):
    out, frames, _ = clip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # A shell without job control starts background jobs with SIGINT ignored, and a Python
    # started that way gets no KeyboardInterrupt: give the child the terminal's default, as
    # when a user runs `entitysam view` and presses Ctrl-C (also when the tests run in `cmd &`).
    proc = subprocess.Popen([sys.executable, "-m", "entitysam", "view", str(out), "--frames", str(frames),
                             "--port", "0", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=60)
        assert line and line[0].startswith(f"serving {out} at http://127.0.0.1:"), (line, proc.poll())
        url = line[0].split(" at ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b'id="frame"' in r.read()
        with urllib.request.urlopen(url + "data.js", timeout=10) as r:
            assert r.read().startswith(b"window.ENTITYSAM_DATA = ")
        with urllib.request.urlopen(url + "frames/0/000000.jpg", timeout=10) as r:
            assert r.headers["Content-Type"] == "image/jpeg"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)
        assert rc == 0 and "stopped" in proc.stderr.read()
        with pytest.raises(OSError):  # nothing listens any more
            socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
