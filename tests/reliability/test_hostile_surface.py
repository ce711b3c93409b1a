"""The hostile-input corpus on the webhook server, the dashboard, notifications, SLAs and the nurture hand-off
(issue #16): every command's ``--help``; a bad value for each of their settings; hostile webhook bodies and a
poison queued event; and the secrets of those settings searched for in every output.

Each case runs in this process (no interpreter start), bounded in wall time and in the memory it allocates
(``tracemalloc``), and asserts the documented exit code or HTTP status, a sentence naming what is wrong, and
no traceback.  The model-file cases (segments included) run as subprocesses in ``test_hostile_model.py``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import socket
import sqlite3
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from connectors.sandbox import SandboxConfig
from sync.app import App
from sync.cli import _register_optional_commands, cli
from sync.dashboard import hash_password
from sync.metrics import Metrics
from sync.realtime import EventWorker
from sync.server import EventQueue, build_app
from sync.settings import Settings
from sync.state import WebhookEvent, open_store
from tests.reliability.helpers import Installation, adapter_factory, dataset_of, installation

_register_optional_commands()

SECONDS = 20.0  # wall time of one case on a shared machine (a case takes well under one second alone)
MEGABYTES = 64  # allocated at the peak of one case (a 1 MB body parsed is a few MB)
BASIC_AUTH = re.compile(r"(?i)basic\s+[A-Za-z0-9+/=]{12,}")


@contextmanager
def bounded(seconds: float = SECONDS, megabytes: float = MEGABYTES) -> Iterator[None]:
    """Assert the block ends within ``seconds`` and its allocations peak under ``megabytes``."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    assert took < seconds, f"took {took:.1f}s"
    assert peak < megabytes, f"allocated {peak:.0f} MB at the peak"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _EchoingRefusal(BaseHTTPRequestHandler):
    """A hostile nurture API: refuses every call (401) and echoes the credentials it was sent in its answer."""

    def _refuse(self) -> None:
        echoed = " ".join(f"{k}={v}" for k, v in self.headers.items() if k.lower() in ("authorization", "api-token"))
        body = json.dumps({"title": "Unauthorized", "detail": echoed, "message": echoed}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def echoing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingRefusal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- --help on every command --------------------------------------------------------------------------------
def _commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(group, click.Group):
        for name, command in sorted(group.commands.items()):
            yield from _commands(command, (*path, name))


COMMANDS = list(_commands(cli))


def test_the_command_tree_is_walked() -> None:
    """The walk reaches the new surface (a broken registration would silently shrink the list)."""
    names = {" ".join(path) for path in COMMANDS}
    assert {"serve", "sla", "nurture revert", "dashboard hash-password", "history", "model validate"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "leadsync" for p in COMMANDS])
def test_help_works_on_every_command(path: tuple[str, ...], tmp_path: Path) -> None:
    """``--help`` needs no settings, no model file and no CRM: it runs in an empty directory."""
    with bounded():
        result = CliRunner().invoke(cli, ["--env-file", str(tmp_path / "none.env"), *path, "--help"], env={})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ") and "Traceback" not in result.output
    assert "-h, --help" in result.output


