import pytest

from viewer_testkit import write_frames_folder, write_output, write_video


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """(segment output folder, frame folder, mp4) of the test clip."""
    root = tmp_path_factory.mktemp("viewer_clip")
    return write_output(root / "out"), write_frames_folder(root / "frames"), write_video(root / "clip.mp4")
