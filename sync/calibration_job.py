"""The daemon's monthly calibration job, and the won/lost history it (and ``leadsync calibrate``) reads.

``calibrate_job(app, now)`` is the hook ``sync.daemon.Daemon`` runs on ``settings.daemon.calibrate_cron``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from connectors.base import CRMAdapter, ReadsFieldHistory
from connectors.errors import AuthError, ConnectorError, FatalApiError
from connectors.http import redact
from connectors.paging import chunks
from connectors.records import Contact, FieldChangeRecord
from sync.alerts import calibration_message
from sync.app import App
from sync.notify.courier import Courier
from sync.notify.routing import Router
from sync.private_files import private_dir, private_umask
from sync.settings import Settings
from sync.state import RunKind, RunStatus

if TYPE_CHECKING:
    from scoring.calibrate import CalibrationRow

log = logging.getLogger("leadsync.ops")


def calibrate_job(app: App, now: datetime) -> str | None:
    """The daemon's monthly calibration report, written to ``settings.daemon.report_dir``; returns the alert
    the daemon sends to its alert webhook (the summary's first lines and the report's link), None when there
    was nothing to report.  The same message goes to the team's notification channels that are configured
    (``LEADSYNC_NOTIFY__SLACK_WEBHOOK_URL``, ``..._TEAMS_WEBHOOK_URL``, ``..._MANAGER_EMAIL`` with SMTP), once
    per address: a Slack webhook that is also the alert webhook hears it once.

    Won and lost outcomes come from the CRM; each contact's fields and activities from the scoring inputs
    the sync stored (read from the CRM only for contacts it never scored).  The report (HTML and JSON) and,
    when it ranks the history better, a proposed model file are for a person to review: the live model file
    is never changed.  Recorded as a run of kind ``calibrate``.  Without the ``scoring.calibrate`` package it
    only logs that calibration is not configured.
    """
    try:
        from scoring.calibrate import calibrate_rows
    except ImportError:
        log.info("calibration not configured: the monthly calibration report is skipped")
        return None
    crm, store, adapter = app.settings.crm, app.store, app.history_adapter()
    run_id = store.start_run(crm, RunKind.CALIBRATE, model_version=app.model.version, now=now)
    status, error, counts = RunStatus.FAILED, None, {"read": 0}
    message = None
    try:
        rows = calibration_rows(app, adapter)
        counts = {"read": len(rows), "won": sum(1 for r in rows if r.won)}
        if not rows:
            log.info("calibration: no won or lost outcomes in %s yet, so there is nothing to report", crm)
        else:
            folder = private_dir(app.settings.daemon.report_dir)
            stem = folder / f"calibration-{crm}-{now:%Y-%m-%d}"
            with private_umask():  # the reports hold CRM data: their owner's only, like the plans
                result = calibrate_rows(
                    rows,
                    app.model,
                    now,
                    out_model_path=stem.with_suffix(".proposed.yaml"),
                    out_html_path=stem.with_suffix(".html"),
                    out_json_path=stem.with_suffix(".json"),
                    since_days=30,
                    source=crm,
                )
            log.info("calibration report:\n%s", result.summary)
            message = calibration_message(crm, result.summary, report_link(app, result.html_written))
            tell_team(app.settings, message, crm)
        status = RunStatus.OK
    except Exception as exc:
        error = redact(str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}")
        raise
    finally:
        usage = adapter.usage()
        adapter.close()
        store.finish_run(
            run_id,
            status=status,
            counts=counts,
            api_calls=dict(usage.calls_by_endpoint),
            quota_left=usage.quota_left,
            error=error,
            now=app.clock(),
        )
    return message


def tell_team(settings: Settings, message: str, crm: str, courier: Courier | None = None) -> int:
    """Queue ``message`` to the team's notification channels (not the alert webhook, which the daemon posts
    to) and deliver it; returns how many channels it went to.  Delivery problems are logged, never raised."""
    alert_url = settings.daemon.webhook_url.get_secret_value() if settings.daemon.webhook_url else None
    targets = [t for t in Router(settings.notify).team_targets() if t.address.get_secret_value() != alert_url]
    if not targets:
        return 0
    owned = courier is None
    courier = courier or Courier(settings.notify)
    plain = message.removeprefix(":bar_chart: ")  # Slack's emoji code reads as text in Teams and e-mail
    try:
        for target in targets:
            text = message if target.channel == "slack" else plain
            courier.send_text(text, target, subject=f"[leadsync] monthly calibration report for {crm}")
    finally:
        if owned:
            courier.close()
    return len(targets)


def report_link(app: App, path: Path | None) -> str | None:
    """The report's URL under ``daemon.report_base_url`` when set, else its path on this machine."""
    if path is None:
        return None
    base = app.settings.daemon.report_base_url
    return f"{base.rstrip('/')}/{quote(path.name)}" if base else str(path.resolve())


