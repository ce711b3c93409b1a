"""One line of text that says why a contact has its score, for a CRM text field.

``explain(result)`` -> ``"+25 demo request 2d ago; +15 100+ employees; -10 unsubscribed"``: the reasons by
importance (absolute points, then model order), each with its points rounded to a whole number, how many
activities it counted when more than one, and how long ago the latest one happened when time matters to
the rule.  Reasons that round to 0 points are left out.  The line is cut at a separator to fit
``max_length``, ending with ``; ...`` when reasons had to be left out.
"""

from __future__ import annotations

import math
from datetime import datetime

from .result import Reason, ScoreResult

_SEPARATOR = "; "
_MORE = "; ..."
NO_REASONS = "no scoring rules matched"


def format_age(seconds: float) -> str:
    """``42`` -> ``now``, ``600`` -> ``10m``, ``7200`` -> ``2h``, ``172800`` -> ``2d``."""
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _points(value: float) -> int:
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def reason_text(reason: Reason, now: datetime) -> str:
    points = _points(reason.points)
    text = f"{'+' if points > 0 else ''}{points} {reason.label}"
    counted = [e for e in reason.evidence if e.activity_id is not None]
    if len(counted) > 1:
        text += f" x{len(counted)}"
    if reason.show_age:
        times = [e.occurred_at for e in counted if e.occurred_at is not None]
        if times:
            age = (now - max(times)).total_seconds()
            shown = format_age(max(age, 0.0))
            text += " just now" if shown == "now" else f" {shown} ago"
    return text


def explain(result: ScoreResult, max_length: int = 255, now: datetime | None = None) -> str:
    """The reasons of ``result`` as one line of at most ``max_length`` characters, most important first.

    Ages are measured from ``now`` (default: when the result was scored).
    """
    max_length = max(max_length, 0)
    when = now if now is not None else result.scored_at
    ranked = sorted(
        enumerate(result.reasons),
        key=lambda item: (-abs(_points(item[1].points)), item[0]),
    )
    parts = [reason_text(reason, when) for _, reason in ranked if _points(reason.points) != 0]
    if not parts:
        return NO_REASONS[:max_length]
    kept: list[str] = []
    length = 0
    for part in parts:
        extra = len(part) + (len(_SEPARATOR) if kept else 0)
        if length + extra > max_length:
            break
        kept.append(part)
        length += extra
    if len(kept) == len(parts):
        return _SEPARATOR.join(kept)
    while kept and length + len(_MORE) > max_length:
        dropped = kept.pop()
        length -= len(dropped) + (len(_SEPARATOR) if kept else 0)
    if not kept:
        # not even the first reason fits: cut it, marking the cut
        return parts[0][: max_length - 1] + "\u2026" if max_length > 1 else parts[0][:max_length]
    return _SEPARATOR.join(kept) + _MORE
