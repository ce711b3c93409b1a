"""leadsync's HTTP server: webhook intake, ``/healthz`` and ``/metrics`` on one ASGI stack (Starlette, uvicorn).

``build_app`` (``app``) makes the Starlette app; ``EventQueue`` (``queue``) stores accepted events in the state
database before the answer; ``verify`` and ``webhooks`` are the pure checks and parsers per CRM;
``ServerThread`` and ``serve_forever`` (``run``) serve it.  Processing the queued events is not here yet.
"""

from sync.server.app import build_app
from sync.server.queue import EventQueue
from sync.server.run import ServerThread, serve_forever

__all__ = ["EventQueue", "ServerThread", "build_app", "serve_forever"]
