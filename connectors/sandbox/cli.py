"""``leadsync sandbox ...``: run, seed and fill the local CRM sandbox; and ``run_subprocess`` for tests.

::

    leadsync sandbox serve --contacts 1000 --seed 7            # foreground; prints URLs, CA, credentials, env
    leadsync sandbox seed --crm hubspot --contacts 10000 --db sandbox.db
    leadsync sandbox import --crm pipedrive --csv leads.csv --mapping x_education.yaml --db sandbox.db
    leadsync sandbox serve --db sandbox.db                      # serves what the DB holds

Tests that need the sandbox in another process use ``run_subprocess`` (``process.py``, re-exported here).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click

from connectors.sandbox.app import CRMS, DESTINATIONS, NURTURE_TAG, Sandbox, SandboxConfig
from connectors.sandbox.faults import FaultConfig
from connectors.sandbox.process import SandboxProcess, run_subprocess
from connectors.sandbox.webhooks.options import intake_env_lines, webhook_config, webhook_options

__all__ = ["SandboxProcess", "command_group", "env_lines", "run_subprocess", "sandbox"]

CRM_CHOICE = click.Choice(["all", *CRMS])
_LABELS = {
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "pipedrive": "Pipedrive",
    "mailchimp": "Mailchimp",
    "activecampaign": "ActiveCampaign",
}


def _crms(choice: str) -> tuple[str, ...]:
    return CRMS if choice == "all" else (choice,)


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise click.BadParameter("give a timezone, e.g. 2025-06-01T00:00:00Z", param_hint="--now")
    return parsed


def _parse_limits(pairs: Sequence[str], raw_json: str | None) -> dict[str, dict[str, Any]]:
    limits: dict[str, dict[str, Any]] = json.loads(raw_json) if raw_json else {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        crm, dot, key = name.partition(".")
        if not sep or not dot or crm not in CRMS:
            raise click.BadParameter(f"expected CRM.KEY=VALUE (e.g. hubspot.burst_per_10s=50), got {pair!r}")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        limits.setdefault(crm, {})[key] = value
    return limits


# Which sandbox credential each CRM's printed settings use (the rest are printed as commented alternatives),
# and the setting a credential goes to when its name differs.
_PRIMARY = {"hubspot": {"private_app_token"}, "salesforce": {"session_id"}, "pipedrive": {"api_token"}}
_SETTING_NAME = {("hubspot", "private_app_token"): "access_token"}
_KNOWN_SETTINGS = "leadsync.sandbox.known_settings"  # key in the click context's meta


def env_lines(
    sandbox: Sandbox, crms: Sequence[str], known_settings: Mapping[str, Collection[str]] | None = None
) -> list[str]:
    """The ``LEADSYNC_...`` lines that point leadsync at this sandbox.

    ``known_settings`` (CRM -> the setting names leadsync accepts, handed in by ``sync``) turns a line
    leadsync would not read into a comment; without it every line is printed unchecked.
    """
    known = known_settings or {}
    lines = [f"LEADSYNC_CRM={crms[0]}" if len(crms) == 1 else f"# LEADSYNC_CRM=one of {', '.join(crms)}"]
    for crm in crms:
        creds = sandbox.credentials(crm)
        primary = _PRIMARY[crm] & set(creds) or set(creds)
        values: dict[str, str] = {}
        if crm == "hubspot":
            values["base_url"] = sandbox.hubspot_url
        elif crm == "salesforce":
            values["auth"] = "session" if "session_id" in primary else "password"
            values["instance_url"] = sandbox.salesforce_url
            values["login_url"] = sandbox.salesforce_url
        else:
            values["base_url"] = sandbox.pipedrive_url
            values["oauth_url"] = sandbox.pipedrive_url
        alternatives: dict[str, str] = {}
        for key, value in creds.items():
            name = _SETTING_NAME.get((crm, key), key).lower()
            (values if key in primary else alternatives)[name] = value
        for key, value in values.items():
            line = f"LEADSYNC_{crm.upper()}__{key.upper()}={value}"
            if known and key not in known.get(crm, set()):
                line = f"# {line}   (accepted by the sandbox; leadsync has no such setting)"
            lines.append(line)
        if alternatives:
            lines.append(f"#   {_LABELS[crm]} also accepts (another auth flow):")
            lines += [f"#   LEADSYNC_{crm.upper()}__{k.upper()}={v}" for k, v in alternatives.items()]
    lines.append(f"LEADSYNC_CA_BUNDLE={sandbox.ca_path}")
    lines += destination_env_lines(sandbox, known)
    if getattr(sandbox, "config", None) is not None and sandbox.config.webhooks is not None:
        from connectors.sandbox.salesforce.ids import ORG_ID

        lines += intake_env_lines(sandbox.config.webhooks, ORG_ID, known_settings)
    return lines


def served_destinations(sandbox: Any) -> list[str]:
    """The nurture tools a sandbox (in this process, or a ``SandboxProcess``) serves."""
    served = sandbox.apis if hasattr(sandbox, "apis") else sandbox.info.get("crms", ())
    return [name for name in DESTINATIONS if name in served]


def destination_env_lines(sandbox: Any, known: Mapping[str, Collection[str]] | None = None) -> list[str]:
    """The ``LEADSYNC_MAILCHIMP__*`` / ``LEADSYNC_ACTIVECAMPAIGN__*`` lines and the route of the ``nurture`` segment
    to the sandbox's ``Nurture`` tag in each, when the sandbox serves the nurture tools."""
    tools = served_destinations(sandbox)
    values = {
        "mailchimp": {**sandbox.credentials("mailchimp"), "base_url": f"{sandbox.http_url}/3.0"},
        "activecampaign": {**sandbox.credentials("activecampaign"), "base_url": sandbox.http_url},
    }
    lines: list[str] = []
    for tool in tools:
        for key, value in values[tool].items():
            line = f"LEADSYNC_{tool.upper()}__{key.upper()}={value}"
            if known and key not in known.get(tool, set()):
                line = f"# {line}   (accepted by the sandbox; leadsync has no such setting)"
            lines.append(line)
    if tools:
        route = ", ".join(f'"{tool}:tag:{NURTURE_TAG}"' for tool in tools)
        lines.append(f'LEADSYNC_NURTURE__SEGMENTS={{"nurture": [{route}]}}')
    return lines


