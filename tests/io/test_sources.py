"""Frame sources: folder order (spec §6.1, §12 item 15), odd frames, video decoding, bad input."""

import warnings

import av
import numpy as np
import pytest
from PIL import Image

from entitysam.errors import EntitySAMError
from entitysam.io.sources import MAX_SIDE, FolderSource, VideoSource, frame_stem, list_frames, open_source


def write_video(path, n=6, size=(48, 64), fps=10, codec="libx264"):
    """Synthetic mp4 of n frames (each frame a different flat colour + gradient)."""
    h, w = size
    with av.open(str(path), mode="w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = (i * 40) % 256
            img[..., 1] = np.linspace(0, 255, w, dtype=np.uint8)[None]
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def save(path, arr, **kw):
    Image.fromarray(arr, **kw).save(path)


def test_lexicographic_default_and_natural_option_with_warning(tmp_path):
    for n in ["frame_10.jpg", "frame_2.JPG", "frame_1.png", "notes.txt", "frame_3.JPEG"]:
        (tmp_path / n).write_bytes(b"")
    with pytest.warns(UserWarning, match="orders differ"):
        lex = list_frames(tmp_path)
    assert lex == ["frame_1.png", "frame_10.jpg", "frame_2.JPG", "frame_3.JPEG"]
    with pytest.warns(UserWarning):
        nat = list_frames(tmp_path, "natural")
    assert nat == ["frame_1.png", "frame_2.JPG", "frame_3.JPEG", "frame_10.jpg"]


def test_no_warning_for_zero_padded_names(tmp_path):
    for n in ["00002.jpg", "00010.jpg", "00001.png"]:
        (tmp_path / n).write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list_frames(tmp_path) == ["00001.png", "00002.jpg", "00010.jpg"]


def test_frame_stem_is_text_before_first_dot():
    assert frame_stem("a.b.jpg") == "a" and frame_stem("00001.png") == "00001"


def test_odd_frames_are_converted_to_rgb(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    rgba = rng.integers(0, 256, (7, 9, 4), dtype=np.uint8)
    g16 = (np.arange(63, dtype=np.uint16).reshape(7, 9) * 1000)
    save(tmp_path / "0.png", gray)
    save(tmp_path / "1.png", rgba)
    save(tmp_path / "2.png", g16)
    src = FolderSource(tmp_path)
    frames = list(src)
    assert src.info.size == (7, 9) and src.info.num_frames == 3
    for _, im in frames:
        assert im.mode == "RGB" and im.size == (9, 7)
    a0, a1, a2 = (np.asarray(im) for _, im in frames)
    assert np.array_equal(a0[..., 1], gray)
    assert np.array_equal(a1, rgba[..., :3])  # RGBA -> RGB drops alpha (Pillow convert)
    assert np.array_equal(a2[..., 0], np.round(g16 / 257).astype(np.uint8))  # 16 bit -> 8 bit


def test_max_frames(tmp_path):
    for i in range(5):
        save(tmp_path / f"{i:03d}.png", np.full((4, 4, 3), i, np.uint8))
    assert [n for n, _ in FolderSource(tmp_path, max_frames=2)] == ["000.png", "001.png"]


def test_video_source_matches_pyav_decode(tmp_path):
    path = write_video(tmp_path / "v.mp4", n=7, size=(30, 42))
    src = VideoSource(path)
    frames = list(src)
    with av.open(str(path)) as c:
        ref = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(ref) == 7
    assert src.info.size == (30, 42) and src.info.fps == 10 and src.info.name == "v"
    for (name, im), r in zip(frames, ref):
        assert np.array_equal(np.asarray(im), r)
    assert [n for n, _ in frames][:2] == ["00000000.png", "00000001.png"]
    assert len(list(VideoSource(path, max_frames=3))) == 3
    assert len(list(src)) == 7  # iterable twice (the overlay re-decodes)


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty_folder", "sizes", "too_big", "no_video"])
def test_bad_input_errors(tmp_path, case):
    if case == "missing":
        path, msg = tmp_path / "nope.mp4", "no such file"
    elif case == "corrupt":
        path, msg = tmp_path / "bad.mp4", "cannot decode video"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    elif case == "empty_folder":
        path, msg = tmp_path, "no frames"
        (tmp_path / "readme.txt").write_text("x")
    elif case == "sizes":
        path, msg = tmp_path, "different sizes"
        save(tmp_path / "0.png", np.zeros((4, 4, 3), np.uint8))
        save(tmp_path / "1.png", np.zeros((4, 5, 3), np.uint8))
    elif case == "too_big":
        path, msg = tmp_path, f"limit of {MAX_SIDE}"
        save(tmp_path / "0.png", np.zeros((1, MAX_SIDE + 1), np.uint8))
    else:
        path, msg = tmp_path / "audio.txt", "cannot decode video"
        path.write_text("not a video at all\n")
    with pytest.raises(EntitySAMError, match=msg) as exc:
        open_source(path)
    assert "\n" not in str(exc.value)
