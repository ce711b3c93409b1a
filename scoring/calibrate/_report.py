"""The calibration report: one self-contained HTML file (inline SVG, no script, opens offline) and a JSON dict."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from ._drift import DriftReport
from ._evaluate import Evaluation
from ._metrics import Band
from ._propose import Proposal
from ._segments import Segment
from ._svg import LineSeries, Series, diverging_bars, grouped_bars, line_chart

CURRENT = "#7a7f87"
PROPOSED = "#1f6fb2"
WON = "#2a9d5c"
LOST = "#d1495b"
PREVIOUS = "#b0b5bc"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d2329;
       margin: 0 auto; max-width: 980px; padding: 24px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 4px; } h2 { font-size: 1.2rem; margin-top: 32px;
     border-bottom: 1px solid #dde1e6; padding-bottom: 4px; }
.muted { color: #5b636d; } .verdict { padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.good { background: #e7f5ec; border-left: 4px solid #2a9d5c; }
.bad { background: #fdecee; border-left: 4px solid #d1495b; }
.neutral { background: #eef1f5; border-left: 4px solid #7a7f87; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92rem; }
th, td { padding: 4px 10px; text-align: right; border-bottom: 1px solid #eceff3; }
th:first-child, td:first-child { text-align: left; } th { background: #f5f7f9; }
svg.chart { display: block; margin: 12px 0; max-width: 100%; height: auto; background: #fff; }
svg .chart-title { font-size: 14px; font-weight: 600; fill: #1d2329; }
svg .tick, svg .legend { font-size: 11px; fill: #3b434c; }
svg .value { font-size: 9px; fill: #5b636d; } svg .axis-label { font-size: 12px; fill: #3b434c; }
svg .grid { stroke: #eceff3; stroke-width: 1; } svg .axis { stroke: #5b636d; stroke-width: 1; }
pre { background: #f5f7f9; padding: 12px; overflow-x: auto; font-size: 0.82rem; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid #dde1e6; border-radius: 6px; padding: 8px 14px; min-width: 130px; }
.card b { display: block; font-size: 1.3rem; }
"""


