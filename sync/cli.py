"""``leadsync``: the command line.  Every command has ``--help``; exit codes are documented in the README:

0 ok · 1 some records quarantined (or a run failed, or a contact not found) · 2 configuration error ·
3 authentication or quota · 130 interrupted (Ctrl-C; 143 for SIGTERM).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from connectors.registry import CRM_NAMES
from scoring import load_model
from sync.app import App, ConfigError
from sync.calibration_job import calibration_rows
from sync.cli_context import INTERRUPTED_EXIT, Ctx, current_ctx, err, fail, handle_errors, locked, now_utc, out
from sync.nurture import summary_line
from sync.pipeline import ABORTED, RunSummary
from sync.private_files import private_umask
from sync.state import RunStatus


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--env-file", default=".env", show_default=True, help="Settings file (environment variables win).")
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default=None, help="Overrides settings."
)
@click.version_option(package_name="leadsync")
@click.pass_context
def cli(ctx: click.Context, env_file: str, log_level: str | None) -> None:
    """leadsync: one lead-scoring model for HubSpot, Salesforce and Pipedrive.

    Reads contacts and their activities, scores them with the model file, and writes back scores,
    lifecycle stages and owners, changing only what differs.
    """
    ctx.obj = Ctx(env_file=env_file, log_level=log_level)


# -- init -----------------------------------------------------------------------------------------------
@cli.command()
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--model-file", default="scoring.yaml", show_default=True, help="Where to write the starter model.")
@handle_errors
def init(force: bool, model_file: str) -> None:
    """Write .env (from settings.example.env) and a starter model file to edit."""
    from scoring import STARTER_MODEL_PATH
    from sync.settings import example_env

    env_path = Path(current_ctx().env_file)
    wrote = []
    if env_path.exists() and not force:
        out.print(f"{env_path} exists; left alone (use --force to overwrite).")
    else:
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(example_env())
        wrote.append(str(env_path))
    model_path = Path(model_file)
    if model_path.exists() and not force:
        out.print(f"{model_path} exists; left alone (use --force to overwrite).")
    else:
        shutil.copyfile(STARTER_MODEL_PATH, model_path)
        wrote.append(str(model_path))
    if wrote:
        out.print("Wrote " + ", ".join(wrote) + ". Next: fill in your CRM credentials, then `leadsync check`.")


# -- check ----------------------------------------------------------------------------------------------
@cli.command()
@click.option("--create-fields", is_flag=True, help="Create the missing write-back fields where rights allow.")
@click.option(
    "--model",
    "model_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Check the fields of this model file (a proposal) instead of the configured model's.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def check(create_fields: bool, model_file: str | None, as_json: bool) -> None:
    """Validate settings and model, connect, and report missing rights and fields in plain sentences."""
    report = current_ctx().app().check(create_fields=create_fields, model_file=model_file)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        for line in report["lines"]:
            out.print(line, markup=False)
    sys.exit(0 if report["ok"] else report.get("exit_code", 1))


# -- runs -----------------------------------------------------------------------------------------------
class StopRequest(threading.Event):
    """Set by the first SIGINT / SIGTERM; ``signum`` says which, for the exit code (128 + signal)."""

    signum: int = 0
    aborted: bool = False  # a second signal: the run is being torn down wherever it was


@contextmanager
def _graceful_stop() -> Iterator[StopRequest]:
    """SIGTERM / SIGINT finish the batch in flight and save state; a second one aborts at once."""
    stop = StopRequest()
    previous = {}

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            stop.aborted = True
            raise KeyboardInterrupt
        # plain stderr: a handler that runs rich may import modules lazily, and a second press inside an
        # import turns the abort into an ImportError
        sys.stderr.write("Stopping after the batch in flight (press Ctrl-C again to abort)...\n")
        sys.stderr.flush()
        stop.signum = signum
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, prev in previous.items():
            # Once a stop was asked for, the run has ended and the process is on its way out with 128+signal:
            # a late second press must not kill it between its summary and its exit code.
            signal.signal(sig, signal.SIG_IGN if stop.is_set() else prev)


def _print_summary(summary: RunSummary, app: App) -> None:
    counts = summary.counts
    verb = "would change" if summary.dry_run else "wrote"
    out.print(
        f"Run {summary.run_id} ({summary.kind}{', dry run' if summary.dry_run else ''}): {summary.status}. "
        f"read {counts['read']}, scored {counts['scored']}, changed {counts['changed']}, "
        f"{verb} {counts['changed'] if summary.dry_run else counts['written']}, failed {counts['failed']}, "
        f"quarantined {counts['quarantined']}"
        + (
            f", merged away {counts['merged']}, deleted {counts['deleted']}"
            if counts["merged"] or counts["deleted"]
            else ""
        )
        + f"; {sum(summary.api_calls.values())} API calls"
        + (f", quota left {summary.quota_left}" if summary.quota_left is not None else "")
        + f", {summary.duration:.1f}s.",
        markup=False,
    )
    if summary.changes_by_kind:
        out.print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(summary.changes_by_kind.items())), markup=False)
    if nurture_line := summary_line(counts, dry_run=summary.dry_run):
        out.print("  " + nurture_line, markup=False)
    if summary.dry_run and summary.plan_preview:
        table = Table(title="Planned changes (first rows)")
        for col in ("contact", "field", "old", "new"):
            table.add_column(col, overflow="fold")
        moves = [row for row in summary.plan_preview if row[1].startswith("nurture:")]
        for row in [row for row in summary.plan_preview if row not in moves][:30] + moves[:10]:
            table.add_row(*[Text(v[:60]) for v in row])  # CRM values are text, never rich markup
        out.print(table)
    if summary.plan_path:
        out.print(f"Full plan: {summary.plan_path}")
    if summary.error:
        err.print(summary.error, markup=False)


def _run_command(kind: str, dry_run: bool, wait: bool, **kwargs: Any) -> None:
    app = current_ctx().app()
    _ = app.model, app.blocks  # a broken model file is a configuration error even while another run works
    stop = StopRequest()
    try:
        with locked(app, wait) as got, _graceful_stop() as stop:
            if not got:
                sys.exit(0)
            summary = app.run(kind, dry_run=dry_run, stop=stop, progress=True, **kwargs)
    except KeyboardInterrupt:
        fail(f"The {kind} was {ABORTED}.", INTERRUPTED_EXIT)
        return
    except Exception:
        if stop.aborted:  # the second press landed where code turns it into another error (an import, a pool)
            fail(f"The {kind} was {ABORTED}.", INTERRUPTED_EXIT)
            return
        raise
    _print_summary(summary, app)
    if summary.status is RunStatus.INTERRUPTED:  # scripts must tell a stopped run from a finished one
        sys.exit(128 + (stop.signum or signal.SIGINT))
    sys.exit(summary.exit_code)


@cli.command()
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="Only contacts changed since."
)
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N contacts.")
@click.option("--dry-run", is_flag=True, help="Plan only: print and save the changes, write nothing.")
@click.option("--wait", is_flag=True, help="Wait for a run already in progress instead of exiting.")
@handle_errors
def backfill(since: datetime | None, limit: int | None, dry_run: bool, wait: bool) -> None:
    """Score every contact and write back; resumable: a killed backfill continues where it stopped."""
    since_utc = since.replace(tzinfo=UTC) if since is not None else None
    _run_command("backfill", dry_run, wait, since=since_utc, limit=limit)


@cli.command(name="sync")
@click.option("--dry-run", is_flag=True, help="Plan only: print and save the changes, write nothing.")
@click.option("--wait", is_flag=True, help="Wait for a run already in progress instead of exiting.")
@handle_errors
def sync_cmd(dry_run: bool, wait: bool) -> None:
    """One incremental run: contacts changed or active since the last run, plus quarantined ones."""
    _run_command("sync", dry_run, wait)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Plan only, write nothing.")
@click.option("--wait", is_flag=True, help="Wait for a run already in progress instead of exiting.")
@handle_errors
def rescore(dry_run: bool, wait: bool) -> None:
    """Recompute the scores that time has changed (decay, SLA tiers) from stored inputs: no CRM reads."""
    _run_command("rescore", dry_run, wait)


@cli.command()
@click.argument("contact_id")
@click.option("--explain", "show_explain", is_flag=True, help="List every rule that fired, with evidence.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def score(contact_id: str, show_explain: bool, as_json: bool) -> None:
    """Score one contact now: its score, its reasons, and what would be written."""
    report = current_ctx().app().score_one(contact_id, now=now_utc())
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    r = report["result"]
    out.print(
        f"{contact_id}: score {r['total']} (fit {r['fit']}, engagement {r['engagement']}), grade {r['grade']}, "
        f"stage {r['stage']}, tier {r['tier'] or '-'}" + (f", due by {r['sla_due_at']}" if r["sla_due_at"] else ""),
        markup=False,
    )
    out.print(f"reason: {report['reason']}", markup=False)
    if report["segments"]:
        names = [s["name"] for s in report["segments"] if s["matched"]]
        out.print(f"segments: {', '.join(names) or 'none'}", markup=False)
    if show_explain:
        for line in explain_lines(r["reasons"], now_utc()):
            out.print(line, markup=False)
        for s in report["segments"]:  # each segment's answer and the tests that decided it
            out.print(f"  {'in' if s['matched'] else 'not in':>6}  {s['name']}: {s['why']}", markup=False)
    if report["changes"]:
        out.print("would write:")
        for ch in report["changes"]:
            out.print(f"  {ch['field']}: {ch['old']!r} -> {ch['new']!r}", markup=False)
    else:
        out.print("nothing to write: the CRM already holds these values.")


# -- model ----------------------------------------------------------------------------------------------
@cli.group()
def model() -> None:
    """Work with model files: validate, run their examples, print the JSON Schema."""


@model.command("schema")
def model_schema() -> None:
    """Print the model file's JSON Schema (for editor completion)."""
    from scoring.cli_support import schema_command

    click.echo(schema_command())


