"""Deterministic fault injection: the failures a real CRM API throws at a connector, on demand.

Request faults (drawn in ``before``, at most one per request, in this order of the cumulative draw):

========== ===============================================================================================
``429``    the CRM's own rate-limit answer (``api.rate_limited()``, i.e. ``api.error(429, ...)`` unless the
           CRM overrides it), with the usage headers ``api.after()`` adds to every response
``5xx``    500, 502 or 503 in the CRM's error shape (``api.error(status, ...)``)
``reset``  no response at all: the server aborts the TCP connection (RST); ``requests`` raises
           ``ConnectionError``
``slow``   the answer comes after ``slow_seconds`` real seconds, so a client with a shorter timeout times out
           (the request is still processed, as on a real overloaded server)
``malformed`` status 200 with the body cut in half (invalid JSON); only 2xx answers with a body are cut
========== ===============================================================================================

Per-record failures inside batch writes: a CRM module asks ``record_fails(crm, record_id)`` for each record
of a batch and answers with its own per-record error shape when told to.  The draw depends on the seed,
the record id and how many times that record was asked about, so a record that failed once usually
succeeds when retried (failure rate p per attempt); ``fail_records`` names records that always fail.

Determinism: the draw for a request is ``random.Random(f"{seed}/{crm}/{endpoint}/{n}")`` where ``n`` counts
the requests that reached ``endpoint`` so far.  The same request sequence per endpoint gets the same faults
whatever the thread interleaving across endpoints.  ``reset()`` restarts the sequences.

Configure with ``sandbox.faults.configure(rate_5xx=0.1, only={"hubspot"})`` or, for a sandbox in another
process, ``POST /_sandbox/faults`` with the same keys as JSON (``GET`` shows the state, ``DELETE`` resets).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import CRMApi, Request, Response

KINDS: tuple[str, ...] = ("429", "5xx", "reset", "slow", "malformed")
_RATE_OF_KIND = {
    "429": "rate_429",
    "5xx": "rate_5xx",
    "reset": "rate_reset",
    "slow": "rate_slow",
    "malformed": "rate_malformed",
}


@dataclass
class FaultConfig:
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_reset: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 30.0
    rate_malformed: float = 0.0
    rate_record_failure: float = 0.0  # per (record, attempt) inside batch writes
    statuses_5xx: tuple[int, ...] = (500, 502, 503)
    only: frozenset[str] | None = None  # CRMs to inject into (None: all)
    # Endpoint-name prefixes ("hubspot.contacts") or path prefixes ("/crm/v3/objects/contacts/batch");
    # empty: every endpoint.  Record failures ignore this (a CRM module asks per record, not per endpoint).
    endpoints: tuple[str, ...] = ()
    fail_records: frozenset[str] = frozenset()  # record ids whose writes always fail
    max_faults: int | None = None  # stop injecting after this many faults (request and record)

    def validate(self) -> None:
        rates = [getattr(self, name) for name in (*_RATE_OF_KIND.values(), "rate_record_failure")]
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("fault rates are probabilities between 0 and 1")
        if sum(getattr(self, name) for name in _RATE_OF_KIND.values()) > 1.0 + 1e-9:
            raise ValueError("rate_429 + rate_5xx + rate_reset + rate_slow + rate_malformed must not exceed 1")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must not be negative")
        if not self.statuses_5xx or any(not 500 <= s <= 599 for s in self.statuses_5xx):
            raise ValueError("statuses_5xx must list status codes between 500 and 599")

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["only"] = sorted(self.only) if self.only is not None else None
        out["endpoints"] = list(self.endpoints)
        out["fail_records"] = sorted(self.fail_records)
        out["statuses_5xx"] = list(self.statuses_5xx)
        return out


@dataclass
class Fault:
    response: Response
    drop: bool = False  # close the connection without answering


@dataclass(frozen=True, slots=True)
class Draw:
    """The fault chosen for one request (``kind`` None: none)."""

    kind: str | None
    status: int = 0


def _coerce(name: str, value: Any) -> Any:
    if name == "only":
        if value is None:
            return None
        return frozenset([value] if isinstance(value, str) else value)
    if name == "fail_records":
        return frozenset(str(v) for v in ([value] if isinstance(value, str) else value))
    if name == "endpoints":
        return tuple([value] if isinstance(value, str) else value)
    if name == "statuses_5xx":
        return tuple(int(v) for v in ([value] if isinstance(value, int) else value))
    if name == "max_faults":
        return None if value is None else int(value)
    return float(value)


class Faults:
    def __init__(
        self,
        config: FaultConfig,
        seed: int,
        clock: Clock,
        apis: Mapping[str, CRMApi] | None = None,
    ):
        config.validate()
        self.config = config
        self.seed = seed
        self.clock = clock
        self.apis: Mapping[str, CRMApi] = apis if apis is not None else {}
        self.injected: Counter[str] = Counter()  # by kind: 429, 5xx, reset, slow, malformed, record
        self.injected_by_crm: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._malformed: set[int] = set()  # id() of requests whose answer is to be cut
        self._stopping = threading.Event()

    # -- configuration -------------------------------------------------------------------------------------
    def configure(self, **kwargs: Any) -> FaultConfig:
        """Change fault settings at runtime (unknown names or bad values raise ``ValueError``)."""
        names = {f.name for f in dataclasses.fields(FaultConfig)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        try:
            updates = {name: _coerce(name, value) for name, value in kwargs.items()}
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad fault setting: {exc}") from exc
        with self._lock:
            candidate = dataclasses.replace(self.config, **updates)
            candidate.validate()
            for name, value in updates.items():
                setattr(self.config, name, value)
        return self.config

    def clear(self) -> None:
        """No faults from here on (sequences and counts are kept; see ``reset``)."""
        self.configure(**{f.name: f.default for f in dataclasses.fields(FaultConfig)})

    def reset(self) -> None:
        """Restart the per-endpoint and per-record sequences and zero the injected counts."""
        with self._lock:
            self._requests.clear()
            self._attempts.clear()
            self.injected.clear()
            self.injected_by_crm.clear()

    def stop(self) -> None:
        """Wake every request sleeping in a ``slow`` fault (the sandbox is shutting down)."""
        self._stopping.set()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self.config.to_json(),
                "seed": self.seed,
                "injected": dict(self.injected),
                "injected_by_crm": {f"{crm}.{kind}": n for (crm, kind), n in self.injected_by_crm.items()},
                # writes of each record that reached a CRM handler (``attempts``), for a sandbox in another process
                "record_attempts": {f"{crm}.{record}": n for (crm, record), n in self._attempts.items()},
            }

    # -- the draws (pure: same inputs, same answer) ----------------------------------------------------------
    def draw(self, crm: str, endpoint: str, n: int) -> Draw:
        """The fault for the ``n``-th request (0-based) to ``endpoint`` under the current rates."""
        rng = random.Random(f"{self.seed}/{crm}/{endpoint}/{n}")
        u = rng.random()
        edge = 0.0
        for kind in KINDS:
            edge += getattr(self.config, _RATE_OF_KIND[kind])
            if u < edge:
                status = rng.choice(self.config.statuses_5xx) if kind == "5xx" else 0
                return Draw(kind, status)
        return Draw(None)

    def record_draw(self, crm: str, record_id: str, attempt: int) -> bool:
        """Whether the ``attempt``-th write (0-based) of ``record_id`` fails under the current settings."""
        if record_id in self.config.fail_records:
            return True
        rate = self.config.rate_record_failure
        if rate <= 0.0:
            return False
        return random.Random(f"{self.seed}/{crm}/record/{record_id}/{attempt}").random() < rate

    def preview(self, crm: str, endpoint: str, count: int, start: int = 0) -> list[str | None]:
        """The fault kinds the next ``count`` requests to ``endpoint`` would get (for tests)."""
        return [self.draw(crm, endpoint, n).kind for n in range(start, start + count)]

    # -- scoping -------------------------------------------------------------------------------------------
    def _in_scope(self, crm: str, endpoint: str | None = None, path: str = "") -> bool:
        only = self.config.only
        if only is not None and crm not in only:
            return False
        prefixes = self.config.endpoints
        if endpoint is None or not prefixes:
            return True
        return any(path.startswith(p) if p.startswith("/") else endpoint.startswith(p) for p in prefixes)

    def _take(self, crm: str, kind: str) -> bool:
        """Count one injected fault unless ``max_faults`` is reached (call with the lock held)."""
        limit = self.config.max_faults
        if limit is not None and sum(self.injected.values()) >= limit:
            return False
        self.injected[kind] += 1
        self.injected_by_crm[(crm, kind)] += 1
        return True

    # -- hooks called by the app ---------------------------------------------------------------------------
    def before(self, crm: str, endpoint: str, request: Request) -> Fault | None:
        with self._lock:
            n = self._requests[(crm, endpoint)]
            self._requests[(crm, endpoint)] += 1
        if not self._in_scope(crm, endpoint, request.path):
            return None
        chosen = self.draw(crm, endpoint, n)
        if chosen.kind is None:
            return None
        with self._lock:
            if not self._take(crm, chosen.kind):
                return None
            if chosen.kind == "malformed":
                self._malformed.add(id(request))
        api = self.apis.get(crm)
        if chosen.kind == "429":
            if api is None:
                return Fault(Response(429, {"error": "rate limited (injected by the sandbox)"}))
            return Fault(api.rate_limited(request, endpoint))
        if chosen.kind == "5xx":
            message = f"Injected server error {chosen.status} (sandbox fault injection); retry later."
            if api is None:
                return Fault(Response(chosen.status, {"error": message}))
            return Fault(api.error(chosen.status, message, request))
        if chosen.kind == "reset":
            return Fault(Response(599), drop=True)
        if chosen.kind == "slow":
            self._stopping.wait(self.config.slow_seconds)
        return None  # slow (now late) and malformed requests go on to the handler

    def after(self, crm: str, endpoint: str, request: Request, response: Response) -> Response:
        with self._lock:
            if id(request) not in self._malformed:
                return response
            self._malformed.discard(id(request))
        payload = response.encoded()
        if not 200 <= response.status < 300 or len(payload) < 2:
            payload = b'{"results":[{"id":"1","properties":{}}]}'
        return Response(200, payload[: len(payload) // 2], dict(response.headers))

    def record_fails(self, crm: str, record_id: str) -> bool:
        """Whether a per-record failure is injected for this record inside a batch write."""
        if not self._in_scope(crm):
            return False
        record_id = str(record_id)
        with self._lock:
            attempt = self._attempts[(crm, record_id)]
            self._attempts[(crm, record_id)] += 1
            return self.record_draw(crm, record_id, attempt) and self._take(crm, "record")

    def attempts(self, crm: str, record_id: str) -> int:
        """How many times ``record_fails`` was asked about this record."""
        with self._lock:
            return self._attempts[(crm, str(record_id))]


def parse_rates(pairs: Iterable[tuple[str, float]]) -> dict[str, float]:
    """``[("429", 0.1), ("5xx", 0.05)]`` -> ``{"rate_429": 0.1, "rate_5xx": 0.05}`` (CLI helper)."""
    out: dict[str, float] = {}
    for kind, rate in pairs:
        key = _RATE_OF_KIND.get(kind) or ("rate_record_failure" if kind == "record" else None)
        if key is None:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join((*KINDS, 'record'))}")
        out[key] = rate
    return out


__all__ = ["KINDS", "Draw", "Fault", "FaultConfig", "Faults", "parse_rates"]
