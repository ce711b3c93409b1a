"""What every ``leadsync`` command shares: the context object, the consoles, the run lock, error handling.

``sync.cli`` and ``sync.ops_cli`` both build on it; ``sync.cli`` imports ``sync.ops_cli`` only to register its
commands, and ``sync.ops_cli`` never imports ``sync.cli``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
from rich.console import Console

from connectors.errors import AuthError, ConfigurationError, ConnectorError, QuotaExhausted
from connectors.http import redact
from scoring import ModelError
from sync import testhooks
from sync.app import App, ConfigError
from sync.settings import SettingsError
from sync.testhooks import now_utc

__all__ = ["Ctx", "current_ctx", "err", "fail", "handle_errors", "locked", "now_utc", "out"]

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Ctx:
    env_file: str
    log_level: str | None
    _app: App | None = field(default=None)

    def app(self) -> App:
        if self._app is None:
            self._app = App.from_env(self.env_file, log_level=self.log_level)
            if testhooks.pinned_now() is not None:
                self._app.clock = now_utc
        return self._app


def current_ctx() -> Ctx:
    obj = click.get_current_context().obj
    assert isinstance(obj, Ctx)
    return obj


def fail(message: str, code: int) -> None:
    err.print(redact(message), markup=False)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn the errors a user can meet into one sentence and an exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SettingsError, ConfigError) as exc:
            fail(f"Configuration error:\n{exc}", 2)
        except ModelError as exc:
            fail(str(exc), 2)
        except ConfigurationError as exc:
            fail(f"Configuration error: {exc}", 2)
        except QuotaExhausted as exc:
            fail(f"API quota exhausted: {exc}", 3)
        except AuthError as exc:
            fail(f"Authentication failed: {exc}", 3)
        except ConnectorError as exc:
            fail(f"CRM error: {exc}", 1)

    return wrapper  # type: ignore[return-value]


@contextmanager
def locked(app: App, wait: bool) -> Iterator[bool]:
    """Hold the CRM's run lock; yields False (after saying who holds it) when another process has it."""
    lock = app.store.acquire_lock(app.settings.crm, wait=wait)
    if lock is None:
        holder = app.store.lock_holder(app.settings.crm)
        who = holder.describe() if holder else "another leadsync process"
        out.print(f"Already running: {who}. Nothing to do (use --wait to wait for it).")
        yield False
        return
    with lock:
        yield True