@model.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def model_validate(path: str) -> None:
    """Check a model file; every problem with its line and field path; exit 2 on errors."""
    from scoring.cli_support import validate_command

    code, text = validate_command(path)
    if code == 0:
        from sync.app import parse_blocks

        try:  # the sync's policies: and fields: blocks live in the same file: a typo there fails here, not later
            parse_blocks(load_model(path), path)
        except ConfigError as exc:
            count = len(str(exc).splitlines())
            code, text = 2, f"{exc}\n{count} problem{'s' if count != 1 else ''} found"
    click.echo(text, err=code != 0)
    sys.exit(code)


@model.command("test")
@click.argument("path", type=click.Path(dir_okay=False))
def model_test(path: str) -> None:
    """Run the model file's examples and show the difference when one fails."""
    from scoring.cli_support import test_command

    code, text = test_command(path)
    click.echo(text)
    sys.exit(code)


# -- calibrate ------------------------------------------------------------------------------------------
@cli.command()
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False), help="Read history from a CSV export.")
@click.option("--outcome-column", default="Converted", show_default=True, help="CSV column: 1/yes = won.")
@click.option(
    "--exclude",
    "--exclude-column",
    "exclude_column",
    multiple=True,
    help="Columns (CSV) or fields (CRM history) to leave out, e.g. ones that leak the outcome (repeatable).",
)
@click.option(
    "--allow-leaky", multiple=True, help="Keep a field the leak guard would leave out (latest state, too good)."
)
@click.option(
    "--map", "mapping", multiple=True, help='CSV column to CRM field, e.g. "Lead Source=hs_analytics_source".'
)
@click.option("--map-file", type=click.Path(exists=True, dir_okay=False), help="YAML of CSV column: CRM field.")
@click.option(
    "--keep-unmatched/--drop-unmatched",
    default=None,
    help="Keep current rules no contact matched (default: kept when the history has no activities).",
)
@click.option(
    "--leads-per-week", type=click.FloatRange(min=0, min_open=True), help="Weekly lead volume for --capacity-per-week."
)
@click.option("--id-column", help="CSV column with the contact id.")
@click.option("--created-column", help="CSV column with the creation date (enables a time-based split).")
@click.option("--closed-column", help="CSV column with the close date.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="Model file (default: settings).")
@click.option("--out-model", type=click.Path(dir_okay=False), help="Where to write the proposed model file.")
@click.option("--html", "out_html", type=click.Path(dir_okay=False), help="Write the HTML report here.")
@click.option("--json-out", "out_json", type=click.Path(dir_okay=False), help="Write the metrics as JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--since", default=None, help="Drift window, e.g. 30d: compare it with the period before.")
@click.option("--max-rules", type=click.IntRange(1, 200), help="At most this many rules in the proposal.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the held-out split.")
@click.option("--target-precision", type=click.FloatRange(0, 1), help="Choose thresholds for this SQL precision.")
@click.option("--target-recall", type=click.FloatRange(0, 1), help="Choose thresholds for this MQL recall.")
@click.option("--capacity-per-week", type=click.FloatRange(min=1), help="Leads sales can work per week.")
@click.option("--evaluate-only", is_flag=True, help="Evaluate the current model; propose nothing.")
@click.option("--force", is_flag=True, help="Write the proposal even if it is not better on held-out data.")
@handle_errors
@private_umask()
def calibrate(
    csv_path: str | None,
    outcome_column: str,
    exclude_column: tuple[str, ...],
    allow_leaky: tuple[str, ...],
    mapping: tuple[str, ...],
    map_file: str | None,
    keep_unmatched: bool | None,
    leads_per_week: float | None,
    id_column: str | None,
    created_column: str | None,
    closed_column: str | None,
    model_path: str | None,
    out_model: str | None,
    out_html: str | None,
    out_json: str | None,
    as_json: bool,
    since: str | None,
    max_rules: int | None,
    seed: int,
    target_precision: float | None,
    target_recall: float | None,
    capacity_per_week: float | None,
    evaluate_only: bool,
    force: bool,
) -> None:
    """Evaluate the model on won/lost history and propose re-weighted integer points, with an HTML report.

    History comes from the CRM (won and lost deals, converted leads, customers) or from a CSV export.
    The proposal is written only when it beats the current model on held-out history (or with --force).
    """
    if csv_path is not None:
        from scoring.calibrate.cli_support import run_calibrate

        if model_path is None and Path(current_ctx().env_file).exists():
            model_path = str(current_ctx().app().settings.model_file)
        code, text = run_calibrate(
            csv_path=csv_path,
            outcome_column=outcome_column,
            now=now_utc(),
            model_path=model_path,
            out_model=out_model,
            out_html=out_html,
            out_json=out_json,
            as_json=as_json,
            exclude_columns=exclude_column,
            id_column=id_column,
            created_column=created_column,
            closed_column=closed_column,
            since=since,
            max_rules=max_rules,
            seed=seed,
            target_precision=target_precision,
            target_recall=target_recall,
            capacity_per_week=capacity_per_week,
            leads_per_week=leads_per_week,
            evaluate_only=evaluate_only,
            keep_unmatched=keep_unmatched,
            allow_leaky=allow_leaky,
            mapping=mapping,
            map_file=map_file,
            force=force,
        )
        click.echo(text, err=code != 0)
        sys.exit(code)
    from scoring.calibrate import CalibrationError, calibrate_rows
    from scoring.calibrate.cli_support import parse_since

    app = current_ctx().app()
    model_obj = load_model(model_path) if model_path else app.model
    rows = calibration_rows(app)
    if not rows:
        fail(f"No won or lost outcomes in {app.settings.crm} yet: nothing to calibrate on.", 1)
    if mapping or map_file:
        fail("--map and --map-file rename CSV columns; CRM history already uses the CRM's field names.", 2)
    try:
        result = calibrate_rows(
            rows,
            model_obj,
            now_utc(),
            seed=seed,
            out_model_path=out_model or f"{app.settings.model_file}.proposed.yaml",
            out_html_path=out_html,
            out_json_path=out_json,
            propose_model=not evaluate_only,
            max_rules=max_rules,
            target_precision=target_precision,
            target_recall=target_recall,
            capacity_per_week=capacity_per_week,
            leads_per_week=leads_per_week,
            exclude_fields=exclude_column,
            allow_leaky=allow_leaky,
            keep_unmatched=keep_unmatched,
            since_days=parse_since(since) if since else None,
            force=force,
            source=app.settings.crm,
        )
    except CalibrationError as exc:
        fail(str(exc), 2)
    click.echo(json.dumps(result.json(), default=str) if as_json else result.summary)


# -- quarantine -----------------------------------------------------------------------------------------
@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many records.")
@click.option("--release", "release_ids", multiple=True, help="Stop retrying this contact id (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def quarantine(limit: int, release_ids: tuple[str, ...], as_json: bool) -> None:
    """Records the CRM refused: why, how many attempts; the next sync retries them."""
    app = current_ctx().app()
    crm = app.settings.crm
    if release_ids:
        released = app.store.quarantine_release(crm, list(release_ids))
        out.print(f"Released {released} of {len(release_ids)} record(s) from quarantine.")
        return
    entries = app.store.quarantine_list(crm, limit=limit)
    total = app.store.quarantine_count(crm)
    if as_json:
        rows = [
            {
                "contact_id": e.contact_id,
                "reason": e.reason,
                "attempts": e.attempts,
                "first_seen": e.first_seen.isoformat(),
                "last_seen": e.last_seen.isoformat(),
                "run_id": e.run_id,
                "payload": dict(e.payload),
            }
            for e in entries
        ]
        click.echo(json.dumps({"crm": crm, "total": total, "records": rows}, default=str))
        return
    if not entries:
        out.print(f"Nothing in quarantine for {crm}.")
        return
    table = Table(title=f"Quarantine ({crm}): {total} record(s)")
    for col in ("contact", "attempts", "last seen", "run", "reason"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(e.contact_id, str(e.attempts), e.last_seen.isoformat(timespec="seconds"), str(e.run_id), e.reason)
    out.print(table)


# -- demo -----------------------------------------------------------------------------------------------
@cli.command()
@click.option(
    "--crm",
    type=click.Choice(["all", *CRM_NAMES]),
    default="all",
    show_default=True,
    help="Which sandbox CRM to run against.",
)
@click.option("--contacts", type=click.IntRange(10, 100_000), default=300, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--dashboard", is_flag=True, help="Then keep the sandbox and the dashboard up until Ctrl-C.")
@handle_errors
def demo(crm: str, contacts: int, seed: int, dashboard: bool) -> None:
    """Start the built-in CRM sandbox, seed it, run a real backfill and show the top leads with reasons."""
    from sync.demo import run_demo

    sys.exit(run_demo(crm=crm, contacts=contacts, seed=seed, console=out, dashboard=dashboard))


EVIDENCE_SHOWN = 5  # per reason; --json lists all of it


def points_text(points: float) -> str:
    """``+25``, ``-10``, ``+4.3``: whole points as they are, others to one decimal."""
    rounded = round(points, 1)
    return f"{rounded:+.0f}" if rounded == int(rounded) else f"{rounded:+.1f}"


def evidence_text(evidence: dict[str, Any], now: datetime) -> str:
    """One piece of evidence (as ``sync.app.evidence_dict`` gives it) as a line a person reads."""
    if "activity_id" not in evidence:
        value = evidence.get("value")
        return f"{evidence.get('field')} = {'(empty)' if value in (None, '') else value}"
    what = f"{evidence.get('type') or 'activity'} {evidence['activity_id']}"
    when = evidence.get("occurred_at")
    if when:
        at = datetime.fromisoformat(when)
        days = (now - at).days
        what += f" on {at:%Y-%m-%d}" + (f" ({days} days ago)" if days > 1 else "")
    return f"{what}: {points_text(evidence['points'])}"


def explain_lines(reasons: list[dict[str, Any]], now: datetime) -> list[str]:
    """``score --explain``: each rule that fired with its points, and below it the evidence it counted."""
    lines = []
    for reason in reasons:
        lines.append(f"  {points_text(reason['points']):>6}  {reason['label']}  [{reason['rule']}]")
        evidence = reason["evidence"]
        lines.extend(f"          {evidence_text(e, now)}" for e in evidence[:EVIDENCE_SHOWN])
        if len(evidence) > EVIDENCE_SHOWN:
            lines.append(f"          ...and {len(evidence) - EVIDENCE_SHOWN} more (--json lists them all)")
    return lines


def main() -> None:
    _register_optional_commands()
    cli(prog_name="leadsync")


def _register_optional_commands() -> None:
    """Command groups that live with their own package."""
    from sync.sandbox_cli import sandbox

    cli.add_command(sandbox)
    from sync import ops_cli

    ops_cli.register(cli)
    from sync.serve_cli import serve

    cli.add_command(serve)
    from sync.dashboard_cli import dashboard

    cli.add_command(dashboard)
    from sync.nurture_cli import nurture

    cli.add_command(nurture)