def _pct(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _points(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+g}" if value else "0"


def _cards(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><span class="muted">{escape(k)}</span><b>{escape(v)}</b></div>' for k, v in items)
        + "</div>"
    )


def _band_table(title: str, columns: Sequence[tuple[str, Sequence[Band]]]) -> str:
    head = "".join(f"<th>{escape(name)} contacts</th><th>{escape(name)} conversion</th>" for name, _ in columns)
    rows = []
    for i, band in enumerate(columns[0][1]):
        cells = []
        for _, bands in columns:
            b = bands[i] if i < len(bands) else None
            cells.append(f"<td>{b.contacts:,}</td><td>{_pct(b.conversion)}</td>" if b else "<td></td><td></td>")
        rows.append(f"<tr><td>{escape(band.label)}</td>{''.join(cells)}</tr>")
    return f"<table><caption>{escape(title)}</caption><tr><th>band</th>{head}</tr>{''.join(rows)}</table>"


def _decile_chart(evaluation: Evaluation, proposal: Proposal | None) -> str:
    if proposal is not None and proposal.holdout_current and proposal.holdout_proposed:
        series = [
            Series("current (held out)", [b.conversion for b in proposal.holdout_current.deciles], CURRENT),
            Series("proposed (held out)", [b.conversion for b in proposal.holdout_proposed.deciles], PROPOSED),
        ]
        labels = [b.label for b in proposal.holdout_proposed.deciles]
    else:
        series = [Series("current", [b.conversion for b in evaluation.deciles], CURRENT)]
        labels = [b.label for b in evaluation.deciles]
    return grouped_bars(
        "bands",
        "Conversion per score decile (D1 = top 10%)",
        labels,
        series,
        "conversion",
        y_format=lambda v: f"{v:.0%}",
        y_max=1.0,
        x_label="score decile",
    )


def _histogram_chart(chart_id: str, title: str, evaluation: Evaluation) -> str:
    hist = evaluation.histogram
    labels = [f"{hist.edges[i]:g}-" for i in range(len(hist.won))]
    return grouped_bars(
        chart_id,
        title,
        labels,
        [Series("won", hist.won, WON), Series("not won", hist.lost, LOST)],
        "contacts",
        y_format=lambda v: f"{v:,.0f}",
        x_label=f"total score (0-{evaluation.score_max})",
    )


def _roc_chart(evaluation: Evaluation, proposal: Proposal | None) -> str:
    lines = [LineSeries("chance", [(0.0, 0.0), (1.0, 1.0)], PREVIOUS, dashed=True)]
    if proposal is not None and proposal.holdout_current and proposal.holdout_proposed:
        lines.append(
            _roc_line(
                f"current (held out, AUC {_num(proposal.holdout_auc_current, 2)})", proposal.holdout_current, CURRENT
            )
        )
        lines.append(
            _roc_line(
                f"proposed (held out, AUC {_num(proposal.holdout_auc_proposed, 2)})",
                proposal.holdout_proposed,
                PROPOSED,
            )
        )
    else:
        lines.append(_roc_line(f"current (AUC {_num(evaluation.auc, 2)})", evaluation, CURRENT))
    return line_chart(
        "roc",
        "ROC curve: customers found vs other leads let through",
        lines,
        "false positive rate",
        "true positive rate",
        x_format=lambda v: f"{v:.1f}",
        y_format=lambda v: f"{v:.1f}",
    )


def _roc_line(name: str, evaluation: Evaluation, color: str) -> LineSeries:
    points = [(p.false_positive_rate, p.true_positive_rate) for p in evaluation.roc]
    return LineSeries(name, points, color)


def _lift_chart(evaluation: Evaluation, proposal: Proposal | None) -> str:
    lines = [LineSeries("no model", [(0.0, 1.0), (1.0, 1.0)], PREVIOUS, dashed=True)]
    sources: list[tuple[str, Evaluation, str]] = []
    if proposal is not None and proposal.holdout_current and proposal.holdout_proposed:
        sources = [
            ("current (held out)", proposal.holdout_current, CURRENT),
            ("proposed (held out)", proposal.holdout_proposed, PROPOSED),
        ]
    else:
        sources = [("current", evaluation, CURRENT)]
    top = 1.0
    for name, source, color in sources:
        points = [(p.share, p.lift) for p in source.lift]
        top = max([top, *(y for _, y in points)])
        lines.append(LineSeries(name, points, color))
    return line_chart(
        "lift",
        "Lift: conversion of the top-scored share over the average",
        lines,
        "share of contacts, best scores first",
        "lift",
        y_max=math.ceil(top * 2) / 2,
        x_format=lambda v: f"{v:.0%}",
        y_format=lambda v: f"{v:.1f}x",
    )


def _points_chart(evaluation: Evaluation, proposal: Proposal | None) -> str:
    if proposal is not None and proposal.rules:
        changes = proposal.rules
        labels = [c.label for c in changes]
        series = [
            Series("current", [c.current_points for c in changes], CURRENT),
            Series("proposed", [c.proposed_points for c in changes], PROPOSED),
        ]
    else:
        labels = [r.label for r in evaluation.rules]
        series = [Series("current", [r.points for r in evaluation.rules], CURRENT)]
    return diverging_bars("points", "Points per rule: current vs proposed", labels, series)


def _drift_chart(drift: DriftReport) -> str:
    labels = [c.name for c in drift.bands]
    return grouped_bars(
        "drift",
        f"Conversion per band: previous {drift.period_days} days vs last {drift.period_days} days",
        labels,
        [
            Series("previous period", [c.previous.conversion for c in drift.bands], PREVIOUS),
            Series("last period", [c.current.conversion for c in drift.bands], PROPOSED),
        ],
        "conversion",
        y_format=lambda v: f"{v:.0%}",
        y_max=1.0,
    )


def render_html(
    evaluation: Evaluation,
    proposal: Proposal | None = None,
    drift: DriftReport | None = None,
    segments: Sequence[Segment] = (),
    *,
    notes: Sequence[str] = (),
) -> str:
    """The report as one HTML page: fields left out, summary, histogram, bands, segments, ROC, lift, rules, drift.

    ``notes`` are sentences about the input shown under the title (how many values field history rewound).
    """
    ev = evaluation
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>leadsync calibration: {escape(ev.model_name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Lead-scoring calibration</h1>",
        f'<p class="muted">Model <b>{escape(ev.model_name)}</b> (version {escape(ev.model_version)}), '
        f"{ev.contacts:,} contacts with known outcomes, evaluated {ev.evaluated_at:%Y-%m-%d %H:%M %Z}.</p>",
        *(f'<p class="note">{escape(note)}</p>' for note in notes),
    ]
    leak = proposal.leak if proposal is not None else None
    if leak is not None and leak.left_out:
        parts.append('<section id="left-out"><h2>Fields left out of the proposal</h2>')
        parts.append(
            "<p>The leak guard left these out: a field set by the sale or written after first contact already "
            "knows the outcome, and an identifier knows nothing. <code>--allow-leaky FIELD</code> keeps a "
            "latest-state or too-good field if you are sure it was known before the outcome.</p>"
        )
        rows = "".join(
            f"<tr><td>{escape(item.field)}</td><td>{escape(item.check)}</td><td>{escape(item.reason)}</td>"
            f"<td>{_num(item.auc, 2)}</td><td>{'kept (--allow-leaky)' if item.insisted else 'left out'}</td></tr>"
            for item in leak.left_out
        )
        parts.append(
            "<table><tr><th>field</th><th>check</th><th>why</th><th>AUC alone</th><th></th></tr>"
            f"{rows}</table></section>"
        )
    parts.append('<section id="summary"><h2>Summary</h2>')
    timing = ev.timing
    timing_text = (
        f"{timing.median_days_before_win:.0f} days" if timing and timing.median_days_before_win is not None else "n/a"
    )
    parts.append(
        _cards(
            [
                ("contacts", f"{ev.contacts:,}"),
                ("won", f"{ev.won:,} ({_pct(ev.base_rate, 1)})"),
                ("ROC AUC", _num(ev.auc)),
                ("lift, top 10%", f"{ev.lift_10.lift:.2f}x"),
                ("lift, top 20%", f"{ev.lift_20.lift:.2f}x"),
                (f"MQL ({ev.mql_threshold:g}+) precision", _pct(ev.mql.precision)),
                ("MQL recall", _pct(ev.mql.recall)),
                (f"SQL ({ev.sql_threshold:g}+) precision", _pct(ev.sql.precision)),
                ("SQL recall", _pct(ev.sql.recall)),
                ("MQL before the win (median)", timing_text),
            ]
        )
    )
    if timing is not None:
        parts.append(
            f"<p>Of {timing.won_with_history:,} won contacts with activity history, {timing.crossed:,} reached MQL "
            f"before the win and {timing.never_crossed:,} never did"
            + (
                f"; half crossed between {timing.quartile_days[0]:.0f} and {timing.quartile_days[1]:.0f} days "
                "before the win.</p>"
                if timing.quartile_days
                else ".</p>"
            )
        )
    if proposal is not None:
        css = "good" if proposal.accepted else "bad"
        parts.append(f'<p class="verdict {css}" id="proposal-verdict">{escape(proposal.reason)}</p>')
        parts.append(
            f'<p class="muted">{escape(proposal.split[0].upper() + proposal.split[1:])}. Held-out ROC AUC: current '
            f"{_num(proposal.holdout_auc_current)}, proposed {_num(proposal.holdout_auc_proposed)} "
            f"({proposal.rule_count} rules; the unrounded regression scores {_num(proposal.holdout_auc_unrounded)})."
            + (
                f" Thresholds: MQL {proposal.thresholds.mql:g}, SQL {proposal.thresholds.sql:g}: "
                f"{escape(proposal.thresholds.how)}"
                if proposal.thresholds
                else ""
            )
            + "</p>"
        )
    if drift is not None:
        css = "neutral" if drift.degraded is None else "bad" if drift.degraded else "good"
        parts.append(f'<p class="verdict {css}" id="drift-verdict">{escape(drift.verdict)}</p>')
    parts.append("</section>")

    parts.append('<section id="histogram"><h2>Score histogram by outcome</h2>')
    parts.append(_histogram_chart("histogram", "Current model: contacts per score, won vs not won", ev))
    if proposal is not None and proposal.holdout_proposed is not None:
        parts.append(
            _histogram_chart(
                "histogram-proposed", "Proposed model (held out): contacts per score", proposal.holdout_proposed
            )
        )
    parts.append("</section>")

    parts.append('<section id="bands"><h2>Conversion per score band</h2>')
    parts.append(_decile_chart(ev, proposal))
    parts.append(_band_table("Current model, all history: per stage", [("current", ev.stages)]))
    parts.append(_band_table("Current model, all history: per fit grade", [("current", ev.grades)]))
    parts.append(_band_table("Current model, all history: per decile", [("current", ev.deciles)]))
    if proposal is not None and proposal.holdout_current and proposal.holdout_proposed:
        parts.append(
            _band_table(
                "Held out: per stage (each model with its own thresholds)",
                [("current", proposal.holdout_current.stages), ("proposed", proposal.holdout_proposed.stages)],
            )
        )
    parts.append("</section>")

    if segments:
        parts.append('<section id="segments"><h2>Conversion per segment</h2>')
        for segment in segments:
            rows = "".join(
                f"<tr><td>{escape(level.value)}</td><td>{level.contacts:,}</td><td>{level.won:,}</td>"
                f"<td>{_pct(level.conversion, 1)}</td></tr>"
                for level in segment.levels
            )
            parts.append(
                f"<h3>By {escape(segment.field)} ({escape(segment.kind)})</h3>"
                f"<table><tr><th>value</th><th>contacts</th><th>won</th><th>conversion</th></tr>{rows}</table>"
            )
        parts.append("</section>")
    parts.append('<section id="roc"><h2>ROC curve</h2>')
    parts.append(_roc_chart(ev, proposal))
    parts.append("</section>")
    parts.append('<section id="lift"><h2>Lift curve</h2>')
    parts.append(_lift_chart(ev, proposal))
    parts.append("</section>")

    parts.append('<section id="rules"><h2>Points per rule</h2>')
    parts.append(_points_chart(ev, proposal))
    parts.append(_rules_table(ev, proposal))
    parts.append("</section>")

    parts.append('<section id="drift"><h2>Drift</h2>')
    if drift is None:
        parts.append('<p class="muted">Not checked: run with --since 30d to compare two periods.</p>')
    elif not drift.bands:
        parts.append(f"<p>{escape(drift.verdict)}</p>")
    else:
        parts.append(_drift_chart(drift))
        parts.append(
            _band_table(
                f"Previous period ({drift.previous_start:%Y-%m-%d} to {drift.current_start:%Y-%m-%d}) vs last "
                f"period (to {drift.now:%Y-%m-%d})",
                [("previous", [c.previous for c in drift.bands]), ("last", [c.current for c in drift.bands])],
            )
        )
    parts.append("</section>")

    if proposal is not None and proposal.model_text:
        parts.append('<section id="model"><h2>Proposed model file</h2>')
        parts.append(f"<pre>{escape(proposal.model_text)}</pre></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _rules_table(evaluation: Evaluation, proposal: Proposal | None) -> str:
    fired = {r.rule_id: r for r in evaluation.rules}
    rows = []
    if proposal is not None and proposal.rules:
        for change in proposal.rules:
            stat = fired.get(change.rule_id)
            conversion = _pct(stat.conversion_when_fired) if stat and stat.fired else "-"
            rows.append(
                f"<tr><td>{escape(change.label)}</td><td>{escape(change.section)}</td>"
                f"<td>{_points(change.current_points)}</td><td>{_points(change.proposed_points)}</td>"
                f"<td>{stat.fired if stat else '-'}</td><td>{conversion}</td><td>{escape(change.note)}</td></tr>"
            )
        head = (
            "<th>rule</th><th>section</th><th>current</th><th>proposed</th><th>fired</th>"
            "<th>won when fired</th><th></th>"
        )
    else:
        for stat in evaluation.rules:
            rows.append(
                f"<tr><td>{escape(stat.label)}</td><td>{escape(stat.section)}</td><td>{_points(stat.points)}</td>"
                f"<td>{stat.fired}</td><td>{_pct(stat.conversion_when_fired)}</td></tr>"
            )
        head = "<th>rule</th><th>section</th><th>points</th><th>fired</th><th>won when fired</th>"
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _SKIP}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


# Raw per-contact arrays stay out of the JSON (they are in the CRM), and so does the parsed model object.
_SKIP = frozenset({"totals", "outcomes", "model", "roc"})


def to_json(
    evaluation: Evaluation,
    proposal: Proposal | None = None,
    drift: DriftReport | None = None,
    segments: Sequence[Segment] = (),
) -> dict[str, Any]:
    """Every figure of the report as plain JSON values (ROC curves thinned to at most 101 points)."""
    out: dict[str, Any] = {"evaluation": _with_roc(evaluation)}
    if segments:
        out["segments"] = _plain(list(segments))
    if proposal is not None:
        data = _plain(proposal)
        for key in ("holdout_current", "holdout_proposed"):
            source = getattr(proposal, key)
            data[key] = _with_roc(source) if source is not None else None
        out["proposal"] = data
    if drift is not None:
        out["drift"] = _plain(drift)
    return out


def _with_roc(evaluation: Evaluation) -> dict[str, Any]:
    data: dict[str, Any] = _plain(evaluation)
    data["base_rate"] = evaluation.base_rate
    roc = evaluation.roc
    step = max(1, math.ceil(len(roc) / 101))
    thinned = [*roc[::step], roc[-1]] if roc and (len(roc) - 1) % step else list(roc[::step])
    data["roc"] = [[p.false_positive_rate, p.true_positive_rate] for p in thinned]
    return data
