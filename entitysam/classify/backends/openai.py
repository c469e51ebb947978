"""OpenAI-compatible chat completions with image input (hosted API or a local server), sent
through the official ``openai`` SDK (optional extra: ``pip install 'entitysam[openai]'``).

Any server that speaks ``POST {base_url}/chat/completions`` with ``image_url`` content parts
works: the OpenAI API, vLLM (``vllm serve``), Ollama (``http://localhost:11434/v1``), the
llama.cpp server, LM Studio, ... One request per crop: the prompt lists the candidate
names, the crop travels as a base64 ``data:`` URL, the answer is mapped to one candidate or
none by :func:`entitysam.classify.answers.parse_answer`.

HTTP is the SDK's job: ``timeout`` is its per-request timeout and ``retries`` its
``max_retries``, so HTTP 408/409/429/5xx, timeouts and dropped connections are retried with
the SDK's exponential backoff (0.5 s doubling up to 8 s, with jitter), or after the server's
``Retry-After`` when it sends one; then, or at once for other errors (401, 404, a non-JSON
body), a :class:`ChatError` with the URL and the last error. The project's own parts stay
here: the prompt, ``concurrency`` requests in flight, at most ``rpm`` per minute (every
attempt counts, retries included), the answer parser, and the answer cache on disk
(:class:`AnswerCache`) under a key of model + prompt + crop bytes, so a re-run sends nothing
already answered, also after an interrupted run.

Example::

    backend = ChatBackend(ChatConfig.from_env(model="gpt-4o-mini"))
    labels = backend.classify(crops, load_vocabulary("vipseg"))
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image

from entitysam.classify.answers import parse_answer
from entitysam.classify.backends.base import Backend, Label
from entitysam.classify.crops import CropConfig
from entitysam.classify.vocab import Vocabulary
from entitysam.errors import EntitySAMError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o"
RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))  # what the SDK retries
_NO_KEY = "entitysam-no-api-key"  # the SDK insists on a key; this one is never sent

SYSTEM_PROMPT = ("You label objects in images. You answer with exactly one category name "
                 "copied from the list you are given, or with none.")


class ChatError(EntitySAMError):
    """A chat request failed for good (after the retries, or at once for a client error)."""


def import_openai():
    """The ``openai`` SDK, or a one-line error naming the extra to install."""
    try:
        import openai
    except ImportError:
        raise EntitySAMError("the openai backend needs the openai package: "
                             "pip install 'entitysam[openai]' (or pip install openai)") from None
    return openai


@dataclass
class ChatConfig:
    """Connection and request settings. ``retries`` counts the attempts after the first
    (the SDK's ``max_retries``); ``timeout`` is in seconds per attempt.

    The SDK sets the backoff between retries (the ``backoff`` / ``max_backoff`` settings of
    the earlier hand-written client are gone)."""

    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 5
    concurrency: int = 4
    rpm: float | None = None
    max_tokens: int = 64
    temperature: float = 0.0
    image_format: str = "png"
    detail: str | None = None
    cache_dir: str | os.PathLike | None = None
    extra_body: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "ChatConfig":
        """Defaults, then ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``, then non-None overrides."""
        env = os.environ if env is None else env
        cfg = cls(base_url=env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
                  api_key=env.get("OPENAI_API_KEY") or None)
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise TypeError(f"ChatConfig has no setting {key!r}")
            if value is not None:
                setattr(cfg, key, value)
        return cfg


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/entitysam/classify`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "entitysam" / "classify"


class AnswerCache:
    """Answers on disk, one small JSON file per key (``<dir>/<key[:2]>/<key>.json``)."""

    def __init__(self, folder: str | os.PathLike):
        self.dir = Path(folder)

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        try:
            with open(self._path(key)) as f:
                return json.load(f)["answer"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: ask again

    def put(self, key: str, answer: str, model: str) -> None:
        from entitysam.io.atomic import atomic_file

        with atomic_file(self._path(key), "w") as f:
            json.dump({"answer": answer, "model": model}, f)


class RateLimiter:
    """At most ``per_minute`` request starts per minute, shared by all threads (None = no limit)."""

    def __init__(self, per_minute: float | None):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def encode_image(image: Image.Image, fmt: str = "png") -> tuple[bytes, str]:
    """PIL image -> (encoded bytes, MIME type). PNG is lossless, so equal crops hash equal."""
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG")
        return buf.getvalue(), "image/png"
    if fmt in ("jpeg", "jpg"):
        image.convert("RGB").save(buf, format="JPEG", quality=90)
        return buf.getvalue(), "image/jpeg"
    raise EntitySAMError(f"image format must be png or jpeg, got {fmt!r}")


def build_prompt(vocab: Vocabulary, crop: CropConfig) -> str:
    """The user text of a request: how the crop shows the object, the candidates, the rule."""
    names = ", ".join(vocab.prompts)
    return (f"{crop.describe()}\n"
            f"Which category does the object belong to? Candidates: {names}.\n"
            "Answer with exactly one candidate name, copied from the list, or with none if no "
            "candidate fits. Answer with the name only.")


class ChatBackend(Backend):
    """Classify crops with an OpenAI-compatible chat model (see the module docstring)."""

    name = "openai"
    default_crop = CropConfig(margin=0.15, treatment="blur", size=448)

    def __init__(self, config: ChatConfig, crop: CropConfig | None = None):
        super().__init__(crop)
        if config.retries < 0 or not config.timeout > 0:
            raise EntitySAMError(f"the openai backend needs retries >= 0 and timeout > 0, got "
                                 f"{config.retries} and {config.timeout:g}")
        self.sdk = import_openai()
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.cache = AnswerCache(config.cache_dir) if config.cache_dir else None
        self.limiter = RateLimiter(config.rpm)
        self.requests_sent = 0  # HTTP attempts made (retries included); for reports and tests
        self._count_lock = threading.Lock()
        self._attempts = threading.local()  # attempts of the request in flight on this thread
        # the SDK's own HTTP client with a hook that runs before every attempt (retries too)
        http_client = self.sdk.DefaultHttpxClient(event_hooks={"request": [self._before_attempt]})
        self.client = self.sdk.OpenAI(base_url=config.base_url, api_key=config.api_key or _NO_KEY,
                                      timeout=config.timeout, max_retries=config.retries,
                                      http_client=http_client)

    # ------------------------------------------------------------------ public
    def classify(self, crops: Sequence[Image.Image], vocab: Vocabulary) -> list[Label]:
        prompt = build_prompt(vocab, self.crop)
        answers = self.ask_all(crops, prompt)
        return [self._label(a, vocab) for a in answers]

    def ask_all(self, crops: Sequence[Image.Image], prompt: str) -> list[str]:
        """The raw answer text for every crop (cached ones without a request)."""
        payloads = [self.payload(c, prompt) for c in crops]
        keys = [self.cache_key(p) for p in payloads]
        answers: list[str | None] = [self.cache.get(k) if self.cache else None for k in keys]
        todo = [i for i, a in enumerate(answers) if a is None]
        if todo:
            with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
                futures = {i: pool.submit(self._ask_and_store, payloads[i], keys[i]) for i in todo}
                try:
                    for i, fut in futures.items():
                        answers[i] = fut.result()
                except BaseException:
                    for fut in futures.values():  # do not start requests whose result is lost
                        fut.cancel()
                    raise
        return [a or "" for a in answers]

    # ------------------------------------------------------------------ request
    def payload(self, crop: Image.Image, prompt: str) -> dict:
        """The chat-completions JSON body for one crop."""
        data, mime = encode_image(crop, self.config.image_format)
        image_url = {"url": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}
        if self.config.detail:
            image_url["detail"] = self.config.detail
        body = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": [{"type": "text", "text": prompt},
                                             {"type": "image_url", "image_url": image_url}]},
            ],
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }
        body.update(self.config.extra_body)
        return body

    @staticmethod
    def cache_key(payload: dict) -> str:
        """sha256 of the whole request body (model, prompt, crop bytes, sampling settings)."""
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()

    def _ask_and_store(self, payload: dict, key: str) -> str:
        answer = self.ask(payload)
        if self.cache:
            self.cache.put(key, answer, self.config.model)
        return answer

    def _before_attempt(self, request) -> None:
        """The HTTP client's request hook: on the calling thread, before every attempt."""
        self.limiter.wait()
        with self._count_lock:
            self.requests_sent += 1
        self._attempts.n = getattr(self._attempts, "n", 0) + 1
        if not self.config.api_key:  # no key: send no Authorization header (local servers)
            request.headers.pop("Authorization", None)

    def ask(self, payload: dict) -> str:
        """Send one request (the SDK retries); the answer text (see the module docstring)."""
        sdk = self.sdk
        rest = {k: v for k, v in payload.items() if k not in ("model", "messages")}
        self._attempts.n = 0
        try:
            raw = self.client.chat.completions.with_raw_response.create(
                model=payload["model"], messages=payload["messages"], extra_body=rest)
            body = raw.http_response.content
        except sdk.APIStatusError as exc:
            message = _status_message(exc)
            if exc.status_code in RETRY_STATUS:
                raise self._gave_up(message) from None
            hint = {401: " (check OPENAI_API_KEY / --api-key)", 403: " (check OPENAI_API_KEY / --api-key)",
                    404: " (check --base-url, which usually ends in /v1, and --model)"}.get(exc.status_code, "")
            raise ChatError(f"{self.url}: {message}{hint}") from None
        except sdk.APITimeoutError:
            raise self._gave_up(f"timed out after {self.config.timeout:g} s") from None
        except sdk.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise self._gave_up(f"cannot connect or connection dropped ({cause})") from None
        except sdk.OpenAIError as exc:
            raise ChatError(f"{self.url}: {exc}") from None
        try:
            response = json.loads(body)
        except ValueError:
            raise ChatError(f"{self.url}: the response is not JSON: {_snippet(body)}") from None
        return extract_text(response, self.url)

    def _gave_up(self, last: str) -> ChatError:
        n = getattr(self._attempts, "n", 0)
        return ChatError(f"{self.url}: request failed after {n} attempt{'s' * (n != 1)}; last error: {last}")

    @staticmethod
    def _label(answer: str, vocab: Vocabulary) -> Label:
        category = parse_answer(answer, vocab)
        return Label(category, 1.0 if category is not None else 0.0, answer)


def _status_message(exc) -> str:
    """``HTTP <code> <reason>: <body>`` of an SDK status error."""
    response = exc.response
    try:
        body = _snippet(response.content)
    except Exception:  # a body that cannot be read (stream closed): the code says enough
        body = ""
    reason = getattr(response, "reason_phrase", "") or ""
    return f"HTTP {exc.status_code}{' ' + reason if reason else ''}" + (f": {body}" if body else "")


def _snippet(body: bytes, limit: int = 200) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[:limit] + "..."


def extract_text(response: dict, url: str = "") -> str:
    """The assistant text of a chat-completions response (string or list of text parts)."""
    try:
        content = response["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ChatError(f"{url}: unexpected response, no choices[0].message: "
                        f"{_snippet(json.dumps(response).encode())}") from None
    if isinstance(content, list):  # some servers return content parts
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""