# -- a bad value for each new setting -------------------------------------------------------------------------
HOOK = "https://hooks.slack.com/services/T0/B0/" + secrets.token_hex(8)
BAD_SETTINGS = [
    ("LEADSYNC_NOTIFY__SLACK_WEBHOOK_URL", "hooks.slack.com/services/" + secrets.token_hex(8), "full URL"),
    ("LEADSYNC_NOTIFY__TEAMS_WEBHOOK_URL", "ftp://example.com/" + secrets.token_hex(8), "full URL"),
    ("LEADSYNC_NOTIFY__OWNERS", '{"7": {"slack_webhook_url": "' + HOOK + '"', "not valid JSON"),
    ("LEADSYNC_NOTIFY__OWNERS", '{"7": {"timezone": "Mars/Base"}}', "unknown time zone"),
    ("LEADSYNC_NOTIFY__EVENTS", '{"p1": ["fax"]}', "'slack', 'teams' or 'email'"),
    ("LEADSYNC_NOTIFY__EVENTS", "[", "not valid JSON"),
    ("LEADSYNC_NOTIFY__SMTP_PORT", "99999", "less than or equal to 65535"),
    ("LEADSYNC_NOTIFY__SMTP_SECURITY", "tls1.0", "'starttls', 'ssl' or 'plain'"),
    ("LEADSYNC_NOTIFY__MANAGER_EMAIL", "a@b.com, c@d.com", "not one e-mail address"),
    ("LEADSYNC_SLA__TIERS", "P1", "not valid JSON"),
    ("LEADSYNC_SLA__ESCALATION_CRON", "every minute", "cron line of 5 fields"),
    ("LEADSYNC_DAEMON__SYNC_CRON", "* * * * 9", "unknown weekday"),
    ("LEADSYNC_DASHBOARD__PASSWORD_HASH", "5ecret-not-a-hash-7f3a", "not a scrypt hash"),
    ("LEADSYNC_DASHBOARD__SESSION_HOURS", "1e300", "less than or equal to 720"),
    ("LEADSYNC_DASHBOARD__PAGE_SIZE", "100000", "less than or equal to 500"),
    ("LEADSYNC_MAILCHIMP__API_KEY", "5ecretkeywithoutdatacenter0c1d", "-<data center>"),
    ("LEADSYNC_MAILCHIMP__BASE_URL", "us21.api.mailchimp.com", "full URL"),
    ("LEADSYNC_MAILCHIMP__NEW_MEMBER_STATUS", "subscribed", "'pending' or 'transactional'"),
    ("LEADSYNC_ACTIVECAMPAIGN__BASE_URL", "youraccount.api-us1.com", "full URL"),
    ("LEADSYNC_ACTIVECAMPAIGN__AUTOMATIONS", "[1, 2", "not valid JSON"),
    ("LEADSYNC_ACTIVECAMPAIGN__REQUESTS_PER_SECOND", "50", "less than or equal to 5"),
    ("LEADSYNC_NURTURE__SEGMENTS", '{"nurture": ["mailchimp:list:1"]}', "'<tool>:tag:<name>'"),
    ("LEADSYNC_REALTIME__BATCH_EVENTS", "0", "greater than or equal to 1"),
    ("LEADSYNC_REALTIME__FAST_LANE_SECONDS", "1", "greater than or equal to 10"),
    ("LEADSYNC_SERVER__PORT", "-1", "greater than or equal to 0"),
    ("LEADSYNC_SERVER__MAX_BODY_BYTES", "1e12", "valid integer"),
    ("LEADSYNC_SERVER__PUBLIC_URL", "leads.example.com/hooks", "full URL"),
    ("LEADSYNC_SERVER__SALESFORCE_ORG_ID", "5ec12345", "organization id"),
]


@pytest.mark.parametrize(
    ("variable", "value", "says"), BAD_SETTINGS, ids=[f"{v}-{i}" for i, (v, _, _) in enumerate(BAD_SETTINGS)]
)
def test_a_bad_value_of_a_new_setting_is_one_sentence_naming_it(
    variable: str, value: str, says: str, tmp_path: Path
) -> None:
    env_file = tmp_path / "bad.env"
    # from the .env file (JSON single-quoted, as settings.example.env writes it) and, apart, from the environment
    env_file.write_text(f"{variable}='{value}'\n", encoding="utf-8")
    for env in ({}, {variable: value}):
        used = tmp_path / "none.env" if env else env_file
        with bounded():
            result = CliRunner().invoke(cli, ["--env-file", str(used), "check"], env=env)
        assert result.exit_code == 2, result.output
        problems = [line for line in result.output.splitlines() if line.startswith("LEADSYNC_")]
        assert len(problems) == 1, result.output
        assert variable in problems[0] and says in problems[0], problems[0]
        assert "Traceback" not in result.output
        if any(word in variable for word in ("WEBHOOK", "OWNERS", "KEY", "HASH", "ORG_ID")):
            assert value not in result.output and HOOK not in result.output, "a secret setting was echoed"


# -- hostile webhook bodies -----------------------------------------------------------------------------------
SF_ORG, SF_SECRET, HS_SECRET, PD_PASSWORD = (
    "00D5g000004XyZaEAK",
    secrets.token_hex(8),
    "hs-" + secrets.token_hex(8),
    "pd-" + secrets.token_hex(8),
)


def _sf(*records: Any, org: str = SF_ORG) -> bytes:
    return json.dumps({"organizationId": org, "records": list(records)}).encode()


