"""``Sandbox``: the local CRM emulation as one object, startable in a thread for tests and the demo.

::

    with Sandbox(SandboxConfig(seed=7)) as sb:
        sb.hubspot_url, sb.salesforce_url, sb.pipedrive_url, sb.ca_path
        sb.counters.snapshot()          # requests by endpoint and status
        sb.faults.configure(...)        # deterministic fault injection
        sb.clock.advance(seconds=3600)  # move the sandbox's time (rate windows, budgets, timestamps)
        sb.load(dataset)                # seed every CRM from one Dataset (see ``seed.generate``)

Control endpoints (for a sandbox in another process; see ``cli.run_subprocess``):
``GET /_sandbox/health``, ``GET /_sandbox/info`` (URLs, CA path, credentials), ``GET|DELETE
/_sandbox/counters``, ``GET|POST|DELETE /_sandbox/faults`` (POST takes ``FaultConfig`` keys as JSON),
``GET|POST /_sandbox/clock`` (``{"advance": seconds}``, ``{"set": "<ISO 8601 with offset>"}``,
``{"freeze": true|false}``).

It binds 127.0.0.1 only.  Plain HTTP serves HubSpot and Pipedrive; TLS (a throwaway CA made with
``trustme`` at start, its PEM written to ``ca_path``) serves all three, because simple-salesforce only
speaks https.
"""

from __future__ import annotations

import json
import logging
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.registry import CRM_NAMES
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
from connectors.sandbox.store import Store, api_source
from connectors.sandbox.webhooks import WebhookConfig, WebhookSender

if TYPE_CHECKING:
    from connectors.sandbox.dataset import Dataset

log = logging.getLogger(__name__)

CRMS: tuple[str, ...] = CRM_NAMES  # each a module connectors.sandbox.<crm>
DESTINATIONS: tuple[str, ...] = ("mailchimp", "activecampaign")  # nurture tools, served only when asked for
NURTURE_TAG = "Nurture"  # the tag the sandbox's nurture tools hold from the start, as a marketer would set it up


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
    ca_path: str | None = None  # where to write the CA's PEM (default: a temporary directory)
    crms: tuple[str, ...] = CRMS  # which CRM APIs to serve
    webhooks: WebhookConfig | None = None  # send webhooks to ``webhooks.url`` while started


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

    def by_endpoint(self, prefix: str = "", status: int | None = None) -> dict[str, int]:
        """Requests per endpoint (all statuses unless ``status``), for endpoints starting with ``prefix``."""
        with self._lock:
            out: Counter[str] = Counter()
            for (endpoint, st), n in self._counts.items():
                if endpoint.startswith(prefix) and (status is None or st == status):
                    out[endpoint] += n
            return dict(sorted(out.items()))

    def by_crm(self) -> dict[str, int]:
        """Requests per CRM (the part of the endpoint name before the first dot)."""
        with self._lock:
            out: Counter[str] = Counter()
            for (endpoint, _), n in self._counts.items():
                out[endpoint.split(".", 1)[0]] += n
            return dict(sorted(out.items()))

    def total(self, crm: str | None = None) -> int:
        """Requests to one CRM (``crm``), or to all of them."""
        return self.calls(f"{crm}." if crm else "")

    def delta(self, before: Mapping[str, Mapping[int, int]]) -> dict[str, dict[int, int]]:
        """What was counted since ``before`` (an earlier ``snapshot()``), zero entries left out."""
        out: dict[str, dict[int, int]] = {}
        for endpoint, statuses in self.snapshot().items():
            for status, n in statuses.items():
                diff = n - before.get(endpoint, {}).get(status, 0)
                if diff:
                    out.setdefault(endpoint, {})[status] = diff
        return out

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    endpoint: str  # the counter name, e.g. "hubspot.contacts.batch_update"
    method: str
    path: str
    body: bytes
    status: int