def describe(sandbox: Sandbox, crms: Sequence[str], known_settings: Mapping[str, Collection[str]] | None = None) -> str:
    out = ["leadsync sandbox is running (127.0.0.1 only). Ctrl-C or SIGTERM stops it.", ""]
    for crm in crms:
        url = {"hubspot": sandbox.hubspot_url, "salesforce": sandbox.salesforce_url}.get(crm, sandbox.pipedrive_url)
        creds = sandbox.credentials(crm)
        shown = ", ".join(f"{k}={v}" for k, v in creds.items()) or "(module exports no SANDBOX_CREDENTIALS yet)"
        out.append(f"  {_LABELS[crm]:<11} {url}")
        out.append(f"  {'':<11} credentials: {shown}")
    for tool in served_destinations(sandbox):
        url = f"{sandbox.http_url}/3.0" if tool == "mailchimp" else sandbox.http_url
        keys = ", ".join(f"{k}={v}" for k, v in sandbox.credentials(tool).items())
        out.append(f"  {_LABELS[tool]:<11} {url}   (nurture tool, tag {NURTURE_TAG!r})")
        out.append(f"  {'':<11} credentials: {keys}")
    out += [
        "",
        f"  CA certificate (TLS port {sandbox.https_port}): {sandbox.ca_path}",
        f"  Counters: {sandbox.http_url}/_sandbox/counters   Faults: POST {sandbox.http_url}/_sandbox/faults",
        "",
        "Paste into .env (or export) to point leadsync at the sandbox:",
        "",
        *env_lines(sandbox, crms, known_settings),
        "",
    ]
    return "\n".join(out)


def _seed_crms(
    sandbox: Sandbox, crms: Sequence[str], contacts: int, seed: int, activities: float, now: datetime | None
) -> list[str]:
    """Seed each CRM that the DB does not already hold; one line of news per CRM."""
    from connectors.sandbox.seed import generate

    news: list[str] = []
    dataset = None
    for crm in crms:
        held = sandbox.meta_get(f"loaded.{crm}")
        if held is not None:
            news.append(f"{_LABELS[crm]}: serving the data already in {sandbox.config.db_path} ({held})")
            continue
        if contacts <= 0:
            continue
        if dataset is None:
            started = time.perf_counter()
            dataset = generate(contacts, seed, now or sandbox.clock.now().replace(microsecond=0), activities)
            news.append(
                f"Generated {len(dataset.people):,} people, {len(dataset.activities):,} activities, "
                f"{len(dataset.outcomes):,} outcomes (seed {seed}) in {time.perf_counter() - started:.1f} s"
            )
        try:
            ids = sandbox.load_into(crm, dataset)
        except NotImplementedError as exc:
            news.append(f"{_LABELS[crm]}: not seeded: {exc}")
            continue
        news.append(f"{_LABELS[crm]}: loaded {len(ids):,} records")
    if served_destinations(sandbox) and contacts > 0:
        # the nurture tools are kept in memory: they get the same people again at every start
        if dataset is None:
            dataset = generate(contacts, seed, now or sandbox.clock.now().replace(microsecond=0), activities)
        for tool, people in sandbox.seed_destinations(dataset).items():
            news.append(f"{_LABELS[tool]}: {people:,} people, tag {NURTURE_TAG!r}")
    return news


