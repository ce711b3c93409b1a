"""OAuth and sessions: ``POST /services/oauth2/token`` with the ``password`` grant (password + security token,
client id/secret), ``client_credentials`` (Basic header or form fields) and the JWT bearer grant (RS256
signature checked against a key registered with ``register_jwt_key``; ``iss`` = consumer key, ``sub`` =
username, ``aud`` = a login URL; ``exp`` in the future and at most 3 minutes ahead, on the sandbox clock).
Token requests do not count against the API allocation, as on Salesforce.

Sessions time out after 2 h without use (sandbox clock); ``expire_sessions()`` ends them all, the static
session id of ``SANDBOX_CREDENTIALS`` included: then 401 ``INVALID_SESSION_ID``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from connectors.sandbox.core import Request, Response
from connectors.sandbox.salesforce.errors import oauth_error
from connectors.sandbox.salesforce.ids import ORG_ID

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
NO_AUTH = {"salesforce.versions", "salesforce.oauth.token"}  # endpoints served without a session

# What the CLI prints so a user can point leadsync at the sandbox.
SANDBOX_CREDENTIALS: dict[str, str] = {
    "username": "integration@leadsync.sandbox",
    "password": "sandbox-password",
    "security_token": "SBXSECURITYTOKEN",
    "consumer_key": "3MVG9leadsync.sandbox.connected.app",
    "consumer_secret": "leadsync-sandbox-consumer-secret",
    "session_id": f"{ORG_ID[:15]}!AQsandbox.static.session.id",
}


@dataclass
class Session:
    user_id: str
    last_used: float  # sandbox clock seconds; inf for the static session, which never times out


@dataclass
class SalesforceOrg:
    """Users, connected apps and keys the sandbox's OAuth endpoint accepts."""

    integration_user_id: str = ""
    logins: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # username -> (pw, token, user id)
    apps: dict[str, str] = field(default_factory=dict)  # consumer key -> consumer secret
    jwt_keys: dict[str, list[Any]] = field(default_factory=dict)  # consumer key -> public keys


def bearer(request: Request) -> str | None:
    auth = request.header("Authorization") or ""
    if auth.lower().startswith(("bearer ", "oauth ")):
        return auth.split(" ", 1)[1].strip()
    return None


class OAuth:
    """The token endpoint and the sessions it issued."""

    def __init__(self, ctx: Context, org: SalesforceOrg):
        self.ctx = ctx
        self.org = org
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def session_ok(self, token: str | None) -> bool:
        if not token:
            return False
        now = self.ctx.clock.seconds()
        with self._lock:
            session = self.sessions.get(token)
            if session is None:
                return False
            if now - session.last_used > self.ctx.limit("session_timeout_s"):
                del self.sessions[token]
                return False
            if session.last_used != float("inf"):
                session.last_used = now
            return True

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def restore_static_session(self) -> None:
        with self._lock:
            self.sessions[SANDBOX_CREDENTIALS["session_id"]] = Session(self.org.integration_user_id, float("inf"))

    def register_jwt_key(self, consumer_key: str, public_key_pem: bytes | str) -> None:
        """Register the certificate's public key of a connected app for the JWT bearer flow."""
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        self.org.jwt_keys.setdefault(consumer_key, []).append(load_pem_public_key(pem))
        self.org.apps.setdefault(consumer_key, secrets.token_hex(16))

    def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant == "password":
            secret = self.org.apps.get(form.get("client_id", ""))
            if secret is None:
                return oauth_error("invalid_client_id", "client identifier invalid")
            if not hmac.compare_digest(secret, form.get("client_secret", "")):
                return oauth_error("invalid_client", "invalid client credentials")
            login = self.org.logins.get(form.get("username", ""))
            if login is None or not hmac.compare_digest(login[0] + login[1], form.get("password", "")):
                return oauth_error("invalid_grant", "authentication failure")
            return self._issue(login[2], secret)
        if grant == "client_credentials":
            key, secret = form.get("client_id", ""), form.get("client_secret", "")
            auth = request.header("Authorization") or ""
            if auth.lower().startswith("basic "):
                try:
                    key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    return oauth_error("invalid_client", "invalid client credentials")
            expected = self.org.apps.get(key)
            if expected is None or not hmac.compare_digest(expected, secret):
                return oauth_error("invalid_client", "invalid client credentials")
            return self._issue(self.org.integration_user_id, expected, scope="api")
        if grant == JWT_GRANT:
            return self._jwt_login(form.get("assertion", ""))
        return oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt_login(self, assertion: str) -> Response:
        import jwt

        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        keys = self.org.jwt_keys.get(str(claims.get("iss", "")))
        if not keys:
            return oauth_error("invalid_client_id", "client identifier invalid")
        audiences = [*LOGIN_AUDIENCES, self.ctx.sandbox.salesforce_url]
        for key in keys:
            try:
                claims = jwt.decode(
                    assertion,
                    key,
                    algorithms=["RS256"],
                    audience=audiences,
                    options={"verify_exp": False, "require": ["iss", "sub", "aud", "exp"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                return oauth_error("invalid_grant", "invalid assertion")
        else:
            return oauth_error("invalid_grant", "invalid assertion")
        try:
            exp = float(claims["exp"])
        except (TypeError, ValueError):
            return oauth_error("invalid_grant", "invalid assertion")
        now = self.ctx.clock.now().timestamp()
        # Salesforce wants the assertion to expire within 3 minutes; allow a little clock skew.
        if exp < now or exp > now + 180 + 60:
            return oauth_error("invalid_grant", "expired authorization code")
        login = self.org.logins.get(str(claims["sub"]))
        if login is None:
            return oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._issue(login[2], self.org.apps[str(claims["iss"])], scope="api")

    def _issue(self, user_id: str, client_secret: str, scope: str | None = None) -> Response:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        with self._lock:
            self.sessions[token] = Session(user_id, self.ctx.clock.seconds())
        issued_at = str(int(self.ctx.clock.now().timestamp() * 1000))
        identity = f"{LOGIN_AUDIENCES[0]}/id/{ORG_ID}/{user_id}"
        signature = base64.b64encode(
            hmac.new(client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.ctx.sandbox.salesforce_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
        if scope:
            body["scope"] = scope
        return Response(200, body)
