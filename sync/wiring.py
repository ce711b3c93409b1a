"""Builds the configured CRM's adapter from settings, through the CRM registry (``connectors.registry``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.base import CRMAdapter
from connectors.registry import crm_info
from sync.settings import Settings


class ReadFields(list[str]):
    """The CRM fields a sync reads: the write-back fields (the list itself) and ``model_fields``, the fields
    the scoring model and policies read (model name -> CRM name), read where the CRM has them.

    A list, so the adapter factories that hand it on to ``build_adapter`` unchanged carry both.
    """

    def __init__(self, names: Iterable[str] = (), model_fields: Mapping[str, str] | None = None):
        super().__init__(names)
        self.model_fields: dict[str, str] = dict(model_fields or {})


def build_adapter(settings: Settings, read_fields: Sequence[str], **overrides: Any) -> CRMAdapter:
    """The adapter for ``settings.crm``, reading ``read_fields`` (the write-back fields, and the model's
    fields when it is a ``ReadFields``) besides its defaults.

    Pages hold ``settings.batch_size`` contacts (at most what the CRM's API allows): a page is the batch the
    pipeline scores, writes and checkpoints together.
    """
    crm = crm_info(settings.crm)
    overrides.setdefault("page_size", min(settings.batch_size, crm.max_page_size))
    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    section = getattr(settings, crm.name)  # each CRM's settings live in the section named after it
    model_fields = read_fields.model_fields if isinstance(read_fields, ReadFields) else None
    return crm.build(section, extra_fields=tuple(read_fields), model_fields=model_fields, ca_path=ca, **overrides)
