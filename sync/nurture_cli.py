"""``leadsync nurture revert RUN``: undo the segment moves a run sent to the nurture destinations."""

from __future__ import annotations

import sys

import click

from sync.cli_context import current_ctx, fail, handle_errors, locked, out
from sync.nurture import build_destinations, describe, revert_nurture


@click.group()
def nurture() -> None:
    """The nurture hand-off to Mailchimp / ActiveCampaign."""


@nurture.command()
@click.argument("run_id", type=int)
@click.option("--dry-run", is_flag=True, help="List the moves that would be undone; send nothing.")
@click.option("--wait", is_flag=True, help="Wait for a run already in progress instead of exiting.")
@handle_errors
def revert(run_id: int, dry_run: bool, wait: bool) -> None:
    """Take the contacts run RUN_ID added out of their tags/segments again, and put back those it removed.

    A move a later run changed again is left alone; nobody is added to an audience by a revert.
    """
    app = current_ctx().app()
    if app.store.get_run(run_id) is None:
        fail(f"No run {run_id} in the state database: `leadsync runs` lists them.", 2)
    with locked(app, wait) as got:
        if not got:
            sys.exit(0)
        destinations = build_destinations(app.settings, allow_new_members=False)
        report = revert_nurture(app.store, app.settings.crm, run_id, destinations, app.clock, dry_run=dry_run)
    for line in describe(report):
        out.print(line, markup=False)
    sys.exit(1 if report.errors else 0)
