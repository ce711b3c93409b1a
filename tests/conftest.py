"""Shared pytest fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from tests.browser import require_chromium

# --- PostgreSQL (started by scripts/test-services.sh, which exports LEADSYNC_TEST_PG_URL) ------------------
PG_URL_ENV = "LEADSYNC_TEST_PG_URL"


def _pg_url(base: str, *, dbname: str, options: str | None = None) -> str:
    parts = urlsplit(base)
    query = urlencode({"options": options}) if options else ""
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", query, ""))


@pytest.fixture(scope="session")
def pg_worker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this xdist worker's own on the test server; skips when there is no server."""
    admin_url = os.environ.get(PG_URL_ENV)
    if not admin_url:
        pytest.skip(f"{PG_URL_ENV} is not set: run the tests through `make test` to get a PostgreSQL server")
    import psycopg
    from psycopg import sql

    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    dbname = f"leadsync_test_{worker}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    yield _pg_url(admin_url, dbname=dbname)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@pytest.fixture
def pg_url(pg_worker_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema, dropped after the test."""
    import psycopg
    from psycopg import sql

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_worker_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield _pg_url(pg_worker_url, dbname=urlsplit(pg_worker_url).path.lstrip("/"), options=f"-csearch_path={schema}")
    with psycopg.connect(pg_worker_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# --- the browser check (tests marked `browser` skip without headless Chromium) ----------------------------
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of a browser test is built (a synced sandbox takes seconds): is there a Chromium?"""
    if item.get_closest_marker("browser") is not None:
        require_chromium()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say it in one plain line when the browser check was skipped, so a green run cannot hide it."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in getattr(r, "keywords", {})]
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"BROWSER CHECK SKIPPED: {len(skipped)} test(s) marked 'browser' did not run "
            "(no headless Chromium; Debian: apt-get install chromium)",
            yellow=True,
            bold=True,
        )
