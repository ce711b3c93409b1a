"""Running the app on uvicorn: in the foreground (``leadsync serve``) or on a background thread (the daemon
and tests), on a socket bound up front so port 0 gives a free port and a busy port fails at start."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

from sync.settings import ServerSettings


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Starlette, server: ServerSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,  # leadsync's logging (with its redacting filter) stays in charge
        access_log=False,  # each webhook is logged once by the app, without its body
        proxy_headers=True,
        forwarded_allow_ips=server.forwarded_allow_ips,
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=200,
        h11_max_incomplete_event_size=64 * 1024,
    )


class ServerThread:
    """The app served on ``host:port`` from a background thread; ``stop()`` shuts it down gracefully."""

    def __init__(self, app: Starlette, server: ServerSettings, *, host: str | None = None, port: int | None = None):
        self.host = host or server.host
        self._sock = bind(self.host, server.port if port is None else port)
        self._server = uvicorn.Server(uvicorn_config(app, server))
        self._thread = threading.Thread(target=self._serve, name="leadsync-server", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def serve_forever(app: Starlette, server: ServerSettings) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn handles both: in-flight requests finish first)."""
    sock = bind(server.host, server.port)
    try:
        uvicorn.Server(uvicorn_config(app, server)).run(sockets=[sock])
    finally:
        sock.close()
