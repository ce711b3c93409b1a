"""Who is calling: the ``x-api-token`` header or legacy ``api_token`` parameter, or an OAuth bearer token.

``POST /oauth/token`` (``grant_type=refresh_token``, HTTP Basic client auth, form body) returns
``access_token``, ``token_type``, ``refresh_token``, ``scope``, ``expires_in`` and ``api_domain``.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from urllib.parse import parse_qs

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import Request, Response
from connectors.sandbox.pipedrive.errors import oauth_error

# Printed by the CLI so a user can point the adapter at the sandbox.
SANDBOX_CREDENTIALS: dict[str, str] = {
    "api_token": "pd-sandbox-api-token-7f3c2a",
    "client_id": "pd-sandbox-client-id",
    "client_secret": "pd-sandbox-client-secret-91b4",
    "access_token": "pd-sandbox-access-token-0",
    "refresh_token": "pd-sandbox-refresh-token-5d1e",
}
SCOPE = "base,contacts:full,activities:full,deals:read,users:read,admin"


class Auth:
    """The api token, and the OAuth access tokens issued so far with their expiry (sandbox seconds)."""

    def __init__(self, clock: Clock, access_token_ttl: Callable[[], int], api_domain: Callable[[], str]):
        self.clock = clock
        self.access_token_ttl = access_token_ttl  # read per call: the limits can change at run time
        self.api_domain = api_domain  # the sandbox's URL is known only once it listens
        self._lock = threading.Lock()
        self._access_tokens: dict[str, float] = {
            SANDBOX_CREDENTIALS["access_token"]: clock.seconds() + access_token_ttl()
        }
        self._refresh_tokens = {SANDBOX_CREDENTIALS["refresh_token"]}
        self._issued = 0

    def authenticate(self, request: Request) -> str | None:
        """``api:<token>`` or ``oauth:<token>`` for a valid credential, else None."""
        token = request.header("x-api-token") or request.arg("api_token")
        if token:
            return f"api:{token}" if token == SANDBOX_CREDENTIALS["api_token"] else None
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("bearer "):
            bearer = auth[7:].strip()
            with self._lock:
                expires = self._access_tokens.get(bearer)
            if expires is not None and self.clock.seconds() < expires:
                return f"oauth:{bearer}"
        return None

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access_tokens = dict.fromkeys(self._access_tokens, -1e18)

    def oauth_token(self, request: Request) -> Response:
        auth = request.header("Authorization") or ""
        try:
            client = base64.b64decode(auth[6:]).decode() if auth.lower().startswith("basic ") else ""
        except (ValueError, binascii.Error):
            client = ""
        if client != f"{SANDBOX_CREDENTIALS['client_id']}:{SANDBOX_CREDENTIALS['client_secret']}":
            return oauth_error(401, "Invalid client credentials", "invalid_client")
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return oauth_error(400, "Unsupported grant type", "unsupported_grant_type")
        ttl = self.access_token_ttl()
        with self._lock:
            if form.get("refresh_token") not in self._refresh_tokens:
                return oauth_error(400, "Invalid grant: refresh token is invalid", "invalid_grant")
            self._issued += 1
            token = f"pd-sandbox-access-token-{self._issued}"
            self._access_tokens[token] = self.clock.seconds() + ttl
        body = {"access_token": token, "token_type": "Bearer", "refresh_token": form["refresh_token"], "scope": SCOPE}
        return Response(200, body | {"expires_in": ttl, "api_domain": self.api_domain()})
