"""The sandbox's HTTP plumbing: one threaded server on 127.0.0.1 (plain HTTP and TLS), a router that hands
each request to the CRM module owning its path prefix, and the request/response types those modules use.

CRM packages (``hubspot/``, ``salesforce/``, ``pipedrive/``) only see ``Request`` and return
``Response``; counting, fault injection and pacing of the clock are applied around them here and in
``faults.py`` / ``clock.py`` so every CRM gets the same behaviour.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route pattern

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return default

    def json(self) -> Any:
        """The decoded JSON body; raises ``BadRequest`` (a 400 in the CRM's own error shape) if invalid."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadRequest(f"Invalid JSON body: {exc}") from exc


@dataclass(slots=True)
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    # Counter name to use instead of the route's, when one path serves both reads and writes
    # (Salesforce's /composite): empty keeps the route's endpoint name.
    counted_as: str = ""

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":"), default=str).encode()


class BadRequest(Exception):
    """Raised by a handler for a malformed request; the owning CRM module renders it in its error shape."""


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    endpoint: str  # a stable name for counters, e.g. "hubspot.contacts.list"


def route(method: str, pattern: str, handler: Handler, endpoint: str) -> Route:
    return Route(method.upper(), re.compile(f"^{pattern}$"), handler, endpoint)


class CRMApi:
    """What every CRM module provides to the server."""

    crm: str = ""
    prefixes: tuple[str, ...] = ()

    def routes(self) -> Iterable[Route]:
        raise NotImplementedError

    def before(self, request: Request, endpoint: str) -> Response | None:
        """Auth and rate limiting; a returned response short-circuits the handler."""
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        """Add the CRM's usage headers to every response."""
        return response

    def error(self, status: int, message: str, request: Request) -> Response:
        """A response in this CRM's own error shape."""
        return Response(status, {"error": message})

    def rate_limited(self, request: Request, endpoint: str) -> Response:
        """This CRM's answer when a rate limit is hit; the fault injector uses it for injected 429s.

        The default is ``error(429, ...)``; a CRM whose limit answers differently (Salesforce: 403
        ``REQUEST_LIMIT_EXCEEDED``) or carries extra headers overrides it.
        """
        return self.error(429, "You have reached your rate limit (injected by the sandbox).", request)


@dataclass(slots=True)
class Dispatch:
    api: CRMApi
    route: Route | None
    params: dict[str, str]


class Router:
    def __init__(self, apis: Iterable[CRMApi]):
        self.apis = list(apis)
        self._routes: list[tuple[CRMApi, Route]] = [(api, r) for api in self.apis for r in api.routes()]

    def owner(self, path: str) -> CRMApi | None:
        """The API with the longest prefix of ``path`` (ActiveCampaign's ``/api/3/`` inside Pipedrive's ``/api/``)."""
        matches = [(len(p), i, api) for i, api in enumerate(self.apis) for p in api.prefixes if path.startswith(p)]
        return max(matches, key=lambda m: (m[0], -m[1]))[2] if matches else None

    def resolve(self, method: str, path: str) -> Dispatch | None:
        api = self.owner(path)
        if api is None:
            return None
        for owner, r in self._routes:
            if owner is not api or r.method != method:
                continue
            m = r.pattern.match(path)
            if m:
                return Dispatch(api, r, {k: v for k, v in m.groupdict().items() if v is not None})
        return Dispatch(api, None, {})


RequestHook = Callable[[Request, "Dispatch"], Response | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection frees its thread after this many seconds

    def log_message(self, format: str, *args: Any) -> None:
        return  # the sandbox keeps counters instead of an access log

    def setup(self) -> None:
        # TLS handshakes run here, in the connection's own thread, not in the accept loop: one slow or
        # broken client must not stall every other connection.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
        )
        response = self.server.app.handle(request, self)
        if response is None:  # the fault injector dropped the connection
            self._reset()
            return
        payload = response.encoded()
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        headers = {"Content-Type": "application/json;charset=utf-8", **response.headers}
        headers["Content-Length"] = str(len(payload))
        head = f"{self.protocol_version} {response.status} {phrase}\r\n"
        head += "".join(f"{key}: {value}\r\n" for key, value in headers.items())
        # status line, headers and body leave in one write (no Nagle / delayed-ACK stall on keep-alive)
        self.wfile.write(head.encode("latin-1") + b"\r\n" + payload)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST and no response, as a crashed load balancer would."""
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the makefile() reader holds a reference that would delay the real close
        sock.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, app: Any, ssl_context: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, injected resets, failed TLS handshakes) are part of the job.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def make_server(port: int, app: Any, ssl_context: ssl.SSLContext | None = None) -> _Server:
    return _Server(port, app, ssl_context)