def calibration_rows(app: App, adapter: CRMAdapter | None = None) -> list[CalibrationRow]:
    """One row per contact with a won or lost outcome: its fields (as the sync last stored them, else read
    from the CRM through ``adapter``, see ``App.history_adapter``) without leadsync's own write-back fields,
    rewound to before the outcome where the CRM keeps field history, and its activities.  Without ``adapter``
    it builds one and closes it."""
    if adapter is None:
        own_adapter = app.history_adapter()
        try:
            return calibration_rows(app, own_adapter)
        finally:
            own_adapter.close()
    from scoring.calibrate import CalibrationRow, rewind

    crm, store = app.settings.crm, app.store
    own = set(app.planner().read_fields)  # the model's output: never a feature
    outcomes: dict[str, tuple[bool, datetime | None]] = {}
    for outcome in adapter.read_outcomes():
        if _replaces(outcomes.get(outcome.contact_id), outcome.won, outcome.closed_at):
            outcomes[outcome.contact_id] = (outcome.won, outcome.closed_at)
    ids = sorted(outcomes)
    rows: list[CalibrationRow] = []
    for chunk in chunks(ids, app.settings.batch_size):
        known = {
            cid: (_without(item.contact, own), item.activities) for cid, item in store.load_inputs(crm, chunk).items()
        }
        unscored = [cid for cid in chunk if cid not in known]
        if unscored:
            fetched = adapter.get_contacts(unscored)
            activities = adapter.read_activities([c.id for c in fetched]) if fetched else {}
            known.update({c.id: (_without(c, own), tuple(activities.get(c.id, ()))) for c in fetched})
        history = _field_history(adapter, {cid: known[cid][0] for cid in chunk if cid in known}, outcomes)
        for cid in chunk:
            if cid in known:
                contact, acts = known[cid]
                won, closed = outcomes[cid]
                rewound: tuple[str, ...] | None = None
                if history is not None and closed is not None:
                    contact, rewound = rewind(contact, history.get(cid, ()), closed)
                rows.append(CalibrationRow(contact, tuple(acts), won=won, closed_at=closed, rewound=rewound))
    return rows


def _without(contact: Contact, names: set[str]) -> Contact:
    if not names.intersection(contact.fields):
        return contact
    return replace(contact, fields={k: v for k, v in contact.fields.items() if k not in names})


def _field_history(
    adapter: object, contacts: Mapping[str, Contact], outcomes: Mapping[str, tuple[bool, datetime | None]]
) -> Mapping[str, list[FieldChangeRecord]] | None:
    """The field history of the dated contacts, when the adapter reads it (None when it does not, or the CRM
    refused: then the sale-set field list of the leak guard is what keeps after-the-sale values out)."""
    if not isinstance(adapter, ReadsFieldHistory):
        return None
    dated = [cid for cid in contacts if outcomes[cid][1] is not None]
    if not dated:
        return {}
    fields = sorted({name for cid in dated for name in contacts[cid].fields})
    try:
        return adapter.field_history(dated, fields)
    except (AuthError, FatalApiError) as exc:
        log.warning(
            "calibration: could not read the CRM's field history (%s); fields are taken as they are now, and "
            "the leak guard's list of fields set by the sale applies",
            redact(str(exc)),
        )
        return None


def _replaces(seen: tuple[bool, datetime | None] | None, won: bool, at: datetime | None) -> bool:
    """Several deals per contact: won if any was won, dated by the first win; else lost, at the last loss."""
    if seen is None or (won and not seen[0]):
        return True
    if won != seen[0] or at is None:
        return False
    return seen[1] is None or (at < seen[1] if won else at > seen[1])
