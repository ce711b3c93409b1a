"""The Salesforce client wiring: one ``requests`` session under simple-salesforce, login and re-login, the
status/errorCode table every call goes through, and SOQL queries run alone or packed into Composite calls.

Salesforce error bodies are a list ``[{"message": ..., "errorCode": ...}]``; OAuth errors are
``{"error": ..., "error_description": ...}``.  simple-salesforce raises ``SalesforceError`` subclasses that
carry the status and the decoded body, but not the headers (usage is read by a response hook instead).

The session: requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` win over ``Session.verify``
(psf/requests#3829): with either variable set, a session built with ``verify=ca_path`` silently verifies
against the system bundle instead, so ``VerifyingSession`` keeps its own.  simple-salesforce passes no
``timeout``, and requests waits forever without one: the session supplies it.  Proxies from the environment
still apply.
"""

from __future__ import annotations

import json
import re
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote_plus

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connectors.errors import (
    AuthError,
    ConnectorError,
    FatalApiError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from connectors.http import Action, ApiClient, Exchange, Verdict, redact
from connectors.paging import SalesforceNextUrl
from connectors.salesforce import auth
from connectors.salesforce.config import SalesforceConfig
from connectors.salesforce.mapping import quote

T = TypeVar("T")
QueryBody = dict[str, Any]

# a query batch's locator and offset: /services/data/v59.0/query/01gxx0000000001-2000
LOCATOR_OFFSET = re.compile(r"(.*/query(?:All)?/[0-9A-Za-z]+-)(\d+)")
# errorCodes Salesforce documents as transient: try the same request again later
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"})


def later_batches(body: QueryBody) -> list[tuple[int, str]]:
    """(offset, url) of a query's later batches, from its first batch's locator and ``totalSize`` (none when
    it is the last batch or its ``nextRecordsUrl`` has another shape)."""
    following = body.get("nextRecordsUrl") if body.get("done") is False else None
    located = LOCATOR_OFFSET.fullmatch(str(following or ""))
    if located is None:
        return []
    step, total = int(located.group(2)), int(body.get("totalSize") or 0)
    return [(at, f"{located.group(1)}{at}") for at in range(step, total, step)]


def to_exchange(result: Any) -> Exchange:
    """Describe what a simple-salesforce or requests call returned or raised."""
    if isinstance(result, SalesforceError):
        content = result.content
        body = content if isinstance(content, str) else json.dumps(content, default=str)
        return Exchange(status=int(result.status), body=body)
    if isinstance(result, requests.Response):
        return Exchange(status=result.status_code, headers=dict(result.headers), body=result.text)
    if isinstance(result, requests.RequestException | ConnectionError | TimeoutError):
        return Exchange(status=0, error=f"{type(result).__name__}: {result}")
    if isinstance(result, ValueError):  # an unreadable (truncated, non-JSON) response body
        return Exchange(status=0, error=f"unreadable response: {result}")
    if isinstance(result, BaseException):
        return Exchange(status=-1, error=f"{type(result).__name__}: {result}")
    return Exchange(status=200)


def first_error(body: str) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce error body, or ("", text) when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", body[:300]
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return str(data[0].get("errorCode", "")), str(data[0].get("message", ""))
    if isinstance(data, dict) and "error" in data:
        return str(data["error"]), str(data.get("error_description", ""))
    return "", body[:300]


def classify(exchange: Exchange) -> Verdict:
    status = exchange.status
    if 200 <= status < 300:
        return Verdict(Action.OK)
    if status == 0:
        return Verdict(Action.RETRY, f"Salesforce could not be reached ({exchange.error}).")
    if status < 0:
        return Verdict(Action.FATAL, f"Salesforce call failed unexpectedly: {exchange.error}")
    code, message = first_error(exchange.body)
    if status == 401 and code in ("INVALID_SESSION_ID", ""):
        return Verdict(Action.REFRESH_AUTH, "The Salesforce session expired or is invalid.", code=code)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" not in message:
        # the concurrent long-running request cap (ConcurrentPerOrgLongTxn): wait and try again
        return Verdict(Action.RATE_LIMITED, f"Salesforce is busy ({message}).", code=code)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return Verdict(
            Action.QUOTA_EXHAUSTED,
            "Salesforce's daily API request allocation is spent (REQUEST_LIMIT_EXCEEDED: "
            f"{message}). The run stops here with its cursor saved; it can resume once the rolling 24-hour "
            "window frees calls, or after an admin raises the org's API limit.",
            code=code,
        )
    if status in (401, 403):
        return Verdict(
            Action.AUTH_FAILED,
            f"Salesforce refused the request ({code or status}: {message}). Check that the integration user "
            "has API Enabled and access to the objects and fields leadsync uses.",
            code=code,
        )
    if status >= 500 or status in (408, 429) or code in RETRYABLE_CODES:
        return Verdict(Action.RETRY, f"Salesforce had a transient error ({code or status}: {message}).", code=code)
    if status == 414:
        return Verdict(Action.FATAL, "The request URI was longer than Salesforce's 16,384-byte limit.", code=code)
    return Verdict(Action.FATAL, f"Salesforce rejected the request ({code or status}: {message}).", code=code)


def classify_login(exchange: Exchange) -> Verdict:
    """The OAuth token endpoint: 400 means the credentials were refused, never retried."""
    status = exchange.status
    if 200 <= status < 300 or status == 0 or status >= 500:
        return classify(exchange)
    code, message = first_error(exchange.body)
    return Verdict(
        Action.AUTH_FAILED,
        f"Salesforce refused the login ({code or status}: {message}). Check the username, the password "
        "followed by the security token, the connected app's consumer key and secret, or the JWT certificate.",
        code=code,
    )


def error_for(verdict: Verdict, status: int, endpoint: str) -> ConnectorError:
    """The exception for a failure met outside ``ApiClient.call`` (a Composite subrequest)."""
    message = redact(verdict.message)
    kw = {"crm": "salesforce", "endpoint": endpoint, "status": status}
    if verdict.action is Action.QUOTA_EXHAUSTED:
        return QuotaExhausted(message, **kw)  # type: ignore[arg-type]
    if verdict.action in (Action.AUTH_FAILED, Action.REFRESH_AUTH):
        return AuthError(message, crm="salesforce", endpoint=endpoint, status=status)
    if verdict.action is Action.RATE_LIMITED:
        return RateLimited(message, **kw)  # type: ignore[arg-type]
    if verdict.action is Action.RETRY:
        return TransientError(message, crm="salesforce", endpoint=endpoint, status=status)
    return FatalApiError(message, crm="salesforce", endpoint=endpoint, status=status)


# -- the session ---------------------------------------------------------------------------------------
class VerifyingSession(requests.Session):
    def __init__(self, verify: str | bool | None = None, timeout: float | None = None) -> None:
        super().__init__()
        if verify is not None:
            self.verify = verify
        self.timeout = timeout

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and isinstance(self.verify, str):
            settings["verify"] = self.verify
        return settings

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None and self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def make_session(ca_path: str | None, timeout: float | None = None) -> requests.Session:
    """A session verifying TLS against ``ca_path`` when given (else the default trust store), with a default
    ``timeout`` in seconds for every request."""
    return VerifyingSession(ca_path or None, timeout)


# -- the client ----------------------------------------------------------------------------------------
class SalesforceClient:
    """One org: the session, login (again when the session expires), every call under ``ApiClient``'s one
    retry policy, and API usage as the ``Sforce-Limit-Info`` header of the latest answer reports it."""

    def __init__(self, config: SalesforceConfig, session: requests.Session | None = None):
        self.config = config
        self.mode = config.auth_mode()
        self._http = session or make_session(config.ca_path, config.timeout)
        self._http.hooks["response"].append(self._track_usage)
        self.api = ApiClient(
            "salesforce", classify, max_attempts=config.max_attempts, sleep=config.sleep, refresh_auth=self._relogin
        )
        self._login_api = ApiClient("salesforce", classify_login, max_attempts=config.max_attempts, sleep=config.sleep)
        self._sf: Salesforce | None = None
        self.quota_used: int | None = None
        self.quota_limit: int | None = None
        self.logins = 0
        self._user_id = ""
        self.prefetched: dict[str, QueryBody] = {}  # query-more batches a Composite call brought ahead of time

    # -- session -----------------------------------------------------------------------------------------
    def _track_usage(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        m = re.search(r"api-usage=(\d+)/(\d+)", response.headers.get("Sforce-Limit-Info", ""))
        if m:
            self.quota_used, self.quota_limit = int(m.group(1)), int(m.group(2))

    def login(self) -> None:
        """Get a session now (otherwise the first call logs in); a no-op beyond building the client in session mode."""
        if self.mode == "session":
            assert self.config.session_id is not None and self.config.instance_url is not None
            token = auth.Token(self.config.session_id.get_secret_value(), self.config.instance_url)
        else:
            response = self._login_api.call(
                "oauth.token", lambda: auth.request_token(self.config, self._http, self.mode), to_exchange
            )
            token = auth.parse_token(response)
            redact.add(token.access_token)
            self.logins += 1
        self._sf = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self._http,
            version=self.config.api_version,
        )
        self._user_id = token.user_id or self._user_id

    def _relogin(self) -> None:
        if self.mode == "session":
            raise AuthError(
                "The Salesforce session id has expired; give a new one, or configure a login flow (password, "
                "JWT or client credentials) so leadsync can log in again by itself.",
                crm="salesforce",
            )
        self.login()

    def call(self, endpoint: str, fn: Callable[[Salesforce], T]) -> T:
        if self._sf is None:
            self.login()

        def send() -> T:
            assert self._sf is not None
            return fn(self._sf)

        return self.api.call(endpoint, send, to_exchange)

    def user_id(self) -> str:
        """The integration user's id: from the token answer's identity URL, else ``/services/oauth2/userinfo``."""
        if not self._user_id:

            def userinfo(sf: Salesforce) -> requests.Response:
                url = f"https://{sf.sf_instance}/services/oauth2/userinfo"
                return self._http.get(url, headers={"Authorization": f"Bearer {sf.session_id}"})

            self._user_id = str(self.call("oauth.userinfo", userinfo).json()["user_id"])
        return self._user_id

    # -- query plumbing ------------------------------------------------------------------------------------
    def _query_headers(self) -> dict[str, str]:
        return {"Sforce-Query-Options": f"batchSize={max(self.config.page_size, 200)}"}

    def query(self, soql: str, paged: bool = True, include_deleted: bool = False) -> QueryBody:
        """The first batch of ``soql``; ``include_deleted``: through ``queryAll``, with merged and deleted rows."""
        headers = self._query_headers() if paged else {}
        body: QueryBody = self.call(
            "queryAll" if include_deleted else "query",
            lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers),
        )
        return body

    def query_more(self, url: str) -> QueryBody:
        """The batch at ``url``: one call, unless a Composite call brought it along (``prefetched``)."""
        if url in self.prefetched:
            return self.prefetched.pop(url)
        body: QueryBody = self.call(
            "query_more", lambda sf: sf.query_more(url, identifier_is_url=True, headers=self._query_headers())
        )
        return body

    def query_page(self, soql: str, request: Mapping[str, Any], include_deleted: bool = False) -> QueryBody:
        """The first batch of ``soql``, or the one at ``request["next_url"]`` (see ``SalesforceNextUrl``)."""
        if "next_url" in request:
            return self.query_more(str(request["next_url"]))
        return self.query(soql, include_deleted=include_deleted)

    def query_url(self, soql: str) -> str:
        return f"/services/data/v{self.config.api_version}/query?q={quote_plus(soql)}"

    def composite(
        self, subrequests: list[dict[str, Any]], headers: Mapping[str, str] | None = None, collate: bool = True
    ) -> list[Mapping[str, Any]]:
        """One Composite call; the answers in the order of ``subrequests``.  ``collate=False`` makes Salesforce
        run the subrequests in the order given (``collateSubrequests``, default true from API 49.0)."""
        payload: dict[str, Any] = {"allOrNone": False, "compositeRequest": subrequests}
        if not collate:
            payload["collateSubrequests"] = False
        body = self.call(
            "composite", lambda sf: sf.restful("composite", method="POST", json=payload, headers=dict(headers or {}))
        )
        if not isinstance(body, Mapping):
            raise FatalApiError("Salesforce answered a composite request without a body.", crm="salesforce")
        by_ref = {answer["referenceId"]: answer for answer in body["compositeResponse"]}
        return [by_ref[sub["referenceId"]] for sub in subrequests]

    def query_rounds(self, soqls: Sequence[str]) -> Iterator[list[tuple[int, QueryBody]]]:
        """Run several queries to the end, packing up to 5 queries or query-more batches per call.

        Yields, per call, the (query index, result batch) pairs it returned; batches of one query come
        in order.
        """
        pending: deque[tuple[int, str, SalesforceNextUrl]] = deque(
            (i, soql, SalesforceNextUrl(endpoint="query")) for i, soql in enumerate(soqls)
        )
        while pending:
            batch = [pending.popleft() for _ in range(min(self.config.collections_per_call, len(pending)))]
            bodies: list[QueryBody]
            if len(batch) == 1:
                i, soql, paginator = batch[0]
                bodies = [self.query_page(soql, paginator.next_request())]
            else:
                subrequests = [
                    {"method": "GET", "url": str(paginator.token or self.query_url(soql)), "referenceId": f"q{n}"}
                    for n, (i, soql, paginator) in enumerate(batch)
                ]
                answers = self.composite(subrequests)
                bodies = [
                    self.subrequest_body(answer, partial(self.query_more, sub["url"]))
                    for sub, answer in zip(subrequests, answers, strict=True)
                ]
            out: list[tuple[int, QueryBody]] = []
            for (i, soql, paginator), body in zip(batch, bodies, strict=True):
                out.append((i, body))
                paginator.update_state(body)
                if paginator.has_next:
                    pending.append((i, soql, paginator))
            yield out

    def subrequest_body(self, answer: Mapping[str, Any], resend: Callable[[], Any]) -> Any:
        """A Composite subrequest's answer body; a transient failure is sent again on its own by ``resend``
        (through ``ApiClient.call``: the one retry policy), any other failure raises its typed error."""
        status = int(answer["httpStatusCode"])
        if status < 300:
            return answer["body"]
        verdict = classify(Exchange(status=status, body=json.dumps(answer["body"], default=str)))
        if verdict.action in (Action.RETRY, Action.RATE_LIMITED):
            return resend()
        raise error_for(verdict, status, "composite")

    def query_all(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Every record of several queries, in each query's order, in as few calls as Composite packing allows
        (``iter_batches``)."""
        parts: list[dict[int, list[dict[str, Any]]]] = [{} for _ in soqls]
        for i, offset, body in self.iter_batches(soqls):
            parts[i][offset] = body["records"]
        return [[record for _, batch_records in sorted(found.items()) for record in batch_records] for found in parts]

    def iter_batches(
        self,
        soqls: Sequence[str],
        firsts: Mapping[int, QueryBody] | None = None,
        fill: deque[str] | None = None,
        ordered: bool = False,
        first_only: Collection[int] = (),
    ) -> Iterator[tuple[int, int, QueryBody]]:
        """(query index, offset, batch) of every batch of several queries, 5 per Composite call.

        The first batches go 5 per call (``firsts``: those already in hand).  A first batch that is not the
        last names its locator and offset (``nextRecordsUrl`` = ``.../query/01g...-2000``) and ``totalSize``:
        every later batch of that query (``-4000``, ``-6000``...) is then known at once, so the batches of all
        the queries fill the following calls together instead of each query waiting for its previous batch.
        A ``nextRecordsUrl`` of another shape is followed batch by batch.  A call with room left takes urls
        from ``fill`` (query-more batches the caller reads later, kept in ``prefetched``).  ``ordered``: the
        subrequests of a call run in the order given (``collateSubrequests`` false).  The queries in
        ``first_only`` stop at their first batch (their caller reads the rest).
        """
        # (query index, offset, url or None for the first batch, follow nextRecordsUrl one batch at a time)
        pending: deque[tuple[int, int, str | None, bool]] = deque(
            (i, 0, None, False) for i in range(len(soqls)) if i not in (firsts or {})
        )
        known: list[tuple[int, int, str | None, bool, QueryBody]] = [
            (i, 0, None, False, body) for i, body in (firsts or {}).items()
        ]
        fill = fill if fill is not None else deque()
        while pending or known:
            answered = known
            known = []
            if not answered:
                batch = [pending.popleft() for _ in range(min(self.config.collections_per_call, len(pending)))]
                extra = [
                    fill.popleft() for _ in range(min(self.config.collections_per_call - len(batch), len(fill or ())))
                ]
                bodies = self._fetch_batches(soqls, batch, extra, ordered, first_only)
                answered = [(*item, body) for item, body in zip(batch, bodies, strict=True)]
            for i, offset, _, chained, body in answered:
                yield i, offset, body
                following = body.get("nextRecordsUrl") if body.get("done") is False else None
                if following is None or i in first_only or (offset and not chained):
                    continue
                if chained or LOCATOR_OFFSET.fullmatch(str(following)) is None:
                    pending.append((i, offset + max(len(body["records"]), 1), str(following), True))
                    continue
                pending.extend((i, at, url, False) for at, url in later_batches(body))

    def _fetch_batches(
        self,
        soqls: Sequence[str],
        batch: Sequence[tuple[int, int, str | None, bool]],
        extra: Sequence[str] = (),
        ordered: bool = False,
        paged: Collection[int] = (),
    ) -> list[QueryBody]:
        """One call for up to 5 first batches (by query) or later batches (by url); ``extra`` urls ride along
        and land in ``prefetched``.  The first batches of ``paged`` queries ask for ``page_size`` batches."""
        if len(batch) == 1 and not extra:
            i, _, url, _ = batch[0]
            return [self.query(soqls[i], paged=i in paged) if url is None else self.query_more(url)]
        urls = [url or self.query_url(soqls[i]) for i, _, url, _ in batch] + list(extra)
        subrequests: list[dict[str, Any]] = [
            {"method": "GET", "url": url, "referenceId": f"q{n}"} for n, url in enumerate(urls)
        ]
        for sub, (i, _, url, _) in zip(subrequests, batch, strict=False):
            if url is None and i in paged:  # the later batches keep the first one's size (its locator's)
                sub["httpHeaders"] = self._query_headers()
        answers = self.composite(subrequests, collate=not ordered)
        bodies = [
            self.subrequest_body(answer, partial(self.query_more, url))
            for url, answer in zip(urls, answers, strict=True)
        ]
        for url, body in zip(extra, bodies[len(batch) :], strict=True):
            self.prefetched[url] = body
        return bodies[: len(batch)]

    def id_chunks(self, prefix_soql: str, ids: Sequence[str], suffix_soql: str = "") -> list[str]:
        """``prefix (id, id, ...) suffix`` queries whose request URL stays under max_url_bytes."""
        base = len(self.query_url(prefix_soql + "()" + suffix_soql)) + 200  # room for the host and version
        budget = self.config.max_url_bytes - base
        out: list[str] = []
        chunk: list[str] = []
        used = 0
        for record_id in ids:
            cost = len(quote_plus(quote(record_id) + ","))
            if chunk and used + cost > budget:
                out.append(f"{prefix_soql}({','.join(chunk)}){suffix_soql}")
                chunk, used = [], 0
            chunk.append(quote(record_id))
            used += cost
        if chunk:
            out.append(f"{prefix_soql}({','.join(chunk)}){suffix_soql}")
        return out

    # -- usage ---------------------------------------------------------------------------------------------
    def calls(self) -> Counter[str]:
        return self.api.calls + self._login_api.calls

    def retries(self) -> Counter[str]:
        return self.api.retries + self._login_api.retries

    def close(self) -> None:
        self._http.close()
