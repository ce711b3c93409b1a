"""The leak guard: which fields may not become candidates, and why, said by name in the report.

A model fitted on a field that already knows the outcome looks perfect and predicts nothing.  Four checks run
on every path (CSV export and CRM history alike), on the rows the proposal is fitted on:

- **set by the sale**: fields each CRM writes when a deal is won or a lead converted (``SALE_SET_FIELDS``,
  one list with a reason per entry).  Never candidates.
- **identifier**: a value unique per row, or numbers that climb or fall with the row order (a lead number,
  a record id).  Never candidates.
- **latest state**: a name that says it holds the latest state rather than the state before the outcome
  (last activity, status, stage, quality, tags, a score or index).  Left out unless the user insists.
- **too good / after the outcome**: a single-column ROC AUC implausibly far above every other column's, a
  field answered almost only on won contacts, or a date that falls after the outcome.  Left out unless the
  user insists.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from scoring.numbers import parse_number

from ._metrics import roc_auc
from ._rows import CalibrationRow, parse_datetime

# Fields each CRM sets or updates because of the sale itself: a model that reads them reads the outcome.
# Glob patterns, compared without regard to case.  The one place this list lives.
SALE_SET_FIELDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "hubspot": (
        ("lifecyclestage", "the contact's current lifecycle stage: it becomes 'customer' at the win"),
        ("hs_lifecyclestage_*_date", "the date the contact entered each lifecycle stage; the customer date is the win"),
        ("hs_date_entered_*", "the date the contact entered a stage, written as the sale progresses"),
        ("hs_date_exited_*", "the date the contact left a stage, written as the sale progresses"),
        ("hs_v2_date_entered_*", "the date the contact entered a stage, written as the sale progresses"),
        ("hs_v2_date_exited_*", "the date the contact left a stage, written as the sale progresses"),
        ("hs_time_in_*", "time spent in each lifecycle stage, counted up to today: it includes the sale"),
        ("hs_v2_*time_in_*", "time spent in each lifecycle stage, counted up to today: it includes the sale"),
        ("num_associated_deals", "deals exist because sales worked the lead; a won deal is the outcome"),
        ("hs_latest_*", "a latest-state rollup, updated after the outcome"),
        ("recent_deal_*", "the most recent deal's amount and close date: the sale itself"),
        ("total_revenue", "revenue from closed-won deals: the sale itself"),
        ("first_deal_created_date", "a deal is created only once sales works the lead"),
        ("closedate", "the close date of the contact's first won deal"),
        ("days_to_close", "days from creation to the won deal: set by the win"),
        ("hs_lead_status", "the lead status sales sets while working the lead"),
        ("hubspot_owner_id", "the owner sales assigns while working the lead"),
        ("hubspot_owner_assigneddate", "the date sales assigned an owner"),
        ("hs_sales_email_last_*", "sales email activity after first contact"),
        ("notes_last_*", "the last sales note or contact: latest state"),
        ("num_contacted_notes", "sales notes logged while working the lead"),
        ("num_notes", "sales notes logged while working the lead"),
        ("hs_last_sales_activity_*", "the last sales activity: latest state"),
        ("hs_sa_first_engagement_*", "the first sales engagement, written once sales works the lead"),
        ("hs_predictivecontactscore*", "HubSpot's own score, trained on the outcomes"),
        ("hubspotscore", "a score field: another model's output, not history"),
    ),
    "salesforce": (
        ("Status", "the lead status sales sets; 'Closed - Converted' is the outcome"),
        ("IsConverted", "true once the lead converted: the outcome itself"),
        ("ConvertedDate", "the date the lead converted: the outcome itself"),
        ("ConvertedOpportunityId", "the opportunity created by the conversion"),
        ("ConvertedAccountId", "the account created by the conversion"),
        ("ConvertedContactId", "the contact created by the conversion"),
        ("LastActivityDate", "the last logged activity: latest state, after the outcome"),
        ("LastModifiedDate", "the last edit: latest state, after the outcome"),
        ("LastViewedDate", "the last view: latest state, after the outcome"),
        ("LastReferencedDate", "the last reference: latest state, after the outcome"),
        ("SystemModstamp", "the last system change: latest state, after the outcome"),
        ("OwnerId", "the owner sales assigns while working the lead"),
        ("IsUnreadByOwner", "whether the owner has opened the lead: set by sales"),
        ("Rating", "the rating sales sets while working the lead"),
        ("StageName", "the opportunity stage: 'Closed Won' is the outcome"),
        ("IsWon", "the opportunity outcome itself"),
        ("IsClosed", "the opportunity outcome itself"),
        ("CloseDate", "the opportunity close date: the outcome"),
    ),
    "pipedrive": (
        ("won_deals_count", "counts won deals: the outcome itself"),
        ("lost_deals_count", "counts lost deals: the outcome itself"),
        ("closed_deals_count", "counts closed deals: the outcome itself"),
        ("open_deals_count", "counts open deals, which close into the outcome"),
        ("related_*_deals_count", "counts deals by status: the outcome itself"),
        ("last_activity_date", "the last activity: latest state, after the outcome"),
        ("last_activity_id", "the last activity: latest state, after the outcome"),
        ("next_activity_*", "the next planned sales activity: latest state"),
        ("done_activities_count", "sales activities done while working the deal"),
        ("undone_activities_count", "sales activities planned while working the deal"),
        ("activities_count", "sales activities logged while working the deal"),
        ("email_messages_count", "emails exchanged while working the deal"),
        ("last_incoming_mail_time", "the last email: latest state, after the outcome"),
        ("last_outgoing_mail_time", "the last email: latest state, after the outcome"),
        ("update_time", "the last edit: latest state, after the outcome"),
        ("owner_id", "the owner sales assigns while working the deal"),
        ("label", "the label sales sets (hot, warm, cold) while working the deal"),
        ("label_ids", "the labels sales sets while working the deal"),
    ),
}

# Words in a field name that say it holds the latest state, written after first contact.
_LATEST_STATE = re.compile(
    r"\b(last|latest|recent|next|status|stage|quality|tags?|profile|score|index|rating|converted|won|lost)\b|"
    r"stage|status|score",
    re.IGNORECASE,
)
_LATEST_STATE_ALLOWED = frozenset({"last_name", "lastname"})
# A column whose own AUC is this far above the best remaining column is implausible for one field.
_AUC_GAP = 0.05
_AUC_FLOOR = 0.75  # below this a column is never "too good"
_AUC_CERTAIN = 0.95  # at or above this a single column is always too good
_ONLY_WON_SHARE = 0.98
_IDENTIFIER_UNIQUE = 0.95
_IDENTIFIER_ORDER = 0.95

SALE_SET = "set by the sale"
IDENTIFIER = "identifier"
LATEST_STATE = "latest state"
TOO_GOOD = "too good to be true"
AFTER_OUTCOME = "set after the outcome"
EXCLUDED = "excluded by you"


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A field the proposal does not use: the check that caught it, why in a sentence, and its own AUC.

    ``insisted`` is True when the user kept it anyway (``--allow-leaky``); sale-set fields and identifiers
    cannot be kept.
    """

    field: str
    check: str
    reason: str
    auc: float | None = None
    insisted: bool = False

    def __str__(self) -> str:
        shown = f" (single-column AUC {self.auc:.2f})" if self.auc is not None else ""
        kept = "; kept because you passed --allow-leaky" if self.insisted else ""
        return f"{self.field}: {self.check}: {self.reason}{shown}{kept}"


