"""Weights from the Hugging Face hub: cached files first, a fast failure when offline.

``huggingface_hub`` retries an unreachable server with back-off (~25-40 s before it gives
up). Before any download this module checks the local cache, honours ``HF_HUB_OFFLINE``, and
opens one TCP connection to the hub's endpoint with a short timeout, so that an offline user
gets the one-line error (and how to pass a local file) within a few seconds.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from entitysam.errors import EntitySAMError

PROBE_TIMEOUT_S = 3.0


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def reachable(endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the hub's host opens within ``timeout``; else the reason."""
    url = urlparse(endpoint or _endpoint())
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable: {exc.strerror or type(exc).__name__}"


def cached_file(repo_id: str, filename: str) -> Path | None:
    """The file from the local hub cache, if it was downloaded before."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id=repo_id, filename=filename)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def hub_download(repo_id: str, filename: str, offline_hint: str) -> Path:
    """Path of ``repo_id/filename``, downloaded once into the hub cache.

    Raises:
        EntitySAMError (within ~``PROBE_TIMEOUT_S`` when the hub cannot be reached), ending
        with ``offline_hint`` (what to pass instead).
    """
    cached = cached_file(repo_id, filename)
    if cached is not None:
        return cached
    where = f"{repo_id}/{filename}"
    if _offline_env():
        raise EntitySAMError(f"{where} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {offline_hint}")
    endpoint = _endpoint()
    reason = reachable(endpoint)
    if reason:
        raise EntitySAMError(f"cannot fetch {where} from Hugging Face ({reason}); {offline_hint}")
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=repo_id, filename=filename, endpoint=endpoint))
    except Exception as exc:  # noqa: BLE001 - missing repo, auth, broken connection: one message
        raise EntitySAMError(f"cannot fetch {where} from Hugging Face ({type(exc).__name__}); {offline_hint}") from None
