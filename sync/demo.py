"""``leadsync demo``: the built-in sandbox, seeded, synced for real through each CRM's client library.

Everything runs on 127.0.0.1: the sandbox serves the CRM APIs and the Mailchimp and ActiveCampaign emulations,
leadsync reads its settings from a ``.env`` that points at it (the same lines ``leadsync sandbox serve
--nurture`` prints), runs ``check --create-fields``, a backfill that also hands the model's ``nurture`` segment
to both tools, and a second sync that must write nothing, then shows the top leads.
"""

from __future__ import annotations

import secrets
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from connectors.records import Contact
from connectors.registry import CRM_NAMES
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.app import CRMS as SANDBOX_CRMS
from connectors.sandbox.app import DESTINATIONS, NURTURE_TAG
from connectors.sandbox.seed import generate
from scoring import STARTER_MODEL_PATH, explain, score
from sync.app import App
from sync.sandbox_cli import env_lines
from sync.settings import DashboardSettings, Settings, load_settings

CRMS = CRM_NAMES


def sandbox_env_file(
    sandbox: Any, crm: str, workdir: Path, *, model_file: Path | str = STARTER_MODEL_PATH, extra: Sequence[str] = ()
) -> Path:
    """A ``.env`` pointing leadsync at the sandbox (a ``Sandbox`` or a ``SandboxProcess``), state in ``workdir``."""
    lines = [line for line in env_lines(sandbox, [crm]) if line and not line.startswith("#")]
    lines += [
        f"LEADSYNC_MODEL_FILE={model_file}",
        f"LEADSYNC_STATE_URL=sqlite:///{workdir / f'{crm}-state.db'}",
        f"LEADSYNC_PLAN_DIR={workdir / 'plans'}",
        "LEADSYNC_LOG_LEVEL=WARNING",
        *extra,
    ]
    path = workdir / f"{crm}.env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _read_all(app: App) -> list[Contact]:
    contacts: list[Contact] = []
    for page in app.adapter.read_contacts(None):
        contacts.extend(page.contacts)
    return contacts


def _stages(app: App, contacts: list[Contact]) -> Counter[str]:
    field = app.policies.lifecycle.field.get(app.settings.crm, "lifecycle_stage")
    return Counter(str(c.get(field) or "(empty)") for c in contacts)


def run_demo(
    *, crm: str = "all", contacts: int = 300, seed: int = 7, console: Console | None = None, dashboard: bool = False
) -> int:
    console = console or Console()
    crms = CRMS if crm == "all" else (crm,)
    now = datetime.now(UTC)
    exit_code = 0
    synced: list[Settings] = []
    config = SandboxConfig(seed=seed, crms=SANDBOX_CRMS + DESTINATIONS)  # the CRMs, and the nurture tools
    with tempfile.TemporaryDirectory(prefix="leadsync-demo-") as tmp, Sandbox(config) as sandbox:
        workdir = Path(tmp)
        console.print(f"[bold]leadsync demo[/]: sandbox on 127.0.0.1 ({sandbox.http_url}, {sandbox.https_url})")
        dataset = generate(contacts, seed=seed, now=now)
        sandbox.seed_destinations(dataset)
        # ActiveCampaign's 5 requests/s are paced on the sandbox's clock: the demo shows the calls, not the wait
        paced = {"sleep": sandbox.clock.advance, "monotonic": lambda: sandbox.clock.seconds() + 1e9}
        for name in crms:
            sandbox.apis[name].load(dataset)  # type: ignore[attr-defined]
            console.rule(f"[bold]{name}[/]: {contacts} seeded contacts")
            app = App(
                load_settings(sandbox_env_file(sandbox, name, workdir)),
                destination_options=paced,
                adapter_options={"now": sandbox.clock.now},  # a backfill's snapshot bound is on the CRM's clock
            )
            synced.append(app.settings)
            try:
                report = app.check(create_fields=True)
                for line in report["lines"]:
                    console.print("  " + line, markup=False)
                before = _read_all(app)
                summary = app.run("backfill", progress=False)
                console.print(
                    f"  backfill: read {summary.counts['read']}, scored {summary.counts['scored']}, "
                    f"wrote {summary.counts['written']}, quarantined {summary.counts['quarantined']}, "
                    f"{sum(summary.api_calls.values())} API calls, {summary.duration:.1f}s",
                    markup=False,
                )
                if summary.changes_by_kind:
                    console.print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(summary.changes_by_kind.items())))
                console.print("  " + nurture_line(summary.counts), markup=False)
                again = app.run("sync", progress=False)
                console.print(
                    f"  second sync: read {again.counts['read']}, wrote {again.counts['written']} "
                    f"(nothing changed, nothing written), {sum(again.api_calls.values())} API calls",
                    markup=False,
                )
                after = _read_all(app)
                _show(console, app, before, after, now)
                if summary.exit_code not in (0, 1) or again.counts["written"] != 0:
                    exit_code = 1
            finally:
                app.close()
        if dashboard:
            serve_dashboard(console, synced[0])
        else:
            console.print(
                "To browse these results in the dashboard: [bold]leadsync demo --dashboard[/] (Ctrl-C stops it)."
            )
    return exit_code


