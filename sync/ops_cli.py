"""Commands for running leadsync in production: ``daemon``, ``runs``, ``show`` and ``revert``.

``register(cli)`` adds them to the ``leadsync`` group (``sync.cli`` calls it).  The daemon's monthly
calibration is ``sync.calibration_job.calibrate_job``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connectors.registry import CRM_NAMES
from sync import testhooks
from sync.app import App, ConfigError
from sync.calibration_job import calibrate_job
from sync.cli_context import current_ctx, fail, handle_errors, locked, out
from sync.settings import missing_credentials
from sync.state import RunRecord

if TYPE_CHECKING:
    from sync.revert import FieldRestore


def register(cli: click.Group) -> None:
    from sync.history_cli import history
    from sync.sla_cli import sla

    for command in (daemon, runs, show, revert, history, sla):
        cli.add_command(command)


def _app() -> App:
    app = current_ctx().app()
    factory = testhooks.adapter_factory()
    if factory is not None:
        app.adapter_factory = factory
    return app


# -- daemon ----------------------------------------------------------------------------------------------
@click.command()
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /healthz and /metrics on this local port (overrides LEADSYNC_DAEMON__METRICS_PORT).",
)
@handle_errors
def daemon(metrics_port: int | None) -> None:
    """Run unattended: a sync at start, then syncs, nightly rescore and monthly calibration on their schedules.

    Schedules, the metrics port and the alert webhook are LEADSYNC_DAEMON__* settings.  SIGTERM or Ctrl-C
    finishes the batch in flight, saves state and exits 0.
    """
    from sync.daemon import Daemon, DaemonConfigError, triggers_from

    app = _app()
    settings, clock, factory = app.settings, app.clock, app.adapter_factory
    # a bad model file, policy block, schedule or missing credential stops the daemon now, not at 2 a.m.
    _ = app.model, app.blocks
    missing = missing_credentials(settings)
    if missing:
        raise ConfigError("\n".join(missing))
    try:
        triggers = triggers_from(settings)
    except DaemonConfigError as exc:
        fail(f"Configuration error: {exc}", exc.exit_code)
    app.close()

    def fresh_app() -> App:
        return App(settings, clock=clock, adapter_factory=factory)

    worker = Daemon(
        settings,
        app_factory=fresh_app,
        calibrate=calibrate_job,
        clock=clock,
        triggers=triggers,
        metrics_port=metrics_port,
    )
    try:
        code = worker.run()
    except DaemonConfigError as exc:
        fail(f"Configuration error: {exc}", exc.exit_code)
    sys.exit(code)


# -- history ---------------------------------------------------------------------------------------------
def run_dict(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "crm": run.crm,
        "kind": str(run.kind),
        "status": str(run.status),
        "dry_run": run.dry_run,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_seconds": run.duration_seconds,
        "model_version": run.model_version,
        "counts": dict(run.counts),
        "api_calls": dict(run.api_calls),
        "api_calls_total": sum(run.api_calls.values()),
        "quota_left": run.quota_left,
        "error": run.error,
        "pid": run.pid,
        "host": run.host,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs, newest first.")
@click.option("--crm", type=click.Choice(CRM_NAMES), help="Only this CRM's runs.")
@click.option(
    "--kind", type=click.Choice(["backfill", "sync", "rescore", "revert", "calibrate"]), help="Only runs of this kind."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def runs(limit: int, crm: str | None, kind: str | None, as_json: bool) -> None:
    """Run history: what each backfill, sync, rescore and revert did (times in UTC)."""
    app = _app()
    records = app.store.list_runs(crm, kind=kind, limit=limit)
    if as_json:
        click.echo(json.dumps([run_dict(r) for r in records], indent=2))
        return
    if not records:
        out.print("No runs yet: start with `leadsync backfill`.")
    else:
        _runs_table(records)
    _sla_line(app, crm or app.settings.crm)


def _sla_line(app: App, crm: str) -> None:
    """The last 7 days' response SLAs per tracked tier, in one line (``leadsync sla``: per owner, 30 days)."""
    from sync.cli_context import now_utc
    from sync.sla import report_for

    totals: dict[str, list[int]] = {}
    for row in report_for(app.store, crm, now_utc(), (7,)):
        tier = totals.setdefault(row.tier, [0, 0, 0])
        tier[0], tier[1], tier[2] = tier[0] + row.met, tier[1] + row.missed, tier[2] + row.pending
    if totals:
        parts = [f"{tier} met {m}, missed {x}, pending {p}" for tier, (m, x, p) in sorted(totals.items())]
        out.print(f"Response SLAs, last 7 days: {'; '.join(parts)} (per owner: leadsync sla).", markup=False)


