"""A loopback receiver that keeps what the sandbox's webhook sender posts (``capture``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.seed import generate
from connectors.sandbox.webhooks import WebhookConfig


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


@contextmanager
def webhook_sandbox(crm: str, capture: Capture, **hooks: Any) -> Iterator[tuple[Sandbox, list[str]]]:
    """A started sandbox of ``crm`` with 4 seeded contacts whose webhook sender posts to ``capture`` (retries
    50 ms apart; ``hooks``: more ``WebhookConfig`` options); yields it and the contact ids in id order."""
    config = WebhookConfig(url=capture.url, crms=(crm,), retry_delays={crm: (0.05,) * 3}, **hooks)
    sandbox = Sandbox(SandboxConfig(crms=(crm,), rate_limits=False, webhooks=config))
    ids = sandbox.load_into(crm, generate(4, 7, datetime(2025, 3, 1, tzinfo=UTC), 1.0))
    sandbox.start()
    try:
        yield sandbox, sorted(ids.values(), key=int)
    finally:
        sandbox.stop()


def sent(sandbox: Sandbox, capture: Capture) -> list[Any]:
    """The bodies the sandbox posted, once its sender has nothing left to deliver."""
    assert sandbox.webhooks is not None and sandbox.webhooks.wait_idle(20), sandbox.webhooks
    return [body for _, body in capture.requests]