@click.command()
@click.option("--port", type=int, default=8765, show_default=True, help="Plain HTTP port (HubSpot, Pipedrive); 0: any.")
@click.option("--tls-port", type=int, default=8766, show_default=True, help="HTTPS port (all three); 0: any free port.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generated data and of the faults.")
@click.option("--contacts", type=click.IntRange(0), default=1000, show_default=True, help="People to generate.")
@click.option("--activities", type=click.FloatRange(0), default=10.0, show_default=True, help="Mean per person.")
@click.option("--crm", type=CRM_CHOICE, default="all", show_default=True, help="Which CRM APIs to serve.")
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Run the sandbox's clock (rate windows, daily budgets, timestamps) this many times faster.",
)
@click.option("--no-rate-limits", is_flag=True, help="Serve without the CRMs' rate limits.")
@click.option(
    "--nurture/--no-nurture",
    default=False,
    envvar="LEADSYNC_SANDBOX_NURTURE",
    show_default=True,
    help="Also serve the Mailchimp and ActiveCampaign emulations (nurture hand-off), seeded with the same people.",
)
@click.option("--limit", "limit_pairs", multiple=True, metavar="CRM.KEY=VALUE", help="Override a documented limit.")
@click.option("--fault-429", type=click.FloatRange(0, 1), default=0.0, help="Probability of an injected 429.")
@click.option("--fault-5xx", type=click.FloatRange(0, 1), default=0.0, help="Probability of a 500/502/503.")
@click.option("--fault-reset", type=click.FloatRange(0, 1), default=0.0, help="Probability of a connection reset.")
@click.option("--fault-slow", type=click.FloatRange(0, 1), default=0.0, help="Probability of a slow answer.")
@click.option(
    "--slow-seconds", type=click.FloatRange(0), default=30.0, show_default=True, help="Delay of a slow answer."
)
@click.option("--fault-malformed", type=click.FloatRange(0, 1), default=0.0, help="Probability of truncated JSON.")
@click.option("--fault-record", type=click.FloatRange(0, 1), default=0.0, help="Per-record failure rate in batches.")
@click.option("--db", type=click.Path(dir_okay=False), default=None, help="SQLite file (seeded data persists there).")
@click.option("--ca-path", type=click.Path(dir_okay=False), default=None, help="Write the CA certificate here.")
@click.option("--now", "now_text", default=None, help="Pin the data's 'now' (ISO 8601 with a timezone).")
@click.option("--faults-json", default=None, hidden=True)
@click.option("--limits-json", default=None, hidden=True)
@click.option("--ready-file", type=click.Path(dir_okay=False), default=None, hidden=True)
@webhook_options
def serve(
    port: int,
    tls_port: int,
    seed: int,
    contacts: int,
    activities: float,
    crm: str,
    time_scale: float,
    no_rate_limits: bool,
    nurture: bool,
    limit_pairs: tuple[str, ...],
    fault_429: float,
    fault_5xx: float,
    fault_reset: float,
    fault_slow: float,
    slow_seconds: float,
    fault_malformed: float,
    fault_record: float,
    db: str | None,
    ca_path: str | None,
    now_text: str | None,
    faults_json: str | None,
    limits_json: str | None,
    ready_file: str | None,
    **webhook: Any,
) -> None:
    """Run the sandbox in the foreground, seeded, until Ctrl-C or SIGTERM."""
    crms = _crms(crm)
    faults = FaultConfig(
        rate_429=fault_429,
        rate_5xx=fault_5xx,
        rate_reset=fault_reset,
        rate_slow=fault_slow,
        slow_seconds=slow_seconds,
        rate_malformed=fault_malformed,
        rate_record_failure=fault_record,
    )
    try:
        faults.validate()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    config = SandboxConfig(
        port=port,
        tls_port=tls_port,
        db_path=db or ":memory:",
        seed=seed,
        time_scale=time_scale,
        rate_limits=not no_rate_limits,
        faults=faults,
        limits=_parse_limits(limit_pairs, limits_json),
        ca_path=ca_path,
        crms=crms + DESTINATIONS if nurture else crms,
        webhooks=webhook_config(webhook, crms, seed),
    )
    sb = Sandbox(config)
    if faults_json:
        try:
            sb.faults.configure(**json.loads(faults_json))
        except ValueError as exc:
            raise click.UsageError(f"--faults-json: {exc}") from None
    for line in _seed_crms(sb, crms, contacts, seed, activities, _parse_now(now_text)):
        click.echo(line)
    try:
        sb.start()
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1 port {port} / {tls_port}: {exc.strerror or exc}; "
            "pick others with --port/--tls-port (0 picks a free one)"
        ) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(describe(sb, crms, click.get_current_context().meta.get(_KNOWN_SETTINGS)))
        if ready_file:
            tmp = Path(f"{ready_file}.tmp")
            tmp.write_text(json.dumps({**sb.info(), "pid": os.getpid()}))
            tmp.replace(ready_file)
        while not stop.wait(0.5):
            pass
    finally:
        sb.stop()
        sb.store.conn.close()  # a --db file is complete on disk after a clean stop
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        click.echo("Sandbox stopped.")