def nurture_line(counts: Counter[str]) -> str:
    """What the backfill handed to the nurture tools (the starter model's ``nurture`` segment)."""
    mailchimp, activecampaign = counts["nurture_mailchimp_added"], counts["nurture_activecampaign_added"]
    line = f"nurture: {mailchimp} contacts tagged {NURTURE_TAG} in Mailchimp, {activecampaign} in ActiveCampaign"
    trouble = counts["nurture_waiting"] + counts["nurture_failed"]
    return line + (f" ({trouble} moves not confirmed: the next sync sends them again)" if trouble else "")


def serve_dashboard(console: Console, settings: Settings) -> None:
    """The dashboard on the demo's state database (its first CRM) until Ctrl-C, with a one-time password."""
    from pydantic import SecretStr

    from sync.dashboard import PREFIX, hash_password
    from sync.server import EventQueue, ServerThread, build_app

    password = secrets.token_urlsafe(12)
    board = DashboardSettings(user="demo", password_hash=SecretStr(hash_password(password)))
    settings = settings.model_copy(update={"dashboard": board})
    queue = EventQueue(settings.state_url)
    server = ServerThread(build_app(settings, queue=queue), settings.server, port=0).start()
    console.print(f"Dashboard ({settings.crm}): {server.url}{PREFIX}/  sign in as demo / {password}", markup=False)
    console.print("Ctrl-C stops the dashboard and the sandbox.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.stop()
        queue.close()


def _show(console: Console, app: App, before: list[Contact], after: list[Contact], now: datetime) -> None:
    stages_before, stages_after = _stages(app, before), _stages(app, after)
    table = Table(title="Lifecycle stages in the CRM", show_lines=False)
    table.add_column("stage")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for stage in sorted(set(stages_before) | set(stages_after)):
        table.add_row(stage, str(stages_before[stage]), str(stages_after[stage]))
    console.print(table)
    score_field = app.planner().read_fields[0]
    ranked = sorted(after, key=lambda c: float(c.get(score_field) or 0), reverse=True)[:10]
    activities = app.adapter.read_activities([c.id for c in ranked])
    top = Table(title="Top leads, as written to the CRM")
    for col in ("contact", "score", "grade", "stage", "tier", "why"):
        top.add_column(col, overflow="fold")
    for contact in ranked:
        result = score(app.model, contact, list(activities.get(contact.id, [])), now)
        name = " ".join(str(contact.get(k) or "") for k in ("first_name", "last_name")).strip() or contact.id
        top.add_row(
            f"{name} ({contact.get('company') or '-'})",
            str(contact.get(score_field)),
            result.grade,
            result.stage,
            result.tier or "-",
            explain(result, max_length=110),
        )
    console.print(top)
