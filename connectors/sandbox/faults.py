"""Deterministic fault injection (placeholder: no faults until configured)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import Request, Response


@dataclass
class FaultConfig:
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_reset: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 30.0
    rate_malformed: float = 0.0
    rate_record_failure: float = 0.0


@dataclass
class Fault:
    response: Response
    drop: bool = False


class Faults:
    def __init__(self, config: FaultConfig, seed: int, clock: Clock):
        self.config = config
        self.seed = seed
        self.clock = clock

    def configure(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self.config, key, value)

    def before(self, crm: str, endpoint: str, request: Request) -> Fault | None:
        return None

    def after(self, crm: str, endpoint: str, request: Request, response: Response) -> Response:
        return response

    def record_fails(self, crm: str, record_id: str) -> bool:
        """Whether a per-record failure is injected for this record inside a batch write."""
        return False
