"""The OpenAI-compatible chat backend (built on the openai SDK) against a scripted server on
127.0.0.1. Tests that send requests skip when the optional extra [openai] is not installed
(the chat_server fixture, conftest.py); the missing-SDK error is tested either way."""

import sys
import time

import pytest
from PIL import Image

from entitysam.classify.backends.openai import ChatBackend, ChatConfig, ChatError
from entitysam.classify.vocab import Vocabulary, load_vocabulary

from classify_testkit import COLOURS

VOCAB = Vocabulary.from_names(["sky", "road", "person", "car", "traffic light"])


def crops():
    return [Image.new("RGB", (32, 24), COLOURS[n]) for n in ("person", "car", "sky")]


def backend(server, tmp_path=None, **kw):
    server.expect_names = VOCAB.prompts
    cfg = ChatConfig(base_url=server.url, model="fake-vlm", api_key="sk-test",
                     cache_dir=tmp_path / "cache" if tmp_path else None, **kw)
    return ChatBackend(cfg)


def names(labels):
    return [None if lab.category is None else lab.category.name for lab in labels]


def test_request_format_and_answers(chat_server):
    b = backend(chat_server)
    labels = b.classify(crops(), VOCAB)
    assert names(labels) == ["person", "car", "sky"]
    assert chat_server.problems == []
    assert len(chat_server.requests) == 3 and b.requests_sent == 3
    req = chat_server.requests[0]
    assert req["model"] == "fake-vlm" and req["temperature"] == 0
    assert req["messages"][0]["role"] == "system"
    text = req["messages"][1]["content"][0]["text"]
    assert "sky, road, person, car, traffic light" in text and "none" in text
    assert chat_server.auth == ["Bearer sk-test"] * 3
    assert all(lab.confidence == 1.0 for lab in labels)


def test_scripted_answers_are_parsed(chat_server):
    chat_server.script.extend([("answer", "It is a Person."), ("answer", "car or road?"),
                               ("answer", "a spaceship")])
    labels = backend(chat_server, concurrency=1).classify(crops(), VOCAB)
    assert names(labels) == ["person", None, None]
    assert [lab.answer for lab in labels] == ["It is a Person.", "car or road?", "a spaceship"]
    assert labels[1].confidence == 0.0


def test_malformed_text_is_none_and_malformed_json_is_an_error(chat_server):
    chat_server.script.extend([("answer", "\x00\ufffd###"), ("raw", b"<html>oops</html>")])
    b = backend(chat_server, concurrency=1)
    assert names(b.classify(crops()[:1], VOCAB)) == [None]
    with pytest.raises(ChatError, match="not JSON.*oops"):
        b.classify(crops()[:1], VOCAB)
    chat_server.script.append(("raw", b'{"choices": []}'))
    with pytest.raises(ChatError, match="no choices"):
        b.classify(crops()[:1], VOCAB)


def test_retries_on_429_and_500_then_succeeds(chat_server):
    # a 429 with Retry-After, a 500 without (the SDK's own backoff), a 503 with a short one
    chat_server.script.extend([("status", 429, 0.2), ("status", 500), ("status", 503, 0.01)])
    b = backend(chat_server, retries=3)
    start = time.monotonic()
    assert names(b.classify(crops()[:1], VOCAB)) == ["person"]
    assert time.monotonic() - start >= 0.2
    assert b.requests_sent == 4 and len(chat_server.requests) == 4


def test_retry_after_is_honoured(chat_server):
    chat_server.script.append(("status", 429, 0.3))
    b = backend(chat_server, retries=1)
    start = time.monotonic()
    assert names(b.classify(crops()[:1], VOCAB)) == ["person"]
    assert time.monotonic() - start >= 0.3


def test_clear_error_after_the_last_retry(chat_server):
    chat_server.default = ("status", 500, 0.01)  # short Retry-After: a fast test
    b = backend(chat_server, retries=2)
    with pytest.raises(ChatError) as info:
        b.classify(crops()[:1], VOCAB)
    message = str(info.value)
    assert "failed after 3 attempts" in message and "HTTP 500" in message and chat_server.url in message
    assert b.requests_sent == 3


def test_timeouts_are_retried(chat_server):
    chat_server.script.append(("timeout", 1.0))
    b = backend(chat_server, retries=1, timeout=0.3)
    assert names(b.classify(crops()[:1], VOCAB)) == ["person"]
    assert b.requests_sent == 2
    chat_server.script.extend([("timeout", 1.0), ("timeout", 1.0)])
    with pytest.raises(ChatError, match="timed out after 0.3 s"):
        b.classify(crops()[:1], VOCAB)


def test_client_errors_fail_at_once_with_a_hint(chat_server):
    chat_server.script.append(("status", 401))
    b = backend(chat_server, retries=5)
    with pytest.raises(ChatError, match="HTTP 401.*OPENAI_API_KEY"):
        b.classify(crops()[:1], VOCAB)
    assert b.requests_sent == 1
    wrong = ChatBackend(ChatConfig(base_url=chat_server.url + "/wrong", retries=5))
    with pytest.raises(ChatError, match="HTTP 404.*--base-url"):
        wrong.classify(crops()[:1], VOCAB)


