"""Who is calling and what they may do: the private-app token, OAuth access tokens issued by
``POST /oauth/v1/token`` (refresh_token grant), and the scopes each endpoint requires."""

from __future__ import annotations

import threading
import uuid
from typing import Any
from urllib.parse import parse_qs

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot.context import Context
from connectors.sandbox.hubspot.errors import error_body

SANDBOX_CREDENTIALS: dict[str, str] = {
    "private_app_token": "pat-na1-5a7d0b0c-leadsync-sandbox-0001",
    "client_id": "leadsync-sandbox-client",
    "client_secret": "leadsync-sandbox-client-secret",
    "refresh_token": "leadsync-sandbox-refresh-token",
}

_SCOPES_BY_ENDPOINT: dict[str, str] = {
    "contacts.": "crm.objects.contacts.read",
    "emails.": "sales-email-read",
    "meetings.": "crm.objects.contacts.read",
    "calls.": "crm.objects.contacts.read",
    "notes.": "crm.objects.contacts.read",
    "deals.": "crm.objects.deals.read",
    "associations.": "crm.objects.contacts.read",
    "properties.": "crm.schemas.contacts.read",
    "property_groups.": "crm.schemas.contacts.read",
    "owners.": "crm.objects.owners.read",
    "forms.": "forms",
    "form_submissions.": "forms",
    "email_events.": "content",
    "events.": "oauth",  # the published definition's only scope for /events/v3/events
}
_WRITE_SCOPES = {"contacts": "crm.objects.contacts.write", "deals": "crm.objects.deals.write"}
ALL_SCOPES = frozenset({*_SCOPES_BY_ENDPOINT.values(), *_WRITE_SCOPES.values(), "crm.schemas.contacts.write", "oauth"})

# (app key, "private" | "oauth"): the app whose rate windows a call counts against, and its kind.
Caller = tuple[str, str]


def _oauth_error(status: str, message: str) -> Response:
    return Response(400, {"status": status, "message": message, "correlationId": str(uuid.uuid4())})


class Auth:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._access_tokens: dict[str, float] = {}  # OAuth access token -> expiry (sandbox seconds)
        self._refresh_tokens = {SANDBOX_CREDENTIALS["refresh_token"]}
        self.scopes: set[str] = set(ALL_SCOPES)  # granted scopes; tests remove some to get 403 MISSING_SCOPES

    def caller(self, request: Request) -> Caller | Response:
        """The caller of a valid bearer token, else the 401 answer."""
        auth = request.header("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            return Response(
                401,
                error_body(
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
            )
        if token == SANDBOX_CREDENTIALS["private_app_token"]:
            return ("private", "private")
        with self._lock:
            expiry = self._access_tokens.get(token)
        if expiry is None:
            return Response(
                401, error_body("The OAuth token used to make this call is invalid.", "INVALID_AUTHENTICATION")
            )
        now = self.ctx.sandbox.clock.seconds()
        if now >= expiry:
            minutes = int((now - expiry) // 60)
            return Response(
                401,
                error_body(
                    f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
                    "EXPIRED_AUTHENTICATION",
                    context={"expiresAt": [str(expiry)]},
                ),
            )
        return ("oauth", "oauth")

    def missing_scope(self, endpoint: str) -> Response | None:
        """The 403 answer when the endpoint needs a scope that was not granted."""
        scope = self._required_scope(endpoint)
        if scope is None or scope in self.scopes:
            return None
        return Response(
            403,
            error_body(
                "This app hasn't been granted all required scopes to make this call. Read more about required "
                "scopes here: https://developers.hubspot.com/scopes.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            ),
        )

    @staticmethod
    def _required_scope(endpoint: str) -> str | None:
        name = endpoint.removeprefix("hubspot.")
        for otype, scope in _WRITE_SCOPES.items():
            if name in (f"{otype}.batch_update", f"{otype}.create"):
                return scope
        if name in ("properties.create", "property_groups.create"):
            return "crm.schemas.contacts.write"
        for prefix, scope in _SCOPES_BY_ENDPOINT.items():
            if name.startswith(prefix):
                return scope
        return None

    def token(self, request: Request) -> Response:
        """``POST /oauth/v1/token``: a new access token for a known client and refresh token."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return _oauth_error("BAD_GRANT_TYPE", "grant_type must be refresh_token")
        if (
            form.get("client_id") != SANDBOX_CREDENTIALS["client_id"]
            or form.get("client_secret") != SANDBOX_CREDENTIALS["client_secret"]
        ):
            return _oauth_error("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("refresh_token") not in self._refresh_tokens:
            return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        token = f"sandbox-oauth-{uuid.uuid4().hex}"
        lifetime = int(self.ctx.limit("token_lifetime"))
        with self._lock:
            self._access_tokens[token] = self.ctx.sandbox.clock.seconds() + lifetime
        body: dict[str, Any] = {
            "token_type": "bearer",
            "refresh_token": form["refresh_token"],
            "access_token": token,
            "expires_in": lifetime,
        }
        return Response(200, body)

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self._access_tokens.clear()
