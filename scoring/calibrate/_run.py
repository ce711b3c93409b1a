"""One calibration run end to end: evaluate, propose, check drift, write the files asked for, summarize."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scoring import Model

from ._drift import DriftReport, drift
from ._evaluate import Evaluation, evaluate
from ._propose import UNMATCHED_DROPPED, Proposal, propose
from ._report import render_html, to_json
from ._rewind import PointInTime, point_in_time
from ._rows import CalibrationRow, ColumnRoles, CsvProblem, rows_from_csv
from ._segments import Segment, segments

_SHOWN_PROBLEMS = 10


@dataclass(frozen=True, slots=True)
class CalibrationRun:
    """What a run found and wrote; ``summary`` is the plain-text account the CLI prints."""

    contacts: int
    problems: tuple[CsvProblem, ...]
    evaluation: Evaluation
    proposal: Proposal | None
    drift: DriftReport | None
    model_written: Path | None
    html_written: Path | None
    json_written: Path | None
    summary: str
    segments: tuple[Segment, ...] = ()
    point_in_time: PointInTime | None = None

    def json(self) -> dict[str, object]:
        data = to_json(self.evaluation, self.proposal, self.drift, self.segments)
        data["problems"] = [str(p) for p in self.problems]
        if self.point_in_time is not None:
            data["point_in_time"] = self.point_in_time.json()
        return data


def calibrate_rows(
    rows: Sequence[CalibrationRow],
    model: Model,
    now: datetime,
    seed: int = 7,
    out_model_path: str | Path | None = None,
    out_html_path: str | Path | None = None,
    *,
    out_json_path: str | Path | None = None,
    propose_model: bool = True,
    max_rules: int | None = None,
    target_precision: float | None = None,
    target_recall: float | None = None,
    capacity_per_week: float | None = None,
    leads_per_week: float | None = None,
    exclude_fields: Collection[str] = (),
    allow_leaky: Collection[str] = (),
    keep_unmatched: bool | None = None,
    since_days: int | None = None,
    force: bool = False,
    source: str = "",
    problems: Sequence[CsvProblem] = (),
) -> CalibrationRun:
    """Evaluate ``model`` on ``rows``, propose a model, check drift (with ``since_days``), write files.

    The proposed model is written to ``out_model_path`` only when it is at least as good as the current
    one on held-out rows, or with ``force``.  Rows come from ``rows_from_csv`` or from adapter reads.
    ``exclude_fields`` and ``allow_leaky`` go to the leak guard (see ``propose``); ``keep_unmatched`` left
    as None keeps current rules history cannot weigh when the history has no activities.
    """
    evaluation = evaluate(model, rows, now)
    proposal = None
    if propose_model:
        proposal = propose(
            model,
            rows,
            now=now,
            max_rules=max_rules,
            seed=seed,
            target_precision=target_precision,
            target_recall=target_recall,
            capacity_per_week=capacity_per_week,
            leads_per_week=leads_per_week,
            exclude_fields=exclude_fields,
            allow_leaky=allow_leaky,
            keep_unmatched=keep_unmatched,
            source=source,
        )
    drift_report = drift(model, rows, now, since_days) if since_days else None
    leave_out = proposal.leak.fields if proposal is not None and proposal.leak is not None else frozenset()
    by_segment = segments(rows, leave_out=leave_out | set(exclude_fields))
    rewound = point_in_time(rows)

    model_written = None
    if proposal is not None and proposal.model_text and out_model_path and (proposal.accepted or force):
        model_written = Path(out_model_path)
        model_written.parent.mkdir(parents=True, exist_ok=True)
        model_written.write_text(proposal.model_text, encoding="utf-8")
    html_written = None
    if out_html_path:
        html_written = Path(out_html_path)
        html_written.parent.mkdir(parents=True, exist_ok=True)
        notes = (rewound.sentence,) if rewound is not None else ()
        html = render_html(evaluation, proposal, drift_report, by_segment, notes=notes)
        html_written.write_text(html, encoding="utf-8")
    json_written = None
    run = CalibrationRun(
        len(rows),
        tuple(problems),
        evaluation,
        proposal,
        drift_report,
        model_written,
        html_written,
        None,
        "",
        by_segment,
        rewound,
    )
    if out_json_path:
        json_written = Path(out_json_path)
        json_written.parent.mkdir(parents=True, exist_ok=True)
        json_written.write_text(json.dumps(run.json(), indent=2, ensure_ascii=False), encoding="utf-8")
    summary = _summary(run, source, force, out_model_path, json_written)
    return CalibrationRun(
        len(rows),
        tuple(problems),
        evaluation,
        proposal,
        drift_report,
        model_written,
        html_written,
        json_written,
        summary,
        by_segment,
        run.point_in_time,
    )


def calibrate_csv(
    csv_path: str | Path,
    outcome_column: str,
    model: Model,
    now: datetime,
    seed: int = 7,
    out_model_path: str | Path | None = None,
    out_html_path: str | Path | None = None,
    *,
    roles: ColumnRoles | None = None,
    out_json_path: str | Path | None = None,
    propose_model: bool = True,
    max_rules: int | None = None,
    target_precision: float | None = None,
    target_recall: float | None = None,
    capacity_per_week: float | None = None,
    leads_per_week: float | None = None,
    allow_leaky: Collection[str] = (),
    keep_unmatched: bool | None = None,
    since_days: int | None = None,
    force: bool = False,
) -> CalibrationRun:
    """``calibrate_rows`` on a CRM export: one line per contact, ``outcome_column`` saying won or not.

    ``roles.rename`` (``--map``) gives a column the CRM's field name, so the proposal speaks it.
    """
    rows = rows_from_csv(csv_path, outcome_column, now=now, roles=roles)
    return calibrate_rows(
        rows,
        model,
        now,
        seed,
        out_model_path,
        out_html_path,
        out_json_path=out_json_path,
        propose_model=propose_model,
        max_rules=max_rules,
        target_precision=target_precision,
        target_recall=target_recall,
        capacity_per_week=capacity_per_week,
        leads_per_week=leads_per_week,
        allow_leaky=allow_leaky,
        keep_unmatched=keep_unmatched,
        since_days=since_days,
        force=force,
        source=Path(csv_path).name,
        problems=rows.problems,
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _summary(
    run: CalibrationRun,
    source: str,
    force: bool,
    out_model_path: str | Path | None,
    json_written: Path | None,
) -> str:
    ev = run.evaluation
    lines = []
    leak = run.proposal.leak if run.proposal is not None else None
    if leak is not None and leak.left_out:
        lines.append(
            "Left out of the proposal by the leak guard (--allow-leaky FIELD keeps a latest-state or too-good one):"
        )
        lines.extend(f"  {item}" for item in leak.left_out)
    lines.append(
        f"Read {run.contacts:,} contacts{f' from {source}' if source else ''}: {ev.won:,} won ({_pct(ev.base_rate)})."
    )
    if run.point_in_time is not None:
        lines.append(run.point_in_time.sentence)
    if run.problems:
        lines.append(f"{len(run.problems)} problems in the file (the run went on without them):")
        lines.extend(f"  {p}" for p in run.problems[:_SHOWN_PROBLEMS])
        if len(run.problems) > _SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(run.problems) - _SHOWN_PROBLEMS} more (all listed in --json output)")
    lines.append(
        f"Current model '{ev.model_name}' (version {ev.model_version}): ROC AUC {_auc(ev.auc)}; lift "
        f"{ev.lift_10.lift:.2f}x in the top 10%, {ev.lift_20.lift:.2f}x in the top 20%; "
        f"MQL ({ev.mql_threshold:g}+) precision {_pct(ev.mql.precision)}, recall {_pct(ev.mql.recall)}; "
        f"SQL ({ev.sql_threshold:g}+) precision {_pct(ev.sql.precision)}, recall {_pct(ev.sql.recall)}."
    )
    if ev.timing is not None and ev.timing.median_days_before_win is not None:
        lines.append(
            f"Won contacts reached MQL a median {ev.timing.median_days_before_win:.0f} days before the win "
            f"({ev.timing.never_crossed} of {ev.timing.won_with_history} never did)."
        )
    proposal = run.proposal
    if proposal is not None:
        lines.append(proposal.reason)
        if proposal.kept_engagement_by_default:
            lines.append(
                "This history has no activities, so the current engagement rules are kept as they are (the CRM "
                "will have activities); pass --drop-unmatched to leave them out."
            )
        unmatched = [c.label for c in proposal.rules if c.note == UNMATCHED_DROPPED]
        if unmatched:
            shown = ", ".join(unmatched[:6]) + (f" and {len(unmatched) - 6} more" if len(unmatched) > 6 else "")
            lines.append(
                f"{len(unmatched)} current rules matched no contact in this history and are left out of the "
                f"proposal ({shown}); if the history lacks what they test (activities, say), pass "
                "--keep-unmatched to keep them as they are."
            )
        if proposal.thresholds is not None and proposal.model_text:
            lines.append(
                f"Proposed thresholds: MQL {proposal.thresholds.mql:g}, SQL {proposal.thresholds.sql:g} "
                f"({proposal.thresholds.how})"
            )
        if run.model_written is not None:
            forced = " (forced: it is worse on held-out history)" if force and not proposal.accepted else ""
            lines.append(f"Wrote the proposed model to {run.model_written}{forced}; diff it against yours and commit.")
        elif proposal.model_text and out_model_path and not proposal.accepted:
            lines.append(f"Did not write {out_model_path}; pass --force to write it anyway.")
    for segment in run.segments:
        ranked = sorted((lv for lv in segment.levels if not lv.value.startswith("(")), key=lambda lv: -lv.conversion)
        if len(ranked) >= 2:
            best, worst = ranked[0], ranked[-1]
            lines.append(
                f"Conversion by {segment.field}: {best.value} {_pct(best.conversion)} ({best.contacts:,}) "
                f"to {worst.value} {_pct(worst.conversion)} ({worst.contacts:,})."
            )
    if run.drift is not None:
        lines.append(run.drift.verdict)
    if run.html_written is not None:
        lines.append(f"Report: {run.html_written}")
    if json_written is not None:
        lines.append(f"JSON: {json_written}")
    return "\n".join(lines)
