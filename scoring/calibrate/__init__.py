"""Calibration: how the current model ranked history, and a sparse integer-point model proposed from it.

Pure like the rest of ``scoring``: it receives rows, a model, ``now`` and ``seed`` and never reaches a
CRM, the settings or a database.  ``docs/calibration.md`` describes the method and the report.

    rows = rows_from_csv("leads.csv", "Converted", now=now, roles=ColumnRoles(exclude=("Tags",)))
    evaluation = evaluate(model, rows, now)
    proposal = propose(model, rows, now=now, max_rules=30, seed=7)
    html = render_html(evaluation, proposal, drift(model, rows, now))
"""

from ._drift import BandChange, DriftReport, drift
from ._evaluate import Evaluation, MqlTiming, RuleStat, evaluate
from ._features import DEFAULT_EXCLUDED_FIELDS
from ._guard import SALE_SET_FIELDS, LeakReport, LeftOut, guard
from ._metrics import (
    Band,
    CurvePoint,
    LiftPoint,
    ThresholdStats,
    decile_bands,
    lift_at,
    roc_auc,
    roc_curve,
    threshold_stats,
)
from ._propose import DEFAULT_MAX_RULES, Proposal, RuleChange, Split, Thresholds, propose, split_rows
from ._report import render_html, to_json
from ._rewind import PointInTime, point_in_time, rewind
from ._rows import (
    CalibrationError,
    CalibrationRow,
    ColumnRoles,
    CsvProblem,
    CsvRows,
    rows_from_csv,
)
from ._run import CalibrationRun, calibrate_csv, calibrate_rows
from ._segments import Segment, SegmentLevel, segments

__all__ = [
    "DEFAULT_EXCLUDED_FIELDS",
    "DEFAULT_MAX_RULES",
    "SALE_SET_FIELDS",
    "Band",
    "BandChange",
    "CalibrationError",
    "CalibrationRow",
    "CalibrationRun",
    "ColumnRoles",
    "CsvProblem",
    "CsvRows",
    "CurvePoint",
    "DriftReport",
    "Evaluation",
    "LeakReport",
    "LeftOut",
    "LiftPoint",
    "MqlTiming",
    "PointInTime",
    "Proposal",
    "RuleChange",
    "RuleStat",
    "Segment",
    "SegmentLevel",
    "Split",
    "ThresholdStats",
    "Thresholds",
    "calibrate_csv",
    "calibrate_rows",
    "decile_bands",
    "drift",
    "evaluate",
    "guard",
    "lift_at",
    "point_in_time",
    "propose",
    "render_html",
    "rewind",
    "roc_auc",
    "roc_curve",
    "rows_from_csv",
    "segments",
    "split_rows",
    "threshold_stats",
    "to_json",
]