def test_unreachable_server_fails_clearly():
    import socket

    pytest.importorskip("openai", reason="optional extra [openai] not installed")
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = ChatBackend(ChatConfig(base_url=f"http://127.0.0.1:{port}/v1", retries=1))
    with pytest.raises(ChatError, match="failed after 2 attempts.*cannot connect"):
        b.classify(crops()[:1], VOCAB)


def test_cache_prevents_a_second_request(chat_server, tmp_path):
    b = backend(chat_server, tmp_path)
    first = b.classify(crops(), VOCAB)
    assert len(chat_server.requests) == 3
    again = backend(chat_server, tmp_path)  # a fresh backend: a re-run of the command
    chat_server.default = ("status", 500)  # any request would now fail
    assert names(again.classify(crops(), VOCAB)) == names(first)
    assert again.requests_sent == 0 and len(chat_server.requests) == 3
    # another prompt (vocabulary) or another crop is a cache miss
    chat_server.default = ("centre",)
    other = VOCAB.from_names(["sky", "road", "person", "car"])
    chat_server.expect_names = other.prompts
    again.classify(crops()[:1], other)
    again.classify([Image.new("RGB", (33, 24), COLOURS["car"])], VOCAB)
    assert again.requests_sent == 2


def test_answers_are_cached_as_they_arrive(chat_server, tmp_path):
    chat_server.script.extend([("answer", "person"), ("status", 400)])
    b = backend(chat_server, tmp_path, concurrency=1, retries=0)
    with pytest.raises(ChatError):
        b.classify(crops()[:2], VOCAB)
    b2 = backend(chat_server, tmp_path, concurrency=1)
    assert names(b2.classify(crops()[:2], VOCAB)) == ["person", "car"]
    assert b2.requests_sent == 1  # only the crop that failed is asked again


def test_concurrency_and_rate_limit(chat_server):
    b = backend(chat_server, concurrency=3)
    many = [Image.new("RGB", (16 + i, 16), COLOURS["road"]) for i in range(9)]
    assert names(b.classify(many, VOCAB)) == ["road"] * 9
    limited = backend(chat_server, concurrency=4, rpm=600)  # one request start every 0.1 s
    start = time.monotonic()
    limited.classify(many[:4], VOCAB)
    assert time.monotonic() - start >= 0.3


def test_no_api_key_sends_no_authorization_header(chat_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")  # read by from_env only, never by the SDK
    b = ChatBackend(ChatConfig(base_url=chat_server.url, model="fake-vlm"))
    chat_server.expect_names = VOCAB.prompts
    assert names(b.classify(crops()[:1], VOCAB)) == ["person"]
    assert chat_server.auth == [None]


def test_settings_reach_the_sdk_client(chat_server):
    b = backend(chat_server, retries=3, timeout=7.5)
    assert b.client.max_retries == 3 and b.client.timeout == 7.5
    assert str(b.client.base_url).rstrip("/") == chat_server.url


def test_invalid_retries_or_timeout_are_user_errors():
    from entitysam.errors import EntitySAMError

    for kw in ({"retries": -1}, {"timeout": 0.0}):
        with pytest.raises(EntitySAMError, match="retries >= 0 and timeout > 0"):
            ChatBackend(ChatConfig(**kw))


def test_missing_sdk_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    from entitysam.cli import main
    from entitysam.errors import EntitySAMError

    monkeypatch.setitem(sys.modules, "openai", None)  # import openai -> ImportError
    with pytest.raises(EntitySAMError) as info:
        ChatBackend(ChatConfig())
    message = str(info.value)
    assert "pip install 'entitysam[openai]'" in message and "\n" not in message
    assert main(["classify", str(tmp_path / "seg"), "--frames", str(tmp_path / "f"), "--vocab", "a,b",
                 "--backend", "openai", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "entitysam[openai]" in err[0]


def test_config_from_environment():
    cfg = ChatConfig.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_API_KEY": "k"},
                              model="m", api_key=None)
    assert (cfg.base_url, cfg.api_key, cfg.model) == ("http://127.0.0.1:1/v1", "k", "m")
    assert ChatConfig.from_env({}).api_key is None


def test_full_vocabulary_in_the_prompt(chat_server):
    vip = load_vocabulary("vipseg")
    b = backend(chat_server)
    chat_server.expect_names = vip.prompts
    chat_server.script.append(("answer", "handrail"))
    (label,) = b.classify(crops()[:1], vip)
    assert chat_server.problems == [] and label.category.name == "handrail_or_fence"


def test_prompt_describes_the_mask_treatment(chat_server):
    from entitysam.classify.crops import CropConfig

    chat_server.expect_names = VOCAB.prompts
    for treatment, words in (("contour", "outlined in red"), ("grey", "greyed out"),
                             ("blur", "blurred background")):
        b = ChatBackend(ChatConfig(base_url=chat_server.url), crop=CropConfig(treatment=treatment))
        b.classify(crops()[:1], VOCAB)
        assert words in chat_server.requests[-1]["messages"][1]["content"][0]["text"]
