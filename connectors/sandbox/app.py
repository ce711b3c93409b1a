"""``Sandbox``: the local CRM emulation as one object, startable in a thread for tests and the demo.

::

    with Sandbox(SandboxConfig(seed=7)) as sb:
        sb.hubspot_url, sb.salesforce_url, sb.pipedrive_url, sb.ca_path
        sb.counters.snapshot()          # requests by endpoint and status
        sb.faults.configure(...)        # deterministic fault injection
        sb.clock.advance(seconds=3600)  # move the sandbox's time (rate windows, budgets, timestamps)

It binds 127.0.0.1 only.  Plain HTTP serves HubSpot and Pipedrive; TLS (a throwaway CA made with
``trustme`` at start, its PEM written to ``ca_path``) serves all three, because simple-salesforce only
speaks https.
"""

from __future__ import annotations

import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import (
    BadRequest,
    CRMApi,
    Request,
    Response,
    Router,
    make_server,
    serve_in_thread,
)
from connectors.sandbox.faults import FaultConfig, Faults
from connectors.sandbox.store import Store


@dataclass
class SandboxConfig:
    port: int = 0  # plain HTTP; 0 picks a free port
    tls_port: int = 0
    db_path: str = ":memory:"
    seed: int = 7
    time_scale: float = 1.0  # >1 runs the sandbox's clock (rate windows, daily budgets) faster than real time
    rate_limits: bool = True
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Per-CRM overrides of the documented limits, e.g. {"hubspot": {"burst_per_10s": 190}}.
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)


class Counters:
    """Requests by endpoint and status, readable from Python and at ``GET /_sandbox/counters``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, int]] = Counter()

    def add(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts[(endpoint, status)] += 1

    def snapshot(self) -> dict[str, dict[int, int]]:
        with self._lock:
            out: dict[str, dict[int, int]] = {}
            for (endpoint, status), n in sorted(self._counts.items()):
                out.setdefault(endpoint, {})[status] = n
            return out

    def calls(self, prefix: str = "", status: int | None = None) -> int:
        """Requests whose endpoint starts with ``prefix`` (all when empty), optionally of one status."""
        with self._lock:
            return sum(
                n
                for (endpoint, st), n in self._counts.items()
                if endpoint.startswith(prefix) and (status is None or st == status)
            )

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class SandboxApp:
    """Dispatches one request: route -> faults -> CRM before-hook -> handler -> CRM after-hook -> count."""

    def __init__(self, sandbox: Sandbox, apis: list[CRMApi]):
        self.sandbox = sandbox
        self.router = Router(apis)

    def handle(self, request: Request, raw: Any) -> Response | None:
        if request.path.startswith("/_sandbox/"):
            return self.sandbox.control(request)
        dispatch = self.router.resolve(request.method, request.path)
        if dispatch is None:
            self.sandbox.counters.add("unknown", 404)
            return Response(404, {"error": f"No CRM serves {request.path}"})
        api = dispatch.api
        if dispatch.route is None:
            endpoint = f"{api.crm}.unknown"
            response = api.error(404, f"Unknown path {request.method} {request.path}", request)
            self.sandbox.counters.add(endpoint, response.status)
            return response
        endpoint = dispatch.route.endpoint
        request.params = dispatch.params
        pre = api.before(request, endpoint)
        if pre is not None:
            self.sandbox.counters.add(endpoint, pre.status)
            return api.after(request, endpoint, pre)
        fault = self.sandbox.faults.before(api.crm, endpoint, request)
        if fault is not None:
            if fault.drop:
                self.sandbox.counters.add(endpoint, 599)  # 599: connection reset by the fault injector
                return None
            self.sandbox.counters.add(endpoint, fault.response.status)
            return api.after(request, endpoint, fault.response)
        try:
            response = dispatch.route.handler(request)
        except BadRequest as exc:
            response = api.error(400, str(exc), request)
        response = self.sandbox.faults.after(api.crm, endpoint, request, response)
        response = api.after(request, endpoint, response)
        self.sandbox.counters.add(endpoint, response.status)
        return response


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.clock = Clock(scale=self.config.time_scale)
        self.store = Store(self.config.db_path)
        self.counters = Counters()
        self.faults = Faults(self.config.faults, seed=self.config.seed, clock=self.clock)
        self.apis: dict[str, CRMApi] = {}
        self._servers: list[Any] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_path: Path | None = None
        self.http_port = 0
        self.https_port = 0
        self._load_apis()

    def _load_apis(self) -> None:
        # Imported here so a CRM module under construction does not break the others.
        from connectors.sandbox import hubspot, pipedrive, salesforce

        for module in (hubspot, salesforce, pipedrive):
            api = module.create_api(self)
            self.apis[api.crm] = api

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        import trustme

        self._tmp = tempfile.TemporaryDirectory(prefix="leadsync-sandbox-")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = Path(self._tmp.name) / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        ctx = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        app = SandboxApp(self, list(self.apis.values()))
        plain = make_server(self.config.port, app)
        tls = make_server(self.config.tls_port, app, ctx)
        self.http_port = plain.server_address[1]
        self.https_port = tls.server_address[1]
        self._servers = [plain, tls]
        for server in self._servers:
            serve_in_thread(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def hubspot_url(self) -> str:
        return self.http_url

    @property
    def salesforce_url(self) -> str:
        return self.https_url

    @property
    def pipedrive_url(self) -> str:
        return self.http_url

    # -- control endpoint --------------------------------------------------------------------------------
    def control(self, request: Request) -> Response:
        if request.path == "/_sandbox/counters" and request.method == "GET":
            return Response(200, self.counters.snapshot())
        if request.path == "/_sandbox/counters" and request.method == "DELETE":
            self.counters.reset()
            return Response(204)
        if request.path == "/_sandbox/health":
            return Response(200, {"ok": True, "crms": sorted(self.apis)})
        return Response(404, {"error": f"Unknown sandbox control path {request.path}"})
