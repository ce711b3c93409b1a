"""``/v2/activities`` (and the v1 rendering ``/v1/persons/{id}/activities`` uses).

Creating or updating an activity does NOT bump the person's ``update_time`` (the docs are silent): clients
read activity changes from ``/api/v2/activities?updated_since=``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import BadRequest, Request, Response
from connectors.sandbox.pipedrive.common import epoch, pick, rfc3339, v1_time
from connectors.sandbox.pipedrive.errors import ok
from connectors.sandbox.pipedrive.paging import cursor_page, filters
from connectors.sandbox.store import Store

# Canonical activity type -> (Pipedrive type key, subject prefix).  call/meeting/email/task are default
# Pipedrive types; webinar/demo/form/web_visit/download/social are custom types an account would add.
ACTIVITY_TYPES: dict[str, tuple[str, str]] = {
    "call": ("call", "Call"),
    "meeting": ("meeting", "Meeting"),
    "email_sent": ("email", "Email sent"),
    "email_open": ("email", "Email opened"),
    "email_click": ("email", "Email link clicked"),
    "email_reply": ("email", "Email reply"),
    "bounce": ("email", "Email bounced"),
    "unsubscribe": ("email", "Unsubscribed"),
    "webinar_registration": ("webinar", "Webinar registration"),
    "webinar_attended": ("webinar", "Webinar attended"),
    "demo_request": ("demo", "Demo request"),
    "form_submission": ("form", "Form submitted"),
    "page_view": ("web_visit", "Page view"),
    "content_download": ("download", "Content download"),
    "social_engagement": ("social", "Social engagement"),
    "note": ("task", "Note"),
    "other": ("task", "Task"),
}


def activity_row(
    person: sqlite3.Row, kind: str, occurred_at: datetime, subject: str, attrs: Mapping[str, Any], changed_at: int
) -> dict[str, Any]:
    """A done activity of ``person`` (canonical type or Pipedrive type key) as a ``pd_activities`` row."""
    type_key, prefix = ACTIVITY_TYPES.get(kind, (kind, kind.replace("_", " ").capitalize()))
    when = (occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)).astimezone(UTC)
    detail = subject or next((str(attrs[k]) for k in ("webinar", "form", "asset", "url") if attrs.get(k)), "")
    return {
        "type": type_key, "subject": f"{prefix}: {detail}" if detail else prefix, "owner_id": person["owner_id"],
        "person_id": person["id"], "org_id": person["org_id"], "deal_id": None, "done": 1,
        "due_date": when.strftime("%Y-%m-%d"), "due_time": when.strftime("%H:%M"),
        "duration": "00:30" if type_key in ("call", "meeting") else "", "add_time": epoch(when),
        "update_time": changed_at, "marked_as_done_time": epoch(when),
        "note": "; ".join(f"{k}={v}" for k, v in attrs.items()) or None,
    }  # fmt: skip


def activity_v2(r: sqlite3.Row) -> dict[str, Any]:
    data = pick(r, "id subject type owner_id deal_id person_id org_id due_date due_time duration note")
    data |= {k: rfc3339(r[k]) for k in ("add_time", "update_time", "marked_as_done_time")}
    data |= {"creator_user_id": r["owner_id"], "is_deleted": bool(r["is_deleted"]), "done": bool(r["done"])}
    data |= {"lead_id": None, "project_id": None, "busy": False, "location": None, "priority": None}
    data["participants"] = [{"person_id": r["person_id"], "primary": True}] if r["person_id"] else []
    return data


def activity_v1(r: sqlite3.Row) -> dict[str, Any]:
    data = pick(r, "id type subject due_date due_time duration person_id org_id deal_id note")
    data |= {k: v1_time(r[k]) for k in ("add_time", "update_time", "marked_as_done_time")}
    return data | {"user_id": r["owner_id"], "done": bool(r["done"]), "active_flag": not r["is_deleted"]}


class Activities:
    def __init__(self, store: Store):
        self.store = store

    def v2_list(self, request: Request) -> Response:
        where, params = filters(request, ("owner_id", "person_id", "deal_id", "org_id"))
        if done := request.arg("done"):
            if done not in ("true", "false", "1", "0"):
                raise BadRequest("done must be true or false")
            where.append("done = ?")
            params.append(int(done in ("true", "1")))
        with self.store.read() as db:
            rows, next_cursor = cursor_page(db, request, "pd_activities", where, params)
        return ok([activity_v2(r) for r in rows], {"next_cursor": next_cursor})
