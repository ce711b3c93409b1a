"""``leadsync serve``: webhook intake, /healthz and /metrics on uvicorn, in the foreground.

Accepted events are stored in the state database's intake queue; scoring them is the daemon's next step.
"""

from __future__ import annotations

import click

from sync.cli_context import current_ctx, fail, handle_errors
from sync.state import StateError


@click.command()
@click.option("--host", default=None, help="Bind address (overrides LEADSYNC_SERVER__HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (overrides LEADSYNC_SERVER__PORT).")
@handle_errors
def serve(host: str | None, port: int | None) -> None:
    """Receive CRM webhooks (HubSpot, Pipedrive, Salesforce) and serve /healthz and /metrics.

    Bind 127.0.0.1 and put a reverse proxy with TLS in front; see the README's "Webhook intake".
    """
    from sync.server import EventQueue, build_app, serve_forever

    app = current_ctx().app()
    settings = app.settings
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    server = settings.server.model_copy(update=overrides)
    settings = settings.model_copy(update={"server": server})
    queue = EventQueue(settings.state_url)
    try:
        queue.open()
    except StateError as exc:
        fail(f"cannot open the state database: {exc}", 2)
    try:
        serve_forever(build_app(settings, queue=queue, clock=app.clock), server)
    except OSError as exc:
        fail(f"cannot serve on {server.host}:{server.port} ({exc.strerror}): set LEADSYNC_SERVER__PORT", 2)
    finally:
        queue.close()
        app.close()
