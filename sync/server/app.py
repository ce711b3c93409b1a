"""The ASGI app: webhook intake for the three CRMs, ``/healthz`` and ``/metrics``, on Starlette.

``build_app(settings, queue=..., metrics=..., health=...)``.  A webhook is read up to
``server.max_body_bytes`` (413 beyond), authenticated (401/403), parsed (400), stored through ``queue``
and only then answered 200 with how many events were new.  A refusal is logged with the CRM, the client
and the reason, never the body or a header's value.  An endpoint whose secret is not configured answers 404.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from prometheus_client import CONTENT_TYPE_LATEST, Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from connectors.registry import CRM_NAMES
from sync.metrics import Health, Metrics
from sync.server import webhooks
from sync.server.queue import EventQueue
from sync.server.verify import Rejected, verify_basic_auth, verify_hubspot, verify_shared_secret
from sync.settings import Settings
from sync.state import WebhookEvent

log = logging.getLogger("leadsync.server")

CRMS = tuple(sorted(CRM_NAMES))  # the intake routes, by name
SALESFORCE_SECRET_HEADER = "X-Leadsync-Secret"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _TooLarge(Rejected):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than LEADSYNC_SERVER__MAX_BODY_BYTES ({limit} bytes)")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it (or its declared length) passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def configured_endpoints(settings: Settings) -> dict[str, bool]:
    """Which CRMs' webhook endpoints have their secrets set (the others answer 404)."""
    server = settings.server
    return {
        "hubspot": (server.hubspot_app_secret or settings.hubspot.client_secret) is not None,
        "pipedrive": server.pipedrive_user is not None and server.pipedrive_password is not None,
        "salesforce": server.salesforce_secret is not None and server.salesforce_org_id is not None,
    }


def build_app(
    settings: Settings,
    *,
    queue: EventQueue,
    metrics: Metrics | None = None,
    health: Health | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> Starlette:
    server = settings.server
    metrics = metrics or Metrics()
    deliveries = Counter(
        "leadsync_webhook_deliveries",
        "Webhook deliveries received, by CRM and answer (accepted, or why they were refused).",
        ["crm", "outcome"],
        registry=metrics.registry,
    )
    events_seen = Counter(
        "leadsync_webhook_events",
        "Webhook events in accepted deliveries, by CRM: new, or duplicate of one already stored.",
        ["crm", "kind"],
        registry=metrics.registry,
    )
    hubspot_secret = server.hubspot_app_secret or settings.hubspot.client_secret
    max_age = timedelta(seconds=server.hubspot_max_age_seconds)

    def public_uri(request: Request) -> str:
        """The URL the CRM posted to: ``public_url`` + path + query when set (behind a proxy), else as received."""
        if server.public_url is None:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{server.public_url.rstrip('/')}{request.url.path}{query}"

    async def hubspot_parse(request: Request, body: bytes) -> list[WebhookEvent]:
        assert hubspot_secret is not None
        verify_hubspot(
            hubspot_secret.get_secret_value(),
            method=request.method,
            uri=public_uri(request),
            body=body,
            signature=request.headers.get("x-hubspot-signature-v3"),
            timestamp=request.headers.get("x-hubspot-request-timestamp"),
            now=clock(),
            max_age=max_age,
        )
        return webhooks.hubspot_events(body)

    async def pipedrive_parse(request: Request, body: bytes) -> list[WebhookEvent]:
        assert server.pipedrive_user is not None and server.pipedrive_password is not None
        verify_basic_auth(
            request.headers.get("authorization"),
            user=server.pipedrive_user,
            password=server.pipedrive_password.get_secret_value(),
        )
        return webhooks.pipedrive_events(body)

    async def salesforce_parse(request: Request, body: bytes) -> list[WebhookEvent]:
        assert server.salesforce_secret is not None and server.salesforce_org_id is not None
        verify_shared_secret(
            request.headers.get(SALESFORCE_SECRET_HEADER),
            secret=server.salesforce_secret.get_secret_value(),
            header=SALESFORCE_SECRET_HEADER,
        )
        return webhooks.salesforce_events(body, org_id=server.salesforce_org_id)

    configured = configured_endpoints(settings)
    parsers: dict[str, Callable[[Request, bytes], Awaitable[list[WebhookEvent]]]] = {
        "hubspot": hubspot_parse,
        "pipedrive": pipedrive_parse,
        "salesforce": salesforce_parse,
    }

    def intake(crm: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            client = request.client.host if request.client else "unknown"
            if not configured[crm]:
                deliveries.labels(crm, "not_configured").inc()
                return JSONResponse({"error": f"webhook intake for {crm} is not configured"}, status_code=404)
            try:
                body = await read_body(request, server.max_body_bytes)
                events = await parsers[crm](request, body)
            except Rejected as exc:
                deliveries.labels(crm, str(exc.status)).inc()
                log.warning("%s webhook from %s refused (%d): %s", crm, client, exc.status, exc.reason)
                return JSONResponse({"error": exc.reason}, status_code=exc.status)
            new = await queue.enqueue(events, clock())
            deliveries.labels(crm, "accepted").inc()
            events_seen.labels(crm, "new").inc(new)
            events_seen.labels(crm, "duplicate").inc(len(events) - new)
            log.info("%s webhook from %s: %d events, %d new", crm, client, len(events), new)
            return JSONResponse({"received": len(events), "new": new})

        return endpoint

    async def healthz(request: Request) -> Response:
        pending = {crm: await queue.pending(crm) for crm in CRMS if configured[crm]}
        if health is None:
            return JSONResponse({"status": "ok", "webhooks": {"configured": configured, "pending": pending}})
        report = health.report()
        return JSONResponse(
            {**report.body, "webhooks": {"configured": configured, "pending": pending}},
            status_code=report.status_code,
        )

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        *(Route(f"/webhooks/{crm}", intake(crm), methods=["POST"]) for crm in CRMS),
    ]
    if settings.dashboard.password_hash is not None:
        from sync.dashboard import PREFIX, build_dashboard

        routes.append(Mount(PREFIX, app=build_dashboard(settings, clock=clock)))
    return Starlette(routes=routes)
