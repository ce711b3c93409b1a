"""Forms and their submissions, where HubSpot keeps them (docs/crm-api/hubspot.md §2.5):

- ``GET /marketing/v3/forms`` (scope ``forms``): ``limit`` (default 20), ``after``, ``archived``, ``formTypes``;
  every form as a full ``HubSpotFormDefinition`` (the generated client validates the required fields).
- ``GET /form-integrations/v1/submissions/forms/{form_guid}`` (scope ``forms``): ``limit`` (default 20, at most
  50), ``after``; newest first; ``{results: [{conversionId, submittedAt, values: [{name, value,
  objectTypeId}], pageUrl}], paging: {next: {after, link}}}``.  A submission carries no contact id: HubSpot
  files it on the contact whose ``email`` equals the submitted ``email`` value (objectTypeId ``0-1``).

Assumptions where HubSpot documents nothing: the forms list takes at most 100 per page (400 above); a
submissions ``limit`` over 50 is a 400, not silently capped; an unknown form guid is a 404.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot.context import Context
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import iso
from connectors.sandbox.store import run_ddl

FORMS_PAGE_MAX = 100
SUBMISSIONS_PAGE_MAX = 50
CONTACT_OBJECT_TYPE = "0-1"

_DDL = """
    CREATE TABLE IF NOT EXISTS hs_forms (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL, created_ms INTEGER NOT NULL,
        archived INTEGER NOT NULL DEFAULT 0, fields TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS hs_form_submissions (
        form_id TEXT NOT NULL, submitted_ms INTEGER NOT NULL, conversion_id TEXT NOT NULL,
        page_url TEXT NOT NULL, form_values TEXT NOT NULL,
        PRIMARY KEY (form_id, submitted_ms, conversion_id)) WITHOUT ROWID
"""
_FIELD_LABELS = {"email": "Email", "firstname": "First name", "lastname": "Last name", "company": "Company name"}


def create_tables(conn: Any) -> None:
    run_ddl(conn, _DDL)


def _field(name: str) -> dict[str, Any]:
    field: dict[str, Any] = {
        "objectTypeId": CONTACT_OBJECT_TYPE,
        "name": name,
        "label": _FIELD_LABELS.get(name, name),
        "required": name == "email",
        "hidden": False,
        "fieldType": "email" if name == "email" else "single_line_text",
        "dependentFields": [],
    }
    if name == "email":
        field["validation"] = {"blockedEmailDomains": [], "useDefaultBlockList": False}
    return field


def form_definition(row: Any) -> dict[str, Any]:
    """A stored form as ``HubSpotFormDefinition`` (every field the published definition requires)."""
    created = iso(row["created_ms"])
    fields = [_field(n) for n in json.loads(row["fields"])]
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "formType": "hubspot",
        "createdAt": created,
        "updatedAt": created,
        "archived": bool(row["archived"]),
        "fieldGroups": [{"groupType": "default_group", "richTextType": "text", "fields": fields}],
        "configuration": {
            "language": "en",
            "cloneable": True,
            "postSubmitAction": {"type": "thank_you", "value": "Thanks for submitting the form."},
            "editable": True,
            "archivable": True,
            "recaptchaEnabled": False,
            "notifyContactOwner": False,
            "notifyRecipients": [],
            "createNewContactForNewEmail": False,
            "prePopulateKnownValues": True,
            "allowLinkToResetKnownValues": False,
            "lifecycleStages": [],
        },
        "displayOptions": {
            "renderRawHtml": False,
            "theme": "default_style",
            "submitButtonText": "Submit",
            "style": {
                "fontFamily": "arial, helvetica, sans-serif",
                "backgroundWidth": "100%",
                "labelTextColor": "#33475b",
                "labelTextSize": "14px",
                "helpTextColor": "#7C98B6",
                "helpTextSize": "11px",
                "legalConsentTextColor": "#33475b",
                "legalConsentTextSize": "14px",
                "submitColor": "#ff7a59",
                "submitAlignment": "left",
                "submitFontColor": "#ffffff",
                "submitSize": "12px",
            },
        },
        "legalConsentOptions": {"type": "none"},
    }
    if row["archived"]:
        out["archivedAt"] = created
    return out


def _token(*parts: Any) -> str:
    """An opaque paging token, as HubSpot's are."""
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


def _untoken(token: str) -> list[Any]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:
        raise HubSpotError(400, f"Invalid paging cursor after={token!r}.") from exc
    if not isinstance(parts, list):
        raise HubSpotError(400, f"Invalid paging cursor after={token!r}.")
    return parts


def _limit(request: Request, default: int, most: int) -> int:
    raw = request.arg("limit")
    try:
        limit = int(raw) if raw is not None else default
    except ValueError as exc:
        raise HubSpotError(400, f"limit must be a number, got {raw!r}.") from exc
    if not 1 <= limit <= most:
        raise HubSpotError(400, f"limit must be between 1 and {most}, got {limit}.", context={"limit": [str(limit)]})
    return limit


class Forms:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # -- GET /marketing/v3/forms -----------------------------------------------------------------------------
    def forms_page(self, request: Request) -> Response:
        limit = _limit(request, 20, FORMS_PAGE_MAX)
        archived = (request.arg("archived") or "false").lower() == "true"
        types = {t for v in request.query.get("formTypes", []) for t in v.split(",") if t}
        if types and not types & {"hubspot", "all"}:
            return Response(200, {"results": []})  # the sandbox keeps only "hubspot" forms
        after = request.arg("after")
        start = int(_untoken(after)[0]) if after else 0
        with self.ctx.store.read() as conn:
            rows = conn.execute(
                "SELECT * FROM hs_forms WHERE archived = ? AND seq >= ? ORDER BY seq LIMIT ?",
                (int(archived), start, limit + 1),
            ).fetchall()
        body: dict[str, Any] = {"results": [form_definition(r) for r in rows[:limit]]}
        if len(rows) > limit:
            body["paging"] = self._next(request, _token(rows[limit]["seq"]), limit)
        return Response(200, body)

    # -- GET /form-integrations/v1/submissions/forms/{guid} ----------------------------------------------------
    def submissions_page(self, request: Request) -> Response:
        guid = request.params["guid"]
        limit = _limit(request, 20, SUBMISSIONS_PAGE_MAX)
        after = request.arg("after")
        with self.ctx.store.read() as conn:
            if conn.execute("SELECT 1 FROM hs_forms WHERE id = ?", (guid,)).fetchone() is None:
                raise HubSpotError(404, f"Form {guid} does not exist.", "OBJECT_NOT_FOUND")
            sql = "SELECT * FROM hs_form_submissions WHERE form_id = ?"
            params: list[Any] = [guid]
            if after:
                ms, cid = _untoken(after)[:2]
                sql += " AND (submitted_ms < ? OR (submitted_ms = ? AND conversion_id < ?))"
                params += [int(ms), int(ms), str(cid)]
            rows = conn.execute(
                sql + " ORDER BY submitted_ms DESC, conversion_id DESC LIMIT ?", [*params, limit + 1]
            ).fetchall()
        results = [
            {
                "conversionId": r["conversion_id"],
                "submittedAt": r["submitted_ms"],
                "values": json.loads(r["form_values"]),
                "pageUrl": r["page_url"],
            }
            for r in rows[:limit]
        ]
        body: dict[str, Any] = {"results": results}
        if len(rows) > limit:
            last = rows[limit - 1]
            body["paging"] = self._next(request, _token(last["submitted_ms"], last["conversion_id"]), limit)
        return Response(200, body)

    def _next(self, request: Request, after: str, limit: int) -> dict[str, Any]:
        return {"next": {"after": after, "link": f"{self.ctx.base_url()}{request.path}?limit={limit}&after={after}"}}

    # -- loading and test helpers ----------------------------------------------------------------------------
    def ensure_form(self, conn: Any, name: str, created_ms: int, fields: Sequence[str] = ()) -> str:
        """The id of the form called ``name``, created (with an email field first) if it does not exist."""
        row = conn.execute("SELECT id FROM hs_forms WHERE name = ? AND archived = 0", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM hs_forms").fetchone()[0])
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"leadsync-sandbox-form:{name}"))
        names = list(dict.fromkeys(["email", *(fields or ("firstname", "lastname"))]))
        conn.execute("INSERT INTO hs_forms VALUES (?, ?, ?, ?, 0, ?)", (guid, seq, name, created_ms, json.dumps(names)))
        return guid

    @staticmethod
    def submission_row(
        form_id: str, submitted_ms: int, page_url: str, values: Mapping[str, str], seq: int
    ) -> tuple[str, int, str, str, str]:
        """One ``hs_form_submissions`` row; ``seq`` makes the conversion id unique and deterministic."""
        conversion = str(uuid.uuid5(uuid.NAMESPACE_URL, f"leadsync-sandbox-conversion:{form_id}:{submitted_ms}:{seq}"))
        items = [{"name": k, "value": str(v), "objectTypeId": CONTACT_OBJECT_TYPE} for k, v in values.items()]
        return (form_id, submitted_ms, conversion, page_url, json.dumps(items))

    def insert_submissions(self, conn: Any, rows: Sequence[tuple[str, int, str, str, str]]) -> None:
        conn.executemany("INSERT OR IGNORE INTO hs_form_submissions VALUES (?, ?, ?, ?, ?)", rows)
