"""The dashboard's routes: sign-in, the five pages, the CSV download and the revert (a POST with a CSRF token).

Reads run on one worker thread holding one state store (a store is for one thread), so the event loop never
waits on the database.  A revert runs through ``sync.revert`` on its own thread with its own ``App`` (adapter,
store, run lock), exactly as ``leadsync revert`` does, and is recorded with who asked for it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from scoring import load_model
from sync.csvsafe import safe_writer
from sync.dashboard import queries, views
from sync.dashboard.auth import COOKIE, Session, Sessions, SignInLimiter, csrf_ok, verify_password
from sync.history import CHANGE_COLUMNS
from sync.settings import Settings
from sync.store_thread import StoreThread

log = logging.getLogger("leadsync.dashboard")
PREFIX = "/dashboard"


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the dashboard's forms are all urlencoded; no multipart parser needed)."""
    body = await request.body()
    if len(body) > 64 * 1024:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _countdown(due: datetime | None, now: datetime) -> str:
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    sign, seconds = ("overdue " if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h {rest // 60:02d}m"


def build_dashboard(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utcnow,
    app_factory: Callable[[], Any] | None = None,
) -> Starlette:
    """The dashboard app; ``app_factory`` builds the ``sync.app.App`` a revert runs with (default: from settings)."""
    from sync.app import App, parse_blocks

    config = settings.dashboard
    if config.password_hash is None:
        raise ValueError("the dashboard needs LEADSYNC_DASHBOARD__PASSWORD_HASH")
    password_hash = config.password_hash.get_secret_value()
    secret = config.session_secret.get_secret_value() if config.session_secret else secrets.token_urlsafe(32)
    sessions = Sessions(secret, int(config.session_hours * 3600))
    limiter = SignInLimiter()
    make_app = app_factory or (lambda: App(settings, clock=clock))
    model = load_model(settings.model_file)
    policies, fields = parse_blocks(model, str(settings.model_file))
    parts = views.ModelParts(model, policies, fields, Path(settings.model_file))
    reader = StoreThread(settings.state_url, thread_name="leadsync-dashboard")
    reverter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadsync-dashboard-revert")
    env = Environment(loader=PackageLoader("sync.dashboard", "templates"), autoescape=select_autoescape(["html"]))
    env.globals.update(prefix=PREFIX, crm=settings.crm)
    env.filters["countdown"] = _countdown
    env.filters["ts"] = lambda value: "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")

    def page(
        template: str,
        request: Request,
        session: Session | None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        html = env.get_template(template).render(
            request=request, session=session, now=clock(), path=request.url.path, **context
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})

    def signed_in(request: Request) -> Session | None:
        return sessions.read(request.cookies.get(COOKIE))

    def guarded(
        handler: Callable[[Request, Session], Any],
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            session = signed_in(request)
            if session is None:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return page("signin.html", request, None, status=401, next=target, error=None)
                return page("signin.html", request, None, status=401, next=PREFIX + "/", error=None)
            response: Response = await handler(request, session)
            return response

        return endpoint

    async def signin_form(request: Request) -> Response:
        return page("signin.html", request, None, next=request.query_params.get("next", PREFIX + "/"), error=None)

    async def signin(request: Request) -> Response:
        form = await _form(request)
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        target = str(form.get("next", "")) or PREFIX + "/"
        if not target.startswith(PREFIX + "/") or target.startswith("//"):
            target = PREFIX + "/"  # only ever back into the dashboard: no open redirect
        client = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(client)
        if wait:  # checked before the password: a guesser gets no answer, and costs no scrypt
            log.warning("dashboard sign-in from %s refused: too many failed attempts", client)
            return page(
                "signin.html",
                request,
                None,
                status=429,
                headers={"Retry-After": str(wait)},
                next=target,
                error=f"Too many failed sign-ins from your address. Try again in {wait} seconds.",
            )
        ok = secrets.compare_digest(user.encode(), config.user.encode())
        ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, password, password_hash) and ok
        if not ok:
            limiter.failed(client)
            log.warning("dashboard sign-in refused for user %r from %s", user[:64], client)
            return page("signin.html", request, None, status=401, next=target, error="Wrong user name or password.")
        limiter.succeeded(client)
        log.info("dashboard sign-in: %s from %s", user, client)
        _session, cookie = sessions.new(user)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=sessions.max_age,
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def signout(request: Request, session: Session) -> Response:
        form = await _form(request)
        if not csrf_ok(session, form.get("csrf")):
            return page("error.html", request, session, status=403, message="Missing or wrong CSRF token.")
        response = RedirectResponse(PREFIX + "/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    def _int(value: str | None, default: int = 0) -> int:
        return int(value) if value is not None and value.isdigit() else default

    async def hot(request: Request, session: Session) -> Response:
        q = request.query_params
        where = queries.LeadFilter(
            q.get("owner") or None, q.get("tier") or None, q.get("stage") or None, q.get("segment") or None
        )
        ctx = await reader.run(lambda s: views.hot_leads(s, settings, parts, where, _int(q.get("page"))))
        return page("hot.html", request, session, **ctx)

    async def sla(request: Request, session: Session) -> Response:
        q = request.query_params
        tier, owner, number = q.get("tier"), q.get("owner") or None, _int(q.get("page"))
        ctx = await reader.run(lambda s: views.sla_board(s, settings, tier, owner, number, clock()))
        return page("sla.html", request, session, **ctx)

    async def runs(request: Request, session: Session) -> Response:
        before = request.query_params.get("before")
        ctx = await reader.run(lambda s: views.runs(s, settings, int(before) if before and before.isdigit() else None))
        return page("runs.html", request, session, **ctx)

    async def run_detail(request: Request, session: Session) -> Response:
        run_id = int(request.path_params["run_id"])
        q = request.query_params
        search, after = q.get("q", "").strip()[:200], _int(q.get("after"))
        ctx = await reader.run(lambda s: views.run_detail(s, settings, run_id, search, after))
        if ctx is None:
            return page("error.html", request, session, status=404, message=f"There is no {settings.crm} run {run_id}.")
        return page("run.html", request, session, **ctx)

    async def run_csv(request: Request, session: Session) -> Response:
        run_id = int(request.path_params["run_id"])
        search = request.query_params.get("q", "").strip()[:200]
        rows = await reader.run(lambda s: list(views.changes_csv_rows(s, settings, run_id, search) or []))

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = safe_writer(buffer)
            writer.writerow(CHANGE_COLUMNS)
            for row in rows:
                writer.writerow(row.cells())
                if buffer.tell() > 64 * 1024:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        name = f"leadsync-run-{run_id}-changes.csv"
        return StreamingResponse(
            lines(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    async def revert_confirm(request: Request, session: Session) -> Response:
        run_id = int(request.path_params["run_id"])
        report, error = await _revert(run_id, session.user, dry_run=True)
        return page("revert.html", request, session, run_id=run_id, plan=report, error=error)

    async def revert_do(request: Request, session: Session) -> Response:
        run_id = int(request.path_params["run_id"])
        form = await _form(request)
        if not csrf_ok(session, form.get("csrf")):
            return page(
                "error.html",
                request,
                session,
                status=403,
                message="Missing or wrong CSRF token: reload the confirmation page and try again.",
            )
        report, error = await _revert(run_id, session.user, dry_run=False, force=form.get("force") == "1")
        if report is None or report.run_id is None:
            return page("revert.html", request, session, status=409, run_id=run_id, plan=None, error=error)
        return RedirectResponse(f"{PREFIX}/runs/{report.run_id}", status_code=303)

    async def _revert(run_id: int, user: str, *, dry_run: bool, force: bool = False) -> tuple[Any, str | None]:
        from sync.revert import AlreadyReverted, RevertError, fields_to_read, revert_run, reverted_by

        def work() -> tuple[Any, str | None]:
            app = make_app()
            try:
                lock = app.store.acquire_lock(settings.crm)
                if lock is None:
                    holder = app.store.lock_holder(settings.crm)
                    return None, f"Another run is working on {settings.crm}: {holder.describe() if holder else ''}"
                with lock:
                    app.extra_read_fields = fields_to_read(app.store, run_id)
                    try:
                        report = revert_run(
                            crm=settings.crm,
                            adapter=app.adapter,
                            store=app.store,
                            run_id=run_id,
                            clock=app.clock,
                            dry_run=dry_run,
                            batch_size=settings.batch_size,
                            force=force,
                        )
                    except AlreadyReverted as exc:
                        return exc.plan if dry_run else None, str(exc)
                    except RevertError as exc:
                        return None, str(exc)
                    if report.run_id is not None:
                        queries.record_request(app.store, report.run_id, user, "dashboard", app.clock())
                    earlier = reverted_by(app.store, report.target) if dry_run else []
                    if earlier:
                        runs = ", ".join(f"run {run.id}" for run, _n in earlier)
                        return (
                            report,
                            f"Run {run_id} was already reverted by {runs}: "
                            "reverting it again undoes what later runs wrote.",
                        )
                    log.info(
                        "dashboard revert of run %d by %s: run %s (dry run %s)", run_id, user, report.run_id, dry_run
                    )
                    return report, report.error
            finally:
                app.close()

        return await asyncio.get_running_loop().run_in_executor(reverter, work)

    async def contact(request: Request, session: Session) -> Response:
        cid = request.path_params["contact_id"]
        ctx = await reader.run(lambda s: views.contact(s, settings, parts, cid, clock()))
        if ctx is None:
            return page(
                "error.html", request, session, status=404, message=f"No contact {cid!r} in the state database."
            )
        return page("contact.html", request, session, **ctx)

    async def model_view(request: Request, session: Session) -> Response:
        ctx = await asyncio.get_running_loop().run_in_executor(None, views.model_page, settings, parts, load_model)
        return page("model.html", request, session, **ctx)

    async def go_contact(request: Request, session: Session) -> Response:
        cid = request.query_params.get("id", "").strip()
        return RedirectResponse(f"{PREFIX}/contacts/{cid}" if cid else PREFIX + "/", status_code=303)

    routes = [
        Route("/", guarded(hot), methods=["GET"]),
        Route("/sign-in", signin_form, methods=["GET"]),
        Route("/sign-in", signin, methods=["POST"]),
        Route("/sign-out", guarded(signout), methods=["POST"]),
        Route("/sla", guarded(sla), methods=["GET"]),
        Route("/runs", guarded(runs), methods=["GET"]),
        Route("/runs/{run_id:int}", guarded(run_detail), methods=["GET"]),
        Route("/runs/{run_id:int}/changes.csv", guarded(run_csv), methods=["GET"]),
        Route("/runs/{run_id:int}/revert", guarded(revert_confirm), methods=["GET"]),
        Route("/runs/{run_id:int}/revert", guarded(revert_do), methods=["POST"]),
        Route("/contacts", guarded(go_contact), methods=["GET"]),
        Route("/contacts/{contact_id:path}", guarded(contact), methods=["GET"]),
        Route("/model", guarded(model_view), methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"),
    ]

    return Starlette(routes=routes)
