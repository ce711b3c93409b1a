"""OAuth 2.0 token requests, made directly with ``requests`` against a configurable login URL.

simple-salesforce's own login always goes to ``https://{domain}.salesforce.com``, which cannot reach a
My Domain on another host or the local sandbox, so leadsync requests the token itself and hands
simple-salesforce the resulting ``session_id`` + ``instance_url``.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import requests

from connectors.errors import ConfigurationError
from connectors.salesforce.config import SalesforceConfig

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    instance_url: str
    identity: str = ""  # the identity URL .../id/<org id>/<user id>; empty for a session id given in settings

    @property
    def user_id(self) -> str:
        return self.identity.rstrip("/").rsplit("/", 1)[-1] if "/id/" in self.identity else ""

    def __repr__(self) -> str:
        return f"Token(access_token=***, instance_url={self.instance_url!r})"


def token_url(config: SalesforceConfig) -> str:
    return config.login_url.rstrip("/") + "/services/oauth2/token"


def jwt_assertion(config: SalesforceConfig, now: float | None = None) -> str:
    """An RS256-signed assertion: iss = consumer key, sub = username, aud = login URL, exp = 3 minutes."""
    if config.private_key is not None:
        key: bytes = config.private_key.get_secret_value().encode()
    elif config.private_key_file:
        try:
            key = Path(config.private_key_file).read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"The Salesforce JWT private key file {config.private_key_file} cannot be read: {exc.strerror}.",
                crm="salesforce",
            ) from exc
    else:
        raise ConfigurationError("JWT auth needs private_key or private_key_file.", crm="salesforce")
    audience = config.jwt_audience or (
        "https://test.salesforce.com" if "test.salesforce.com" in config.login_url else "https://login.salesforce.com"
    )
    issued = int(now if now is not None else time.time())
    claims = {"iss": config.consumer_key, "sub": config.username, "aud": audience, "exp": issued + 180}
    try:
        return jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigurationError(
            f"The Salesforce JWT private key is not a usable RSA key ({type(exc).__name__}).", crm="salesforce"
        ) from exc


def request_token(config: SalesforceConfig, session: requests.Session, mode: str) -> requests.Response:
    """Send the token request of the given auth mode; the caller classifies the response."""
    headers: dict[str, str] = {}
    if mode == "password":
        password = config.password.get_secret_value() if config.password else ""
        token = config.security_token.get_secret_value() if config.security_token else ""
        form = {
            "grant_type": "password",
            "client_id": config.consumer_key or "",
            "client_secret": config.consumer_secret.get_secret_value() if config.consumer_secret else "",
            "username": config.username or "",
            "password": password + token,
        }
    elif mode == "jwt":
        form = {"grant_type": JWT_GRANT, "assertion": jwt_assertion(config)}
    elif mode == "client_credentials":
        secret = config.consumer_secret.get_secret_value() if config.consumer_secret else ""
        basic = base64.b64encode(f"{config.consumer_key}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
        form = {"grant_type": "client_credentials"}
    else:
        raise ConfigurationError(f"Salesforce auth mode {mode!r} does not log in.", crm="salesforce")
    return session.post(token_url(config), data=form, headers=headers, timeout=config.timeout)


def parse_token(response: requests.Response) -> Token:
    body = response.json()
    return Token(
        access_token=str(body["access_token"]), instance_url=str(body["instance_url"]), identity=str(body.get("id", ""))
    )
