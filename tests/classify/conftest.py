"""Fixtures for the classify tests; the helpers live in classify_testkit.py."""

import pytest

from classify_testkit import make_scene, running_chat_server


@pytest.fixture
def scene(tmp_path):
    """The synthetic scene (classify_testkit.py) with its frames and segment outputs."""
    return make_scene(tmp_path)


@pytest.fixture
def chat_server():
    """A scripted chat-completions server on 127.0.0.1; ``.url`` ends in /v1.

    Skips the test when the optional extra [openai] is not installed: every user of this
    server drives the SDK-based chat backend."""
    pytest.importorskip("openai", reason="optional extra [openai] not installed")
    with running_chat_server() as server:
        yield server
