"""``leadsync history CONTACT`` and the change list of ``leadsync show RUN --changes``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from sync.cli_context import current_ctx, handle_errors, out
from sync.history import ChangeRow, contact_history, run_changes, text, write_changes_csv
from sync.state import RunRecord, StateStore

SHOWN = 50  # rows printed to the terminal; --csv or --json has them all


def _wide() -> Console:
    # piped into a file or another program: no terminal width to fit, so do not fold the table
    return out if out.is_terminal else Console(width=200, highlight=False)


def _value(value: object) -> str:
    shown = text(value)  # type: ignore[arg-type]
    return "(empty)" if shown == "" else shown[:60]


def _status(row: ChangeRow) -> str:
    parts = [] if row.action == "write" else [row.action]
    if row.status != "ok":
        parts.append("refused by the CRM")
    return ", ".join(parts) or "written"


def print_changes(store: StateStore, run: RunRecord, *, csv_path: Path | None, limit: int, as_json: bool) -> None:
    """The run's changes: a table of the first ``limit`` (or JSON lines), and every one in ``csv_path``."""
    if csv_path is not None:
        count = write_changes_csv(run_changes(store, run), csv_path)
        out.print(f"Wrote {count} change(s) of run {run.id} to {csv_path}.", markup=False)
        return
    if as_json:
        for row in run_changes(store, run):
            click.echo(json.dumps(row.as_dict(), default=str))
        return
    shown: list[ChangeRow] = []
    total = 0
    for row in run_changes(store, run):
        total += 1
        if len(shown) < limit:
            shown.append(row)
    if not total:
        out.print(f"Run {run.id} changed nothing in {run.crm}.", markup=False)
        return
    _table(f"Changes of run {run.id} ({run.kind} on {run.crm})", shown, with_run=False)
    if total > len(shown):
        out.print(f"...and {total - len(shown)} more: `leadsync show {run.id} --changes --csv FILE` has them all.")


def _table(title: str, rows: Iterable[ChangeRow], *, with_run: bool, kinds: dict[int, str] | None = None) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    head: Sequence[str] = ("run", "when (UTC)", "kind") if with_run else ("contact", "email", "name")
    for col in (*head, "field", "old", "new", "status"):
        table.add_column(col, overflow="fold")
    for row in rows:
        if with_run:
            lead = (str(row.run_id), row.at.strftime("%Y-%m-%d %H:%M:%S"), (kinds or {}).get(row.run_id, "-"))
        else:
            lead = (row.contact_id, row.email or "-", row.name or "-")
        table.add_row(*lead, row.field, _value(row.old), _value(row.new), _status(row))
    _wide().print(table)


@click.command()
@click.argument("contact_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: one object per value written.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the history here.")
@handle_errors
def history(contact_id: str, as_json: bool, csv_path: Path | None) -> None:
    """Every value leadsync wrote to one contact (and every restore), oldest first, with the run that did it."""
    app = current_ctx().app()
    crm = app.settings.crm
    rows = contact_history(app.store, crm, contact_id)
    if csv_path is not None:
        count = write_changes_csv(rows, csv_path)
        out.print(f"Wrote {count} change(s) of contact {contact_id} to {csv_path}.", markup=False)
        return
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2, default=str))
        return
    if not rows:
        out.print(f"leadsync has written nothing to {crm} contact {contact_id}.", markup=False)
        return
    kinds: dict[int, str] = {}
    for run_id in dict.fromkeys(row.run_id for row in rows):
        run = app.store.get_run(run_id)
        kinds[run_id] = "-" if run is None else str(run.kind) + (" (dry)" if run.dry_run else "")
    email, name = rows[-1].email, rows[-1].name
    who = ", ".join(part for part in (email, name) if part)
    _table(f"{crm} contact {contact_id}" + (f" ({who})" if who else ""), rows, with_run=True, kinds=kinds)