def _rec(record_id: Any = "00Q5g00000AbCdEEAZ", modified: Any = "2025-03-04T10:00:00Z", **extra: Any) -> dict[str, Any]:
    return {"Id": record_id, "LastModifiedDate": modified, **extra}


def _pd(**meta: Any) -> bytes:
    return json.dumps(
        {"meta": {"action": "change", "entity": "person", "entity_id": 7, "timestamp": 1, **meta}}
    ).encode()


HOSTILE_BODIES: list[tuple[str, str, Callable[[], bytes], int, str]] = [
    ("200,000 nested arrays", "salesforce", lambda: b"[" * 200_000 + b"]" * 200_000, 400, "deeper than 32"),
    ("100,000 nested objects", "salesforce", lambda: b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, "deeper"),
    ("900 levels inside a record", "salesforce", lambda: _sf(_rec(x=json.loads("[" * 900 + "]" * 900))), 400, "deeper"),
    (
        "5,000-digit id",
        "salesforce",
        lambda: _sf({"Id": 0}).replace(b'"Id": 0', b'"Id": ' + b"9" * 5000),
        400,
        "too long",
    ),
    ("lone surrogate", "salesforce", lambda: _sf(_rec()).replace(b"00Q5g00000AbCdEEAZ", b"\\ud800"), 400, "Unicode"),
    ("NUL in an id", "salesforce", lambda: _sf(_rec("00Q\x00")), 400, "not an id"),
    ("900 KB id", "salesforce", lambda: _sf(_rec("0" * 900_000)), 400, "not an id"),
    ("id as an object", "salesforce", lambda: _sf(_rec({"a": 1})), 400, "Id is missing"),
    (
        "records as text",
        "salesforce",
        lambda: json.dumps({"organizationId": SF_ORG, "records": "x"}).encode(),
        400,
        "records",
    ),
    ("date past year 9999", "salesforce", lambda: _sf(_rec(modified="9999-12-31T23:59:59-23:00")), 400, "out of range"),
    ("date as NaN", "salesforce", lambda: _sf(_rec()).replace(b'"2025-03-04T10:00:00Z"', b"NaN"), 400, "date-time"),
    ("another org", "salesforce", lambda: _sf(_rec(), org="00D000000000001AAA"), 403, "organizationId"),
    ("2 MB body", "salesforce", lambda: b" " * 2_000_000, 413, "MAX_BODY_BYTES"),
    ("event id as an object", "pipedrive", lambda: _pd(id={"x": 1}), 400, "meta.id is missing"),
    ("timestamp 10^30", "pipedrive", lambda: _pd(timestamp=10**30), 400, "out of range"),
    ("entity id as a float", "pipedrive", lambda: _pd(entity_id=3.5), 400, "meta.entity_id"),
    ("not JSON", "pipedrive", lambda: b"\xff\xfe<xml/>", 400, "not valid JSON"),
]


