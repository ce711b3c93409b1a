"""What every section of the emulated org shares: the sandbox (config, faults, URLs), its store and clock,
the schemas and the records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.sandbox.core import Request
from connectors.sandbox.salesforce.history import FieldHistory
from connectors.sandbox.salesforce.limits import DEFAULT_LIMITS
from connectors.sandbox.salesforce.records import Records
from connectors.sandbox.salesforce.schema import Schemas
from connectors.sandbox.salesforce.security import Access, field_access


class Context:
    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.clock = sandbox.clock
        self.schemas = Schemas(self.store)
        self.records = Records(self.store, self.clock, self.schemas.objects)
        self.history = FieldHistory(self.records, self.schemas.objects)
        # the user a request's session belongs to; the facade plugs in its OAuth sessions
        self.user_of: Callable[[Request], str | None] = lambda request: None

    def access(self, request: Request) -> Access:
        """Field-level security of the request's user."""
        return field_access(self, self.user_of(request))

    def limit(self, name: str) -> Any:
        """A Salesforce limit: the sandbox config's ``limits["salesforce"]`` over ``DEFAULT_LIMITS``."""
        return {**DEFAULT_LIMITS, **self.sandbox.config.limits.get("salesforce", {})}[name]