def _runs_table(records: Sequence[RunRecord]) -> None:
    several_crms = len({r.crm for r in records}) > 1
    table = Table(title="leadsync runs (UTC)", box=box.SIMPLE_HEAD, pad_edge=False)
    numeric = ("run", "read", "written", "failed", "quar.", "gone", "calls")
    for col in ("run", *(("crm",) if several_crms else ()), "kind", "status", "started", "took", *numeric[1:]):
        table.add_column(col, justify="right" if col in numeric else "left", no_wrap=True)
    table.add_column("model", no_wrap=True)
    for r in records:
        c = r.counts
        table.add_row(
            str(r.id),
            *((r.crm,) if several_crms else ()),
            str(r.kind) + (" (dry)" if r.dry_run else ""),
            str(r.status),
            r.started_at.strftime("%Y-%m-%d %H:%M"),
            _duration(r.duration_seconds),
            str(c.get("read", 0)),
            str(c.get("written", 0)),
            str(c.get("failed", 0)),
            str(c.get("quarantined", 0)),
            str(c.get("merged", 0) + c.get("deleted", 0)),  # ids merged away or deleted in the CRM
            str(sum(r.api_calls.values())),
            r.model_version or "-",
        )
    # piped into a file or another program: no terminal width to fit, so do not fold the table
    console = out if out.is_terminal else Console(width=200, highlight=False)
    console.print(table)


@click.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with --changes: one line per change).")
@click.option("--changes", is_flag=True, help="List what the run wrote: contact, email, name, field, old, new.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every change of the run to this CSV file (implies --changes).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Changes printed with --changes."
)
@handle_errors
def show(run_id: int, as_json: bool, changes: bool, csv_path: Path | None, limit: int) -> None:
    """One run in detail: counts, API calls by endpoint, quota left, duration, model version, error.

    With --changes, every value the run wrote instead (--csv FILE for all of them).
    """
    app = _app()
    run = app.store.get_run(run_id)
    if run is None:
        fail(f"There is no run {run_id} in the state database: `leadsync runs` lists them.", 2)
        return
    if changes or csv_path is not None:
        from sync.history_cli import print_changes

        print_changes(app.store, run, csv_path=csv_path, limit=limit, as_json=as_json)
        return
    if as_json:
        click.echo(json.dumps(run_dict(run), indent=2))
        return
    lines = [
        f"Run {run.id}: {run.kind}{' (dry run)' if run.dry_run else ''} on {run.crm}, {run.status}",
        f"  started     {_when(run.started_at)} UTC",
        f"  finished    {_when(run.finished_at)} UTC" + (f" (took {_duration(run.duration_seconds)})"),
        f"  model       {run.model_version or '-'}",
        f"  process     pid {run.pid} on {run.host}",
        "  records     " + _counts(run.counts),
        f"  API calls   {sum(run.api_calls.values())}" + _by_endpoint(run.api_calls),
        f"  quota left  {run.quota_left if run.quota_left is not None else 'not reported'}",
    ]
    if run.error:
        lines.append(f"  error       {run.error}")
    if run.kind != "revert" and not run.dry_run and run.counts.get("written"):
        lines.append(f"  undo with   leadsync revert {run.id} --dry-run")
    for line in lines:
        out.print(line, markup=False)


