"""The real stack on the sandbox, for the end-to-end and CLI tests: ``make_stack(crm)`` -> ``Stack``.

A ``Stack`` is a started in-thread ``Sandbox`` seeded with ``generate(contacts, seed=7, now=NOW)``, the
write-back fields in place (created by ``leadsync check --create-fields``, or by the "admin" for
Salesforce), and a ``.env`` written by ``sandbox_env_file``.  ``stack.app()`` builds a fresh ``App`` from
that file with the clock fixed at ``NOW``; its adapter sleeps on the sandbox's clock, so pacing costs no
real time.  The sandbox's clock is set to ``NOW`` as well, so what the test adds happens "now" for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import CRMAdapter
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.app import CRMS, DESTINATIONS
from connectors.sandbox.salesforce import SalesforceApi
from connectors.sandbox.seed import generate
from scoring import STARTER_MODEL_PATH
from sync.app import App
from sync.demo import sandbox_env_file
from sync.policies import writeback_specs
from sync.settings import Settings, load_settings
from sync.state import StateStore, open_store
from sync.wiring import build_adapter
from tests.harnesses import NOW, api_of, create_salesforce_fields, is_write, make_harness
from tests.sync.fakes import T0, Clock, WebhookReceiver

DATA = Path(__file__).parent / "data"


@pytest.fixture
def receivers() -> Iterator[Callable[[], WebhookReceiver]]:
    """Starts a webhook receiver per call; all are closed after the test."""
    started: list[WebhookReceiver] = []

    def start() -> WebhookReceiver:
        started.append(WebhookReceiver())
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()


@pytest.fixture
def receiver(receivers: Callable[[], WebhookReceiver]) -> WebhookReceiver:
    return receivers()


# Rate windows wide enough that the adapters' pacers never wait: these tests count calls, not seconds.
FAST_LIMITS: dict[str, dict[str, Any]] = {
    "hubspot": {"burst_per_10s": 100_000, "search_per_second": 100_000},
    "pipedrive": {"burst": 100_000},
}
# The pacers' monotonic clock runs on the sandbox's (set back to NOW, so negative): keep it positive.
_MONOTONIC_BASE = 1e9


@dataclass
class Stack:
    crm: str
    sandbox: Sandbox
    harness: Any
    env_file: Path
    workdir: Path
    ids: dict[str, str]  # dataset person key -> CRM id
    _apps: list[App] = field(default_factory=list)

    def adapter_factory(self, settings: Settings, read_fields: list[str]) -> CRMAdapter:
        sandbox = self.sandbox
        overrides: dict[str, Any] = {"sleep": sandbox.clock.advance}
        if self.crm != "salesforce":
            overrides["monotonic"] = lambda: sandbox.clock.seconds() + _MONOTONIC_BASE
        if self.crm == "hubspot":  # its behaviour reads look back from the adapter's now: the sandbox's
            overrides["now"] = sandbox.clock.now
        return build_adapter(settings, read_fields, **overrides)

    def app(self, clock: Callable[[], datetime] = lambda: NOW) -> App:
        """A new App (its own adapter and state connection) from the stack's ``.env``."""
        sandbox = self.sandbox
        paced = {"sleep": sandbox.clock.advance, "monotonic": lambda: sandbox.clock.seconds() + _MONOTONIC_BASE}
        app = App(
            load_settings(self.env_file), clock=clock, adapter_factory=self.adapter_factory, destination_options=paced
        )
        self._apps.append(app)
        return app

    def snapshot(self) -> dict[str, dict[int, int]]:
        return self.sandbox.counters.snapshot()

    def writes_since(self, before: dict[str, dict[int, int]]) -> dict[str, int]:
        """Write requests per sandbox endpoint since ``before``."""
        delta = self.sandbox.counters.delta(before)
        return {ep: sum(per.values()) for ep, per in delta.items() if is_write(ep)}

    def close(self) -> None:
        for app in self._apps:
            app.close()


def build_stack(
    crm: str,
    workdir: Path,
    exits: ExitStack,
    *,
    contacts: int = 80,
    model_file: Path | None = None,
    extra: Sequence[str] = (),
    fields: bool = True,
    nurture: bool = False,
) -> Stack:
    """``nurture``: the sandbox serves Mailchimp and ActiveCampaign too, holding the same people, and the ``.env``
    routes the model's ``nurture`` segment to their ``Nurture`` tag (the lines ``leadsync sandbox`` prints)."""
    limits = {k: dict(v) for k, v in FAST_LIMITS.items()}
    served = CRMS + DESTINATIONS if nurture else CRMS
    sandbox = exits.enter_context(Sandbox(SandboxConfig(seed=7, limits=limits, crms=served)))
    sandbox.clock.set(NOW)
    dataset = generate(contacts, seed=7, now=NOW)
    ids = sandbox.apis[crm].load(dataset)  # type: ignore[attr-defined]
    sandbox.seed_destinations(dataset)
    workdir.mkdir(parents=True, exist_ok=True)
    env = sandbox_env_file(sandbox, crm, workdir, model_file=model_file or STARTER_MODEL_PATH, extra=extra)
    stack = Stack(crm, sandbox, make_harness(crm, sandbox, salesforce_fields=False), env, workdir, ids)
    exits.callback(stack.close)
    app = stack.app()
    if not fields:
        return stack
    if crm == "salesforce":  # quicker than the Tooling API route (test_salesforce_setup.py covers that one)
        specs = writeback_specs(app.fields_config, "salesforce", segments=tuple(app.model.segments))
        create_salesforce_fields(api_of(sandbox, SalesforceApi), specs, objects=(app.settings.salesforce.object,))
    else:
        assert app.check(create_fields=True)["ok"]
    return stack


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state store's location: a SQLite file, or a fresh PostgreSQL schema (tests marked ``postgres``)."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    """The FakeCRM tests' clock, at ``T0``."""
    return Clock(T0)


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    with ExitStack() as exits:

        def make(crm: str, **kwargs: Any) -> Stack:
            return build_stack(crm, tmp_path / crm, exits, **kwargs)

        yield make
