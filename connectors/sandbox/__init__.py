"""A local emulation of the HubSpot, Salesforce and Pipedrive APIs, for the demo, the tests and benchmarks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.sandbox.app import Counters, Sandbox, SandboxConfig

if TYPE_CHECKING:
    from connectors.sandbox.cli import SandboxProcess, run_subprocess

__all__ = ["Counters", "Sandbox", "SandboxConfig", "SandboxProcess", "run_subprocess"]


def __getattr__(name: str) -> Any:
    # the subprocess runner lives with the CLI; imported on first use so `import connectors.sandbox` stays light
    if name in ("run_subprocess", "SandboxProcess"):
        from connectors.sandbox import cli

        return getattr(cli, name)
    raise AttributeError(f"module 'connectors.sandbox' has no attribute {name!r}")
