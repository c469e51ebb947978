"""Serve a written viewer folder on http://127.0.0.1:PORT (local only, quiet, threaded).

``ViewerServer(folder, port)`` binds at once (``port=0``: a free one, see ``.url``);
``serve_forever()`` blocks until ``shutdown()`` (another thread) or Ctrl-C in the caller;
``close()`` releases the socket. Usable as a context manager.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading

from entitysam.errors import EntitySAMError

HOST = "127.0.0.1"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".css": "text/css", ".html": "text/html"}

    def log_message(self, format, *args):  # noqa: A002 - http.server API; no access log
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


class ViewerServer:
    """A threaded HTTP server of ``folder`` on 127.0.0.1."""

    def __init__(self, folder: str | os.PathLike, port: int = 0):
        handler = functools.partial(_Handler, directory=os.fspath(folder))
        try:
            self.httpd = http.server.ThreadingHTTPServer((HOST, port), handler)
        except OSError as exc:
            raise EntitySAMError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); "
                                 "pass --port 0 for a free port") from None
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> "ViewerServer":
        """Serve in a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="entitysam-view", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self.httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self) -> None:
        self.httpd.server_close()

    def __enter__(self) -> "ViewerServer":
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self.shutdown()
        self.close()
