"""Builds the configured CRM's adapter from settings, through the CRM registry (``connectors.registry``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import CRMAdapter
from connectors.registry import crm_info
from sync.settings import Settings


def build_adapter(settings: Settings, read_fields: Sequence[str], **overrides: Any) -> CRMAdapter:
    """The adapter for ``settings.crm``, reading ``read_fields`` (the write-back fields) besides its defaults.

    Pages hold ``settings.batch_size`` contacts (at most what the CRM's API allows): a page is the batch the
    pipeline scores, writes and checkpoints together.
    """
    crm = crm_info(settings.crm)
    overrides.setdefault("page_size", min(settings.batch_size, crm.max_page_size))
    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    section = getattr(settings, crm.name)  # each CRM's settings live in the section named after it
    return crm.build(section, extra_fields=tuple(read_fields), ca_path=ca, **overrides)
