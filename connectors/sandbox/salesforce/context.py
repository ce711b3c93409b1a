"""What every section of the emulated org shares: the sandbox (config, faults, URLs), its store and clock,
the schemas and the records."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.salesforce.history import FieldHistory
from connectors.sandbox.salesforce.limits import DEFAULT_LIMITS
from connectors.sandbox.salesforce.records import Records
from connectors.sandbox.salesforce.schema import Schemas


class Context:
    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.clock = sandbox.clock
        self.schemas = Schemas(self.store)
        self.records = Records(self.store, self.clock, self.schemas.objects)
        self.history = FieldHistory(self.records, self.schemas.objects)

    def limit(self, name: str) -> Any:
        """A Salesforce limit: the sandbox config's ``limits["salesforce"]`` over ``DEFAULT_LIMITS``."""
        return {**DEFAULT_LIMITS, **self.sandbox.config.limits.get("salesforce", {})}[name]