@click.command()
@click.option("--crm", type=CRM_CHOICE, default="all", show_default=True)
@click.option("--contacts", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--activities", type=click.FloatRange(0), default=10.0, show_default=True, help="Mean per person.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--now", "now_text", default=None, help="The data's 'now' (ISO 8601 with a timezone); default: now.")
@click.option("--db", type=click.Path(dir_okay=False), required=True, help="SQLite file that `serve --db` serves.")
def seed(crm: str, contacts: int, activities: float, seed: int, now_text: str | None, db: str) -> None:
    """Generate realistic data and store it in a sandbox DB file."""
    crms = _crms(crm)
    sb = Sandbox(SandboxConfig(db_path=db, seed=seed, crms=crms))
    for crm_name in crms:
        if sb.meta_get(f"loaded.{crm_name}") is not None:
            raise click.ClickException(
                f"{db} already holds {_LABELS[crm_name]} data; use a new --db file (or delete this one)"
            )
    for line in _seed_crms(sb, crms, contacts, seed, activities, _parse_now(now_text)):
        click.echo(line)
    sb.store.conn.close()


@click.command("import")
@click.option("--crm", type=CRM_CHOICE, default="all", show_default=True)
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), required=True, help="Mapping file (YAML).")
@click.option("--now", "now_text", default=None, help="The data's 'now' (ISO 8601 with a timezone); default: now.")
@click.option("--db", type=click.Path(dir_okay=False), required=True, help="SQLite file that `serve --db` serves.")
def import_(crm: str, csv_path: str, mapping: str, now_text: str | None, db: str) -> None:
    """Load a CSV export into a sandbox DB file through a mapping file."""
    from connectors.sandbox.importer import MappingError, from_csv

    crms = _crms(crm)
    sb = Sandbox(SandboxConfig(db_path=db, crms=crms))
    now = _parse_now(now_text) or sb.clock.now().replace(microsecond=0)
    try:
        dataset = from_csv(csv_path, mapping, now)
    except MappingError as exc:
        raise click.ClickException(str(exc)) from None
    for message in dataset.warnings[:20]:
        click.echo(f"warning: {message}", err=True)
    if len(dataset.warnings) > 20:
        click.echo(f"warning: ... and {len(dataset.warnings) - 20} more problems", err=True)
    summary = dataset.summary()
    click.echo(
        f"Read {summary['people']:,} people, {summary['activities']:,} activities, {summary['outcomes']:,} "
        f"outcomes ({summary['won']:,} won) from {csv_path}"
    )
    for crm_name in crms:
        try:
            ids = sb.load_into(crm_name, dataset)
        except NotImplementedError as exc:
            click.echo(f"{_LABELS[crm_name]}: not loaded: {exc}", err=True)
            continue
        click.echo(f"{_LABELS[crm_name]}: loaded {len(ids):,} records into {db}")
    sb.store.conn.close()


def command_group(known_settings: Mapping[str, Collection[str]] | None = None) -> click.Group:
    """The ``sandbox`` commands; ``known_settings`` as in ``env_lines`` (``sync`` hands leadsync's in)."""

    def remember_settings() -> None:
        click.get_current_context().meta[_KNOWN_SETTINGS] = known_settings

    return click.Group(
        "sandbox",
        commands=[serve, seed, import_],
        callback=remember_settings,
        help="The local emulation of the HubSpot, Salesforce and Pipedrive APIs (demo, tests, benchmarks).",
    )


# `python -m connectors.sandbox.cli` (the subprocess runner) and tests: printed lines are not checked.
sandbox = command_group()


if __name__ == "__main__":
    sandbox()