class RequestLog:
    """Every request the CRMs answered, in order, while ``recording`` (off by default: bodies are large), for
    tests that check where writes went."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []
        self.recording = False

    def add(self, endpoint: str, request: Request, status: int) -> None:
        if self.recording:
            with self._lock:
                self._entries.append(LoggedRequest(endpoint, request.method, request.path, request.body, status))

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)


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
            self.sandbox.request_log.add(endpoint, request, pre.status)
            return api.after(request, endpoint, pre)
        fault = self.sandbox.faults.before(api.crm, endpoint, request)
        if fault is not None:
            if fault.drop:
                self.sandbox.counters.add(endpoint, 599)  # 599: connection reset by the fault injector
                return None
            self.sandbox.counters.add(endpoint, fault.response.status)
            return api.after(request, endpoint, fault.response)
        try:
            with api_source():
                response = dispatch.route.handler(request)
        except BadRequest as exc:
            response = api.error(400, str(exc), request)
        except Exception as exc:  # a bug in a CRM module: answer 500 in its shape rather than hang up
            log.exception("sandbox handler %s failed", endpoint)
            response = api.error(500, f"Sandbox error in {endpoint}: {exc}", request)
        endpoint = response.counted_as or endpoint
        response = self.sandbox.faults.after(api.crm, endpoint, request, response)
        response = api.after(request, endpoint, response)
        self.sandbox.counters.add(endpoint, response.status)
        self.sandbox.request_log.add(endpoint, request, response.status)
        return response


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.clock = Clock(scale=self.config.time_scale)
        self.store = Store(self.config.db_path)
        self.counters = Counters()
        self.request_log = RequestLog()
        self.apis: dict[str, CRMApi] = {}
        self.faults = Faults(self.config.faults, seed=self.config.seed, clock=self.clock, apis=self.apis)
        self._servers: list[Any] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_path: Path | None = None
        self.http_port = 0
        self.https_port = 0
        self.webhooks: WebhookSender | None = None
        self._load_apis()

    def _load_apis(self) -> None:
        # Imported here so a CRM module under construction does not break the others.
        import importlib

        for crm in self.config.crms:
            if crm not in CRMS + DESTINATIONS:
                raise ValueError(f"unknown CRM {crm!r}; the sandbox emulates {', '.join(CRMS + DESTINATIONS)}")
            api = importlib.import_module(f"connectors.sandbox.{crm}").create_api(self)
            self.apis[api.crm] = api

    # -- data ------------------------------------------------------------------------------------------
    def load(self, dataset: Dataset, crms: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
        """Load ``dataset`` into each CRM (all by default); returns person key -> CRM id per CRM."""
        out: dict[str, dict[str, str]] = {}
        for crm in crms or list(self.apis):
            out[crm] = self.load_into(crm, dataset)
        return out

    def load_into(self, crm: str, dataset: Dataset) -> dict[str, str]:
        api = self.apis.get(crm)
        if api is None:
            raise ValueError(f"unknown CRM {crm!r}; the sandbox serves {', '.join(sorted(self.apis))}")
        load = getattr(api, "load", None)
        if load is None:
            raise NotImplementedError(
                f"The sandbox's {crm} module (connectors/sandbox/{crm}/) does not implement "
                f"load(dataset) yet, so it cannot be seeded; its API is served empty."
            )
        ids: dict[str, str] = load(dataset)
        self.meta_set(f"loaded.{crm}", json.dumps({"people": len(dataset.people), "at": self.clock.now()}, default=str))
        return ids

    def seed_destinations(self, dataset: Dataset, tag: str = NURTURE_TAG) -> dict[str, int]:
        """Every person with an address into each nurture tool served (Mailchimp members, unsubscribed when they
        opted out; ActiveCampaign contacts), and the ``tag`` each tool is asked to hand off to; people per tool."""
        out: dict[str, int] = {}
        for name in DESTINATIONS:
            api = self.apis.get(name)
            if api is None:
                continue
            out[name] = len(api.load(dataset))  # type: ignore[attr-defined]
            if name == "mailchimp":
                api.create_segment(tag)  # type: ignore[attr-defined]  # a Mailchimp tag is a static segment
            else:
                api.create_tag(tag)  # type: ignore[attr-defined]
        return out

    def credentials(self, crm: str) -> dict[str, str]:
        """The credentials the sandbox accepts for ``crm`` (its module's ``SANDBOX_CREDENTIALS``)."""
        import importlib

        try:
            module = importlib.import_module(f"connectors.sandbox.{crm}")
        except ImportError:  # an API added by a test, not one of the CRM modules
            return {}
        creds = getattr(module, "SANDBOX_CREDENTIALS", None)
        return {str(k): str(v) for k, v in creds.items()} if isinstance(creds, Mapping) else {}

    # -- a small key/value table in the store, so a DB file remembers what was seeded into it -------------
    def meta_get(self, key: str) -> str | None:
        self._meta_table()
        with self.store.read() as conn:
            row = conn.execute("SELECT value FROM sandbox_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, value: str) -> None:
        self._meta_table()
        with self.store.tx() as conn:
            conn.execute("INSERT OR REPLACE INTO sandbox_meta (key, value) VALUES (?, ?)", (key, value))

    def _meta_table(self) -> None:
        with self.store.read() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS sandbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        if self.config.ca_path:
            self.ca_path = Path(self.config.ca_path)
            self.ca_path.parent.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="leadsync-sandbox-")
            self.ca_path = Path(self._tmp.name) / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        app = SandboxApp(self, list(self.apis.values()))
        plain = make_server(self.config.port, app)
        tls = make_server(self.config.tls_port, app, ctx)
        self.http_port = plain.server_address[1]
        self.https_port = tls.server_address[1]
        self._servers = [plain, tls]
        for server in self._servers:
            serve_in_thread(server)
        hooks = self.config.webhooks
        if hooks is not None and (hooks.url or hooks.urls):
            # the signing time is real time, whatever the sandbox clock says: receivers check it against theirs
            self.webhooks = WebhookSender(hooks, lambda: datetime.now(UTC)).start()
            self.store.listen(self.webhooks.on_changes)
        return self

    def stop(self) -> None:
        if self.webhooks is not None:
            self.store.unlisten(self.webhooks.on_changes)
            self.webhooks.stop()
            self.webhooks = None
        self.faults.stop()
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
    def info(self) -> dict[str, Any]:
        return {
            "crms": sorted(self.apis),
            "http_url": self.http_url,
            "https_url": self.https_url,
            "urls": {"hubspot": self.hubspot_url, "salesforce": self.salesforce_url, "pipedrive": self.pipedrive_url},
            "ca_path": str(self.ca_path) if self.ca_path else None,
            "credentials": {crm: self.credentials(crm) for crm in sorted(self.apis)},
            "seed": self.config.seed,
            "time_scale": self.config.time_scale,
            "rate_limits": self.config.rate_limits,
            "db_path": self.config.db_path,
        }

    def control(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        try:
            if path == "/_sandbox/counters" and method == "GET":
                return Response(200, self.counters.snapshot())
            if path == "/_sandbox/counters" and method == "DELETE":
                self.counters.reset()
                return Response(204)
            if path == "/_sandbox/health":
                return Response(200, {"ok": True, "crms": sorted(self.apis)})
            if path == "/_sandbox/info":
                return Response(200, self.info())
            if path == "/_sandbox/webhooks":
                return Response(200, self.webhooks.stats() if self.webhooks else {"enabled": False})
            if path == "/_sandbox/faults":
                if method == "POST":
                    self.faults.configure(**_json_object(request))
                elif method == "DELETE":
                    self.faults.clear()
                    self.faults.reset()
                return Response(200, self.faults.state())
            if path == "/_sandbox/clock":
                if method == "POST":
                    body = _json_object(request)
                    if "set" in body:
                        when = datetime.fromisoformat(str(body["set"]).replace("Z", "+00:00"))
                        self.clock.set(when)
                    if "advance" in body:
                        self.clock.advance(float(body["advance"]))
                    if "freeze" in body:
                        self.clock.freeze() if body["freeze"] else self.clock.thaw()
                return Response(200, self.clock.state())
        except (ValueError, TypeError) as exc:
            return Response(400, {"error": str(exc)})
        except Exception as exc:
            log.exception("sandbox control %s %s failed", method, path)
            return Response(500, {"error": f"sandbox control failed: {exc}"})
        return Response(404, {"error": f"Unknown sandbox control path {request.method} {request.path}"})


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ValueError(f"the body must be a JSON object: {exc}") from exc
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body
