"""What the sync benchmarks share: the machine line, one section of ``bench/RESULTS.md``, and the CRM-side
setup every real run needs (the write-back fields)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from sync.app import App
from sync.policies import writeback_specs
from sync.settings import Settings

RESULTS = Path(__file__).with_name("RESULTS.md")
# the sandbox's Salesforce field types for leadsync's FieldSpec types (what an admin picks in Setup)
_SF_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "number": ("double", {"precision": 16, "scale": 2}),
    "datetime": ("datetime", {}),
}


def machine() -> str:
    load = os.getloadavg()[0]
    return (
        f"Python {platform.python_version()}, {platform.machine()} with {os.cpu_count()} CPUs "
        f"(load average {load:.1f} at start)"
    )


def write_section(title: str, body: str) -> None:
    """Replace the ``## title`` section of RESULTS.md with ``body`` (appended when absent); others stay."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    heading = f"## {title}\n"
    section = heading + "\n" + body.strip("\n") + "\n"
    start = text.find(heading)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("\n" + text[end + 1 :] if end != -1 else "")
    RESULTS.write_text(text.rstrip("\n") + "\n")


def create_writeback_fields(settings: Settings, sandbox: Any = None) -> None:
    """What a user does once before the first run: ``leadsync check --create-fields``; for Salesforce, where
    leadsync creates no fields, what the admin does in Setup (through the in-process ``sandbox``)."""
    app = App(settings)
    try:
        app.check(create_fields=True)
        if settings.crm == "salesforce":
            api = sandbox.apis["salesforce"]
            for spec in writeback_specs(app.fields_config, "salesforce"):
                kind, extra = _SF_TYPES.get(spec.type, ("string", {"length": 255}))
                api.create_field(settings.salesforce.object, spec.name, kind, spec.label, **extra)
    finally:
        app.close()
