"""`entitysam segment` on bad input: one `error:` line, exit code 2, no OUTDIR left behind."""

import av
import numpy as np
import pytest
from PIL import Image

from entitysam.cli import main
from entitysam.io.sources import MAX_SIDE


def png(path, shape):
    Image.fromarray(np.zeros(shape, np.uint8)).save(path)
    return path


def make_case(tmp_path, case):
    """Return (input path, expected message fragment)."""
    if case == "missing":
        return tmp_path / "missing.mp4", "no such file"
    if case == "corrupt":
        p = tmp_path / "corrupt.mp4"
        p.write_bytes(b"\x00\x00\x00\x20ftypisom" + b"\xde\xad\xbe\xef" * 500)
        return p, "cannot decode video"
    if case == "zero_frames_folder":
        d = tmp_path / "frames"
        d.mkdir()
        (d / "list.txt").write_text("nothing here")
        return d, "no frames"
    if case == "zero_frames_video":
        p = tmp_path / "empty.avi"  # AVI keeps a valid header for a stream without frames
        with av.open(str(p), mode="w") as c:
            s = c.add_stream("libx264", rate=10)
            s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
            c.start_encoding()
        return p, "zero decodable frames"
    if case == "sizes":
        d = tmp_path / "frames"
        d.mkdir()
        png(d / "0000.png", (8, 8, 3))
        png(d / "0001.png", (8, 10, 3))
        return d, "different sizes: 0000.png is 8x8, 0001.png is 10x8"
    if case == "too_big":
        d = tmp_path / "frames"
        d.mkdir()
        png(d / "0000.png", (2, MAX_SIDE + 2))
        return d, f"exceeds the limit of {MAX_SIDE} px"
    raise AssertionError(case)


CASES = ["missing", "corrupt", "zero_frames_folder", "zero_frames_video", "sizes", "too_big"]


def run_cli(capsys, *argv):
    code = main(["segment", *map(str, argv), "--model", "tiny", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    return code, [line for line in err if not line.startswith("warning:")]


@pytest.mark.parametrize("case", CASES)
def test_bad_input(tmp_path, capsys, case):
    src, msg = make_case(tmp_path, case)
    out = tmp_path / "out"
    code, err = run_cli(capsys, src, "-o", out)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and msg in err[0], err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no partial folder


def test_unwritable_outdir(tmp_path, capsys):
    src = tmp_path / "frames"
    src.mkdir()
    png(src / "0.png", (8, 8, 3))
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    code, err = run_cli(capsys, src, "-o", blocker / "out")
    assert code == 2 and len(err) == 1 and "cannot create the output folder" in err[0]
    assert not (blocker / "out").exists() and blocker.is_file()


def test_existing_nonempty_outdir_is_refused_and_untouched(tmp_path, capsys):
    src = tmp_path / "frames"
    src.mkdir()
    png(src / "0.png", (8, 8, 3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, err = run_cli(capsys, src, "-o", out)
    assert code == 2 and "already exists and is not empty" in err[0]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("argv,msg", [
    (["--formats", "panoptic,gif"], "unknown format 'gif'"),
    (["--max-frames", "0"], "--max-frames: must be an integer >= 1"),
    (["--model", "vit-xl"], "unknown model 'vit-xl'"),
])
def test_bad_options(tmp_path, capsys, argv, msg):
    src = tmp_path / "frames"
    src.mkdir()
    png(src / "0.png", (8, 8, 3))
    out = tmp_path / "out"
    code = main(["segment", str(src), "-o", str(out), "--no-progress", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and msg in err[-1]
    assert not out.exists()


def test_frame_corrupt_mid_run_leaves_nothing(tmp_path, capsys):
    """A frame whose header is fine but whose data is truncated fails during processing,
    after outputs were started: the partial output folder is removed."""
    src = tmp_path / "frames"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(src / f"{i:04d}.png")
    data = (src / "0002.png").read_bytes()
    (src / "0002.png").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    code, err = run_cli(capsys, src, "-o", out)
    assert code == 2 and len(err) == 1 and "0002.png: cannot read image" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
