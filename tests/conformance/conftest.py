"""A loopback receiver that keeps what the sandbox's webhook sender posts (``capture``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Capture:
    """A receiver on loopback that answers ``fail`` 500s first, then 200, and keeps every request."""

    fail: int = 0
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def capture() -> Iterator[Capture]:
    seen = Capture()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.requests.append((dict(self.headers.items()), json.loads(body)))
            status = 500 if seen.fail > 0 else 200
            seen.fail -= status == 500
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_port}/webhooks"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