def _counts(counts: Mapping[str, int]) -> str:
    order = ["read", "scored", "changed", "written", "failed", "quarantined", "merged", "deleted"]
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return ", ".join(f"{k} {counts[k]}" for k in keys) or "none"


def _by_endpoint(calls: Mapping[str, int]) -> str:
    if not calls:
        return ""
    return " (" + ", ".join(f"{name} {n}" for name, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))) + ")"


# -- revert ----------------------------------------------------------------------------------------------
@click.command()
@click.argument("run_id", type=int)
@click.option("--dry-run", is_flag=True, help="Show what would be restored and the conflicts; write nothing.")
@click.option("--wait", is_flag=True, help="Wait for a run already in progress instead of exiting.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--force", is_flag=True, help="Revert a run that was already reverted (undoes what later runs wrote).")
@handle_errors
def revert(run_id: int, dry_run: bool, wait: bool, as_json: bool, force: bool) -> None:
    """Undo a run: restore every value it overwrote, except those changed in the CRM since (conflicts).

    Recorded as a run of its own, so a revert can be reverted too.  A run already reverted is refused
    unless --force; --dry-run lists what would be restored.
    """
    from sync.progress import RichProgress
    from sync.revert import AlreadyReverted, RevertError, describe, fields_to_read, revert_run

    app = _app()
    with locked(app, wait) as got:
        if not got:
            sys.exit(0)
        app.extra_read_fields = fields_to_read(app.store, run_id)
        try:
            report = revert_run(
                crm=app.settings.crm,
                adapter=app.adapter,
                store=app.store,
                run_id=run_id,
                clock=app.clock,
                dry_run=dry_run,
                batch_size=app.settings.batch_size,
                force=force,
                progress=RichProgress(app.settings.crm, label="contacts checked"),
            )
        except AlreadyReverted as exc:
            if not as_json:
                _restores_table(exc.plan.restores, "A second revert would restore (first rows)")
            fail(str(exc), exc.exit_code)
            return
        except RevertError as exc:
            fail(str(exc), exc.exit_code)
            return
        finally:
            app.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        sys.exit(report.exit_code)
    for line in describe(report):
        out.print(line, markup=False)
    if report.dry_run and report.restores:
        _restores_table(report.restores, "Would restore (nothing written)")
    if report.conflicts:
        table = Table(title="Conflicts: changed since the run, left alone")
        for col in ("contact", "field", "run wrote", "CRM now", "why"):
            table.add_column(col, overflow="fold")
        for c in report.conflicts[:50]:
            table.add_row(
                *(Text(cell) for cell in (c.contact_id, c.field, _text(c.written), _text(c.current), c.reason))
            )
        out.print(table)
        if len(report.conflicts) > 50:
            out.print(f"...and {len(report.conflicts) - 50} more (use --json for all of them).")
    for cid, why in report.failed[:20]:
        out.print(f"  failed: {cid}: {why}", markup=False)
    sys.exit(report.exit_code)


RESTORES_SHOWN = 50


def _restores_table(restores: Sequence[FieldRestore], title: str) -> None:
    """What a revert restores: contact, field, the CRM's value now, the value put back."""
    if not restores:
        return
    table = Table(title=title)
    for col in ("contact", "field", "CRM now", "restore"):
        table.add_column(col, overflow="fold")
    for r in restores[:RESTORES_SHOWN]:
        table.add_row(*(Text(cell) for cell in (r.contact_id, r.field, _text(r.current), _text(r.restore))))
    out.print(table)
    if len(restores) > RESTORES_SHOWN:
        out.print(f"...and {len(restores) - RESTORES_SHOWN} more (use --json for the full list).")


def _text(value: Any) -> str:
    return "(empty)" if value in (None, "") else str(value)[:60]