@dataclass(frozen=True, slots=True)
class LeakReport:
    """What the guard left out and each field's single-column AUC on the fitting rows."""

    left_out: tuple[LeftOut, ...]
    column_auc: Mapping[str, float]

    @property
    def fields(self) -> frozenset[str]:
        """The fields no candidate may use."""
        return frozenset(item.field for item in self.left_out if not item.insisted)


def sale_set_reason(name: str) -> str | None:
    """Why a CRM sets ``name`` because of the sale, or None when no CRM's list names it."""
    lowered = name.lower()
    for crm, entries in SALE_SET_FIELDS.items():
        for pattern, reason in entries:
            if fnmatchcase(lowered, pattern.lower()):
                return f"{reason} ({crm.capitalize() if crm != 'hubspot' else 'HubSpot'})"
    return None


def latest_state_word(name: str) -> str | None:
    """The word in ``name`` that says it holds the latest state, if any."""
    if name.lower() in _LATEST_STATE_ALLOWED:
        return None
    # camelCase and snake_case both split into words, so "LeadStatus" and "lead_status" read alike.
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", name).replace("_", " ")
    match = _LATEST_STATE.search(words)
    return match.group(0).lower() if match else None


def _levels(values: Sequence[Any], floor: int) -> list[str] | None:
    """Each row's value as a level (frequent text values, 'rare', 'empty'), or None for a numeric field."""
    answered = [v for v in values if v is not None and not (isinstance(v, str) and not v.strip())]
    numbers = [parse_number(v) if not isinstance(v, bool) else None for v in answered]
    numeric = [x for x in numbers if x is not None]
    if answered and len(numeric) >= 0.95 * len(answered) and len(set(numeric)) > 6:
        return None
    text = ["empty" if v is None or (isinstance(v, str) and not v.strip()) else str(v).strip().lower() for v in values]
    counts = Counter(text)
    return [t if counts[t] >= floor else "rare" for t in text]


