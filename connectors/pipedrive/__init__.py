"""Pipedrive connector: persons, activities, deals and users over ``requests`` (API v2 reads, v1 writes)."""

from connectors.pipedrive.adapter import PipedriveAdapter, WriteQuotaExhausted
from connectors.pipedrive.config import DEFAULT_ACTIVITY_TYPE_MAP, DEFAULT_FIELD_MAP, PipedriveConfig

__all__ = [
    "DEFAULT_ACTIVITY_TYPE_MAP",
    "DEFAULT_FIELD_MAP",
    "PipedriveAdapter",
    "PipedriveConfig",
    "WriteQuotaExhausted",
]
