"""A local emulation of the HubSpot, Salesforce and Pipedrive APIs, for the demo, the tests and benchmarks."""

from connectors.sandbox.app import Counters, Sandbox, SandboxConfig

__all__ = ["Counters", "Sandbox", "SandboxConfig"]