def _headers(crm: str) -> dict[str, str]:
    if crm == "salesforce":
        return {"X-Leadsync-Secret": SF_SECRET}
    return {"Authorization": "Basic " + base64.b64encode(f"leadsync:{PD_PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    state = tmp_path_factory.mktemp("intake") / "state.db"
    server = {
        "pipedrive_user": "leadsync",
        "pipedrive_password": PD_PASSWORD,
        "salesforce_org_id": SF_ORG,
        "salesforce_secret": SF_SECRET,
    }
    settings = Settings(_env_file=None, state_url=str(state), server=server)  # type: ignore[call-arg]
    queue = EventQueue(str(state))
    queue.open()
    with TestClient(build_app(settings, queue=queue), raise_server_exceptions=False) as client:
        yield client, state
    queue.close()


@pytest.mark.parametrize(("case", "crm", "body", "status", "says"), HOSTILE_BODIES, ids=[c[0] for c in HOSTILE_BODIES])
def test_a_hostile_webhook_body_is_refused_with_a_4xx(
    intake: tuple[TestClient, Path],
    case: str,
    crm: str,
    body: Callable[[], bytes],
    status: int,
    says: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, _ = intake
    content = body()
    with bounded(), caplog.at_level(logging.DEBUG):
        response = client.post(f"/webhooks/{crm}", content=content, headers=_headers(crm))
    assert response.status_code == status, response.text[:300]
    assert says in response.json()["error"], response.text[:300]
    assert len(response.text) < 400
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Traceback" not in logged and not any(r.exc_info for r in caplog.records), logged[:2000]
    assert SF_SECRET not in logged + response.text and PD_PASSWORD not in logged + response.text
    good = client.post(
        "/webhooks/salesforce",
        content=_sf(_rec(modified=datetime.now(UTC).isoformat())),
        headers=_headers("salesforce"),
    )
    assert good.status_code == 200, "the intake still takes a good delivery after the hostile one"


# -- a poison event in the queue ------------------------------------------------------------------------------
@pytest.fixture
def salesforce(workdir: Path) -> Iterator[Installation]:
    with installation("salesforce", workdir, dataset_of(10)) as inst:
        yield inst


def test_the_worker_survives_poison_events_and_processes_the_rest(salesforce: Installation) -> None:
    """Events already queued (by an older intake, or edited in the database) that name no contact, or whose
    payload has the wrong types, are acked with a reason; the good event of the same batch is processed."""
    app = salesforce.app
    good_id = sorted(salesforce.ids.values())[0]
    at = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)

    def event(key: str, object_type: str, object_id: str, **payload: Any) -> WebhookEvent:
        return WebhookEvent("salesforce", key, f"{object_type}.changed", object_type, object_id, at, payload)

    poison = [
        event("bad-id", "Lead", "../../sobjects/Lead"),
        event("who-list", "Task", "00T000000000001AAA", WhoId=["00Q"]),
        event("member-dict", "CampaignMember", "00v000000000001AAA", LeadId={"Id": good_id}),
        event("huge-id", "Lead", "0" * 5000),
    ]
    store = app.store
    store.enqueue_events([*poison, event("good", "Lead", good_id)], at)
    factory = adapter_factory(salesforce.sandbox)
    worker = EventWorker(app.settings, app_factory=lambda: App(app.settings, adapter_factory=factory), clock=lambda: at)
    with bounded(seconds=60, megabytes=256):
        report = worker.process_batch(wait_for_batch=False)
    assert report is not None
    assert report.processed == 1 and sum(report.dropped.values()) == len(poison), report
    assert store.count_pending_events("salesforce") == 0
    assert all(len(reason) < 200 for reason in report.dropped), report.dropped


# -- secrets of the new settings in every output --------------------------------------------------------------
def test_the_secrets_of_the_new_settings_never_appear(workdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """With every new secret set (webhook URLs, SMTP password, nurture keys, webhook secrets, the dashboard's
    hash and session secret): ``check`` (the nurture tools refuse the keys and echo them back), /healthz,
    /metrics, each dashboard page, a run's CSV export, the log file and the state database hold none of them."""
    password = "dash-" + secrets.token_hex(8)
    values = {
        "LEADSYNC_NOTIFY__SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/" + secrets.token_hex(12),
        "LEADSYNC_NOTIFY__TEAMS_WEBHOOK_URL": "https://prod.logic.azure.com/workflows/" + secrets.token_hex(12),
        "LEADSYNC_NOTIFY__MANAGER_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/M/" + secrets.token_hex(12),
        "LEADSYNC_NOTIFY__SMTP_PASSWORD": "smtp-" + secrets.token_hex(10),
        "LEADSYNC_MAILCHIMP__API_KEY": secrets.token_hex(16) + "-us21",
        "LEADSYNC_ACTIVECAMPAIGN__API_TOKEN": "ac-" + secrets.token_hex(16),
        "LEADSYNC_SERVER__HUBSPOT_APP_SECRET": HS_SECRET,
        "LEADSYNC_SERVER__PIPEDRIVE_PASSWORD": PD_PASSWORD,
        "LEADSYNC_SERVER__SALESFORCE_SECRET": SF_SECRET,
        "LEADSYNC_DASHBOARD__PASSWORD_HASH": hash_password(password),
        "LEADSYNC_DASHBOARD__SESSION_SECRET": "session-" + secrets.token_hex(16),
        "LEADSYNC_DAEMON__WEBHOOK_URL": "https://hooks.example.invalid/alerts/" + secrets.token_hex(12),
    }
    owner_hook = "https://hooks.slack.com/services/O/" + secrets.token_hex(12)
    closed = closed_port()
    with echoing_server() as hostile:
        _secrets_never_appear(workdir, caplog, values, owner_hook, password, closed, hostile)


def _secrets_never_appear(
    workdir: Path,
    caplog: pytest.LogCaptureFixture,
    values: dict[str, str],
    owner_hook: str,
    password: str,
    closed: int,
    hostile: str,
) -> None:
    extra = [
        *(f"{name}={value}" for name, value in values.items()),
        f"LEADSYNC_NOTIFY__OWNERS='{json.dumps({'7': {'slack_webhook_url': owner_hook}})}'",
        "LEADSYNC_NOTIFY__SMTP_HOST=127.0.0.1",
        f"LEADSYNC_NOTIFY__SMTP_PORT={closed}",
        "LEADSYNC_NOTIFY__SMTP_USERNAME=leadsync",
        "LEADSYNC_MAILCHIMP__LIST_ID=abc123",
        f"LEADSYNC_MAILCHIMP__BASE_URL={hostile}/3.0",
        f"LEADSYNC_ACTIVECAMPAIGN__BASE_URL={hostile}",
        """LEADSYNC_NURTURE__SEGMENTS='{"nurture": ["mailchimp:tag:Nurture", "activecampaign:tag:Nurture"]}'""",
        "LEADSYNC_SERVER__PIPEDRIVE_USER=leadsync",
        f"LEADSYNC_SERVER__SALESFORCE_ORG_ID={SF_ORG}",
        f"LEADSYNC_LOG_FILE={workdir / 'leadsync.log'}",
        "LEADSYNC_LOG_LEVEL=DEBUG",
    ]
    every = [*values.values(), owner_hook, password]
    with installation("salesforce", workdir, dataset_of(10), config=SandboxConfig(seed=7), env=extra) as inst:
        env_file = workdir / "salesforce.env"
        runner = CliRunner()
        with bounded(seconds=120, megabytes=256):
            backfill = runner.invoke(cli, ["--env-file", str(env_file), "backfill", "--limit", "5"])
            check = runner.invoke(cli, ["--env-file", str(env_file), "check", "--json"])
            sla = runner.invoke(cli, ["--env-file", str(env_file), "sla"])
        assert backfill.exit_code == 0, backfill.output
        assert check.exit_code == 1 and "refused the API key" in check.output, check.output
        assert sla.exit_code == 0, sla.output
        outputs = [backfill.output, check.output, sla.output]

        settings = inst.app.settings
        queue = EventQueue(settings.state_url)
        queue.open()
        try:
            app = build_app(settings, queue=queue, metrics=Metrics())
            with TestClient(app, base_url="http://127.0.0.1") as client:
                outputs += [client.get("/healthz").text, client.get("/metrics").text]
                signin = client.post(
                    "/dashboard/sign-in", data={"user": "admin", "password": password, "next": "/dashboard/"}
                )
                assert signin.status_code == 200, signin.text[:500]
                pages = ["/", "/sla", "/runs", "/runs/1", "/runs/1/changes.csv", "/runs/1/revert", "/model"]
                for page in pages:
                    answer = client.get("/dashboard" + page)
                    assert answer.status_code == 200, (page, answer.text[:300])
                    outputs.append(answer.text)
                outputs.append(client.post("/dashboard/sign-in", data={"user": "admin", "password": "x"}).text)
        finally:
            queue.close()

    outputs.append((workdir / "leadsync.log").read_text(encoding="utf-8"))
    outputs.append("\n".join(record.getMessage() for record in caplog.records))
    state = workdir / "salesforce-state.db"
    stored = b"".join(p.read_bytes() for p in workdir.glob("salesforce-state.db*"))
    conn = sqlite3.connect(state)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        dumped = "\n".join(str(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))
    finally:
        conn.close()
    text = "\n".join(outputs) + dumped
    for secret in every:
        assert secret not in text, f"a secret reached an output: {secret[:12]}..."
        assert secret.encode() not in stored, f"a secret reached the state database: {secret[:12]}..."
    assert not BASIC_AUTH.search(text), "a Basic credential (Mailchimp's key in base64) reached an output"
    assert "Traceback" not in "\n".join(outputs[:3])
    with open_store(state) as store:
        assert store.list_runs("salesforce"), "the backfill was recorded"
