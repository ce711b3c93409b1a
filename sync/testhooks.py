"""The two test hooks leadsync reads from the environment, read here and nowhere else.

``LEADSYNC_TEST_NOW``: a fixed "now" (ISO 8601 with a timezone) for every command, so two runs in separate
processes score alike.  ``LEADSYNC_TEST_ADAPTER_FACTORY``: ``module:function`` building the adapter instead of
the real CRM client (see ``tests/sync/fakes.py``).  Only the command line's edge (``sync.cli_context``) uses them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from datetime import UTC, datetime

from connectors.base import CRMAdapter
from sync.settings import Settings

TEST_NOW_ENV = "LEADSYNC_TEST_NOW"
ADAPTER_FACTORY_ENV = "LEADSYNC_TEST_ADAPTER_FACTORY"

AdapterFactory = Callable[[Settings, list[str]], CRMAdapter]


def pinned_now() -> datetime | None:
    """The fixed "now" a test asked for, in UTC (a time without a zone is taken as UTC); None when unset."""
    pinned = os.environ.get(TEST_NOW_ENV)
    if not pinned:
        return None
    parsed = datetime.fromisoformat(pinned)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def now_utc() -> datetime:
    """Now, or the test's fixed "now"."""
    pinned = pinned_now()
    return pinned if pinned is not None else datetime.now(UTC)


def adapter_factory() -> AdapterFactory | None:
    """The test's adapter factory, imported from its ``module:function``; None when unset."""
    spec = os.environ.get(ADAPTER_FACTORY_ENV)
    if not spec:
        return None
    module, _, name = spec.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module), name)
    return factory
