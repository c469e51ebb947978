"""Final outputs: ordinary permissions (the umask decides), and no trace of a failed run."""

import os
import stat

import pytest

from entitysam.io.atomic import atomic_dir, atomic_file


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_dir_and_file_respect_the_umask(tmp_path, umask):
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("x")
    assert mode(tmp_path / "out") == 0o777 & ~umask
    assert mode(tmp_path / "out" / "a.txt") == 0o666 & ~umask
    with atomic_file(tmp_path / "f.json", "w") as f:
        f.write("{}")
    assert mode(tmp_path / "f.json") == 0o666 & ~umask


def test_failed_atomic_dir_removes_the_parents_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "a" / "b" / "out"):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failed_atomic_file_removes_the_parents_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "a" / "b" / "x.json", "w"):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_parents_that_existed_or_got_other_files(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "a" / "b" / "out"):
            (tmp_path / "a" / "b" / "theirs.txt").write_text("another process wrote here")
            raise RuntimeError("boom")
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["theirs.txt"]


def test_success_keeps_created_parents(tmp_path):
    with atomic_dir(tmp_path / "a" / "b" / "out") as tmp:
        (tmp / "x").write_text("1")
    assert (tmp_path / "a" / "b" / "out" / "x").read_text() == "1"
