"""``leadsync sla``: response SLAs met and missed per tier and owner, over the last 7 and 30 days."""

from __future__ import annotations

import json

import click
from rich import box
from rich.console import Console
from rich.table import Table

from sync.cli_context import current_ctx, handle_errors, now_utc, out
from sync.sla import REPORT_WINDOWS, report_for


@click.command()
@click.option(
    "--days",
    "windows",
    type=click.IntRange(1, 3650),
    multiple=True,
    help=f"Report windows in days (repeatable). Default: {' and '.join(map(str, REPORT_WINDOWS))}.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: one object per window, tier and owner.")
@handle_errors
def sla(windows: tuple[int, ...], as_json: bool) -> None:
    """Response SLAs of prioritized leads (P1, P2): met, missed and pending, per tier and owner.

    Met: the first call, e-mail or meeting a person logged came by the due time.  Missed: it came later, or
    none has come and the due time has passed.  Pending: none yet, not due yet.  Leads count in the window
    in which they became prioritized.  Activities are known as of the last sync.
    """
    app = current_ctx().app()
    now = now_utc()
    rows = report_for(app.store, app.settings.crm, now, windows or REPORT_WINDOWS)
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    if not rows:
        out.print(f"No prioritized leads in the last {max(windows or REPORT_WINDOWS)} days.")
        return
    table = Table(title=f"leadsync response SLAs on {app.settings.crm}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("days", "tier", "owner", "met", "missed", "pending", "escalated", "met %"):
        table.add_column(col, justify="left" if col in ("tier", "owner") else "right", no_wrap=True)
    for row in rows:
        rate = row.met_rate
        table.add_row(
            str(row.days),
            row.tier,
            row.owner_id or "(none)",
            str(row.met),
            str(row.missed),
            str(row.pending),
            str(row.escalated),
            "-" if rate is None else f"{rate:.0%}",
        )
    console = out if out.is_terminal else Console(width=200, highlight=False)
    console.print(table)