def single_column_auc(values: Sequence[Any], won: Sequence[bool], floor: int) -> float | None:
    """How well one field alone ranks the rows (a level by its conversion, a number by itself), folded >= 0.5."""
    levels = _levels(values, floor)
    if levels is None:
        # A number ranks by itself (empty lowest), as a score field or a count would.
        numbers = [parse_number(v) if v is not None and not isinstance(v, bool) else None for v in values]
        low = min((x for x in numbers if x is not None), default=0.0) - 1
        raw = roc_auc(
            np.asarray([low if x is None else x for x in numbers], dtype=np.float64), np.asarray(won, dtype=np.bool_)
        )
        return None if raw is None else max(raw, 1 - raw)
    totals: Counter[str] = Counter(levels)
    wins: Counter[str] = Counter(level for level, w in zip(levels, won, strict=True) if w)
    scores = np.asarray([wins[level] / totals[level] for level in levels], dtype=np.float64)
    auc = roc_auc(scores, np.asarray(won, dtype=np.bool_))
    return None if auc is None else max(auc, 1 - auc)


def _is_identifier(values: Sequence[Any], n: int) -> str | None:
    answered = [(i, v) for i, v in enumerate(values) if v is not None and not (isinstance(v, str) and not v.strip())]
    if len(answered) < max(10, n // 2):
        return None
    distinct = len({str(v).strip().lower() for _, v in answered})
    numbers = [(i, parse_number(v)) for i, v in answered if not isinstance(v, bool)]
    numeric = [(i, x) for i, x in numbers if x is not None]
    if distinct >= _IDENTIFIER_UNIQUE * len(answered) and not (
        numeric and len(numeric) == len(answered) and any(not float(x).is_integer() for _, x in numeric)
    ):
        return f"{distinct:,} distinct values in {len(answered):,} rows: a value per row identifies it"
    if len(numeric) >= 0.95 * len(answered) and len({x for _, x in numeric}) > 0.5 * len(numeric):
        order = np.asarray([i for i, _ in numeric], dtype=np.float64)
        ranks = np.argsort(np.argsort(np.asarray([x for _, x in numeric], dtype=np.float64), kind="stable"))
        rho = float(np.corrcoef(order, ranks)[0, 1]) if len(numeric) > 2 else 0.0
        if abs(rho) >= _IDENTIFIER_ORDER:
            return f"its numbers {'climb' if rho > 0 else 'fall'} with the row order (rank correlation {rho:.2f})"
    return None


def _after_outcome(rows: Sequence[CalibrationRow], name: str, values: Sequence[Any], floor: int) -> str | None:
    answered = [(row, v) for row, v in zip(rows, values, strict=True) if v is not None and v != ""]
    if len(answered) < floor:
        return None
    won = sum(row.won for row, _ in answered)
    if won >= _ONLY_WON_SHARE * len(answered) and len(answered) < len(rows) - floor:
        return f"answered on {len(answered):,} contacts, {won:,} of them won: it is filled in by the outcome"
    dated: list[tuple[datetime, datetime]] = []
    for row, value in answered:
        when = parse_datetime(value) if isinstance(value, str) else None
        if when is not None and row.closed_at is not None:
            dated.append((when, row.closed_at))
    if len(dated) >= floor:
        late = sum(1 for when, closed in dated if when >= closed - timedelta(days=1))
        if late >= 0.5 * len(dated):
            return f"on {late:,} of {len(dated):,} decided contacts its date is the outcome's day or later"
    return None


def guard(
    rows: Sequence[CalibrationRow],
    *,
    excluded: Collection[str] = (),
    allow_leaky: Collection[str] = (),
    never: Collection[str] = (),
) -> LeakReport:
    """Check every field of ``rows`` (the fitting rows) and say which ones no candidate may use, and why.

    ``excluded`` are fields the user left out; ``never`` fields that are never candidates anyway (identity,
    free text) and so are not reported; ``allow_leaky`` keeps a latest-state or too-good field on request.
    """
    n = len(rows)
    floor = max(10, n // 100)
    names: dict[str, None] = {}
    for row in rows:
        for name in row.contact.fields:
            names.setdefault(name, None)
    won = [row.won for row in rows]
    left: dict[str, LeftOut] = {}
    aucs: dict[str, float] = {}
    for name in names:
        if name in never:
            continue
        if name in excluded:
            left[name] = LeftOut(name, EXCLUDED, "left out with --exclude or calibration.exclude_fields")
            continue
        values = [row.contact.fields.get(name) for row in rows]
        reason = sale_set_reason(name)
        if reason is not None:
            left[name] = LeftOut(name, SALE_SET, reason)
            continue
        identifier = _is_identifier(values, n)
        if identifier is not None:
            left[name] = LeftOut(name, IDENTIFIER, identifier)
            continue
        auc = single_column_auc(values, won, floor) if n else None
        if auc is not None:
            aucs[name] = auc
        after = _after_outcome(rows, name, values, floor)
        if after is not None:
            left[name] = LeftOut(name, AFTER_OUTCOME, after, auc, name in allow_leaky)
            continue
    suspects = {name: word for name in aucs if name not in left and (word := latest_state_word(name)) is not None}
    # Too good: peel off the best column while it stands far above the best of the rest.
    ranked = sorted(((auc, name) for name, auc in aucs.items() if name not in left), reverse=True)
    while ranked:
        top, name = ranked[0]
        # A lone column has no rest to stand above: only a near-perfect one is implausible then.
        rest = ranked[1][0] if len(ranked) > 1 else top
        if top < _AUC_FLOOR or (top < _AUC_CERTAIN and top - rest < _AUC_GAP):
            break
        left[name] = LeftOut(
            name,
            TOO_GOOD,
            f"alone it ranks the outcome far better than any other column (next best {rest:.2f}): "
            "it is most likely written after the outcome",
            top,
            name in allow_leaky,
        )
        ranked.pop(0)
    for name, word in suspects.items():
        if name not in left:
            left[name] = LeftOut(
                name,
                LATEST_STATE,
                f"the name says {word!r}: it describes the latest state, written after first contact, "
                "not the state before the outcome",
                aucs.get(name),
                name in allow_leaky,
            )
    order = {SALE_SET: 0, IDENTIFIER: 1, TOO_GOOD: 2, AFTER_OUTCOME: 3, LATEST_STATE: 4, EXCLUDED: 5}
    items = sorted(left.values(), key=lambda item: (order[item.check], -(item.auc or 0), item.field))
    return LeakReport(tuple(items), aucs)
