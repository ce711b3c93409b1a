"""``leadsync serve``: webhook intake, /healthz and /metrics on uvicorn, in the foreground, and the webhook
worker (``sync.realtime``) that scores the contacts the events name; ``--intake-only`` leaves that to a daemon.
"""

from __future__ import annotations

import click

from sync.cli_context import current_ctx, fail, handle_errors
from sync.state import StateError


@click.command()
@click.option("--host", default=None, help="Bind address (overrides LEADSYNC_SERVER__HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (overrides LEADSYNC_SERVER__PORT).")
@click.option(
    "--intake-only", is_flag=True, help="Only store events; a `leadsync daemon` on the same state database scores them."
)
@handle_errors
def serve(host: str | None, port: int | None, intake_only: bool) -> None:
    """Receive CRM webhooks (HubSpot, Pipedrive, Salesforce), score the contacts they name, serve /healthz,
    /metrics and, with a dashboard password set, the dashboard at /dashboard.

    Bind 127.0.0.1 and put a reverse proxy with TLS in front; see the README's "Webhook intake".
    """
    from sync.app import App
    from sync.daemon import SharedAdapter
    from sync.metrics import Metrics
    from sync.pipeline import RunSummary
    from sync.realtime import EventWorker
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
    metrics = Metrics()
    shared = SharedAdapter(app.clock)
    worker: EventWorker | None = None
    if not intake_only:
        _ = app.model, app.blocks  # a bad model file stops the server now, not at the first webhook

        def batch_app() -> App:
            fresh = App(settings, clock=app.clock, adapter_factory=app.adapter_factory)
            fresh.adapter_factory = shared.factory(fresh.adapter_factory)
            return fresh

        def observe(summary: RunSummary, _app: App) -> None:
            metrics.observe_summary(settings.crm, str(summary.kind), summary, app.clock())

        worker = EventWorker(settings, app_factory=batch_app, clock=app.clock, metrics=metrics, on_run=observe).start()
    try:
        serve_forever(build_app(settings, queue=queue, metrics=metrics, clock=app.clock), server)
    except OSError as exc:
        fail(f"cannot serve on {server.host}:{server.port} ({exc.strerror}): set LEADSYNC_SERVER__PORT", 2)
    finally:
        if worker is not None:
            worker.shutdown()  # the batch in flight is acked, or left claimed for the next start
        shared.drop()
        queue.close()
        app.close()
