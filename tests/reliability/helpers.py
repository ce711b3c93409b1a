"""What the reliability tests share: a seeded sandbox CRM with leadsync pointed at it, in this process or as
``leadsync`` subprocesses, a ledger of the record writes the sandbox processed, and the soak switch.

``LEADSYNC_SOAK=1`` (``make soak``) runs the tests marked ``slow`` at full size; ``make test`` runs them
scaled down.  ``LEADSYNC_RELIABILITY_FIGURES=PATH`` appends each soak-sized run's figures to PATH as JSON
lines (for ``bench/RESULTS.md``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.base import CRMAdapter
from connectors.sandbox import Sandbox, SandboxConfig, SandboxProcess
from connectors.sandbox.app import SandboxApp
from connectors.sandbox.core import Request
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.salesforce import SalesforceApi
from connectors.sandbox.seed import generate
from sync.app import App
from sync.demo import sandbox_env_file
from sync.policies import same_value, writeback_specs
from sync.settings import Settings, load_settings
from sync.wiring import build_adapter
from tests.harnesses import NOW, api_of, create_salesforce_fields, is_write, make_harness

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "bad_input"
SOAK = os.environ.get("LEADSYNC_SOAK") == "1"
FIGURES_ENV = "LEADSYNC_RELIABILITY_FIGURES"


def sized(quick: int, soak: int) -> int:
    """``soak`` under ``make soak`` (LEADSYNC_SOAK=1), else ``quick``."""
    return soak if SOAK else quick


def report_figures(name: str, figures: Mapping[str, Any]) -> None:
    """Append a soak-sized run's figures to $LEADSYNC_RELIABILITY_FIGURES (one JSON object per line)."""
    target = os.environ.get(FIGURES_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": name, "soak": SOAK, **figures}, default=str) + "\n")


def stage_field(crm: str) -> str:
    """The canonical field holding the lifecycle stage leadsync writes (the policies' default)."""
    return "lead_status" if crm == "salesforce" else "lifecycle_stage"


# -- the record-write ledger ------------------------------------------------------------------------------
class WriteLedger:
    """Every record write the sandbox processed successfully, split by whether the client still waited.

    The sandbox asks ``faults.record_fails`` once per record of every write request that reaches a CRM
    handler; a False answer means the record is written.  A request whose answer took longer than the
    client's timeout was abandoned by the client (a ``slow`` fault): it lands anyway, as on a real
    overloaded server, and the client retries it, so it is counted apart in ``abandoned``.
    """

    def __init__(self, sandbox: Sandbox, client_timeout: float, monkeypatch: pytest.MonkeyPatch):
        self.landed: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        self._local = threading.local()
        self._lock = threading.Lock()
        faults = sandbox.faults
        record_fails = faults.record_fails

        def tapped_record_fails(crm: str, record_id: str) -> bool:
            failed = record_fails(crm, record_id)
            pending = getattr(self._local, "pending", None)
            if not failed and pending is not None:
                pending.append(str(record_id))
            return failed

        original_handle = SandboxApp.handle

        def handle(app: SandboxApp, request: Request, raw: Any) -> Any:
            if app.sandbox is not sandbox:
                return original_handle(app, request, raw)
            self._local.pending = []
            started = time.monotonic()
            try:
                return original_handle(app, request, raw)
            finally:
                late = time.monotonic() - started >= client_timeout
                with self._lock:
                    (self.abandoned if late else self.landed).update(self._local.pending)
                self._local.pending = None

        monkeypatch.setattr(faults, "record_fails", tapped_record_fails)
        monkeypatch.setattr(SandboxApp, "handle", handle)


# -- leadsync on an in-thread sandbox ---------------------------------------------------------------------
@dataclass
class Installation:
    """One CRM of a started sandbox, seeded, with leadsync's write-back fields created and an App on it."""

    crm: str
    sandbox: Sandbox
    app: App
    ids: dict[str, str]  # person key -> CRM id
    workdir: Path
    harness: Any = field(init=False)

    def __post_init__(self) -> None:
        self.harness = make_harness(self.crm, self.sandbox, salesforce_fields=False)

    @property
    def fields(self) -> list[str]:
        """Every field leadsync may write here: the write-back fields and the lifecycle stage."""
        return [*self.app.planner().read_fields, stage_field(self.crm)]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """person key -> {field: value the sandbox stores}, for every field leadsync may write."""
        return {key: {f: self.harness.crm_value(cid, f) for f in self.fields} for key, cid in self.ids.items()}


def adapter_factory(sandbox: Sandbox, **overrides: Any) -> Callable[[Settings, list[str]], CRMAdapter]:
    """``build_adapter`` whose waits move the sandbox's clock instead of sleeping (retries cost no time)."""

    def build(settings: Settings, read_fields: list[str]) -> CRMAdapter:
        values: dict[str, Any] = {"sleep": sandbox.clock.advance}
        if settings.crm != "salesforce":
            values["monotonic"] = sandbox.clock.seconds
        return build_adapter(settings, read_fields, **(values | overrides))

    return build


@contextmanager
def installation(
    crm: str,
    workdir: Path,
    dataset: Dataset,
    *,
    config: SandboxConfig | None = None,
    env: Sequence[str] = (),
    **adapter_overrides: Any,
) -> Iterator[Installation]:
    """A started sandbox serving ``dataset`` in ``crm``, and an App on it with the fixed clock ``NOW``."""
    workdir.mkdir(parents=True, exist_ok=True)
    with Sandbox(config or SandboxConfig(seed=7)) as sandbox:
        ids = sandbox.load_into(crm, dataset)
        settings = load_settings(sandbox_env_file(sandbox, crm, workdir, extra=env))
        app = App(settings, clock=lambda: NOW, adapter_factory=adapter_factory(sandbox, **adapter_overrides))
        try:
            create_writeback_fields(app, sandbox)
            yield Installation(crm, sandbox, app, ids, workdir)
        finally:
            app.close()


def create_writeback_fields(app: App, sandbox: Sandbox) -> None:
    """What an admin does once: ``leadsync check --create-fields`` (and, for Salesforce, Setup by hand)."""
    report = app.check(create_fields=app.settings.crm != "salesforce")
    if app.settings.crm == "salesforce":
        specs = writeback_specs(app.fields_config, "salesforce", segments=tuple(app.model.segments))
        create_salesforce_fields(api_of(sandbox, SalesforceApi), specs, objects=(app.settings.salesforce.object,))
    elif not report["ok"]:
        raise AssertionError("\n".join(report["lines"]))


def dataset_of(contacts: int, seed: int = 7) -> Dataset:
    return generate(contacts, seed=seed, now=NOW, activities_per_contact=6.0)


def differences(left: Mapping[str, Mapping[str, Any]], right: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Contacts whose values differ (compared the way CRMs echo values: 42 == "42.0", None == "")."""
    out: dict[str, Any] = {}
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key, {}), right.get(key, {})
        bad = {f: (a.get(f), b.get(f)) for f in sorted(set(a) | set(b)) if not same_value(a.get(f), b.get(f))}
        if bad:
            out[key] = bad
    return out


# -- a sandbox in another process ------------------------------------------------------------------------
def seed_sandbox_db(path: Path, crm: str, contacts: int, workdir: Path) -> tuple[dict[str, str], list[str]]:
    """A sandbox DB holding ``contacts`` seeded people and leadsync's write-back fields; person key -> id."""
    workdir.mkdir(parents=True, exist_ok=True)
    with Sandbox(SandboxConfig(db_path=str(path), seed=7, crms=(crm,))) as sandbox:
        ids = sandbox.load_into(crm, dataset_of(contacts))
        app = App(load_settings(sandbox_env_file(sandbox, crm, workdir)))
        try:
            create_writeback_fields(app, sandbox)
            fields = [*app.planner().read_fields, stage_field(crm)]
        finally:
            app.close()
    sandbox.store.conn.close()
    return ids, fields


def read_values(db: Path, crm: str, ids: dict[str, str], fields: list[str]) -> dict[str, dict[str, Any]]:
    """person key -> {field: value} as the sandbox DB stores them (read once the sandbox process stopped)."""
    sandbox = Sandbox(SandboxConfig(db_path=str(db), seed=7, crms=(crm,)))
    try:
        harness = make_harness(crm, sandbox, salesforce_fields=False)
        return {key: {f: harness.crm_value(cid, f) for f in fields} for key, cid in ids.items()}
    finally:
        sandbox.store.conn.close()


def recorded(state_db: Path, crm: str) -> int:
    """Contacts whose batch the state store recorded (each scored contact's inputs are saved with its batch)."""
    if not state_db.exists():
        return 0
    conn = sqlite3.connect(state_db, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM scoring_inputs WHERE crm = ?", (crm,)).fetchone()[0])
    except sqlite3.OperationalError:  # created, not migrated yet
        return 0
    finally:
        conn.close()


def counted(proc: SandboxProcess, *, writes: bool, prefix: str = "") -> int:
    """Requests the sandbox answered: write calls, or other calls (to endpoints starting with ``prefix``)."""
    return sum(
        sum(statuses.values())
        for endpoint, statuses in proc.counters().items()
        if endpoint.startswith(prefix) and is_write(endpoint) == writes
    )


def subprocess_env(
    proc: SandboxProcess, crm: str, workdir: Path, batch: int, extra: Sequence[str] = ()
) -> tuple[Path, dict[str, str]]:
    """A .env pointing leadsync at ``proc`` (state in ``workdir``), and a subprocess environment whose clock
    is fixed at ``NOW``."""
    workdir.mkdir(parents=True, exist_ok=True)
    env_file = sandbox_env_file(proc, crm, workdir, extra=[f"LEADSYNC_BATCH_SIZE={batch}", *extra])
    return env_file, leadsync_env(LEADSYNC_TEST_NOW=NOW.isoformat())


# -- leadsync as a subprocess -----------------------------------------------------------------------------
def leadsync_env(**extra: str) -> dict[str, str]:
    """The environment of a ``leadsync`` subprocess: this one without LEADSYNC_ settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def leadsync_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sync.cli import main; main()", *args]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_leadsync(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, *, timeout: float = 120, stdin: str | None = None
) -> Result:
    proc = subprocess.run(
        leadsync_cmd(*args),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def popen_leadsync(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        leadsync_cmd(*args),
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
