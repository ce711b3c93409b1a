"""Builds the configured CRM's adapter from settings, through the CRM registry (``connectors.registry``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.base import CRMAdapter, FieldsCache
from connectors.registry import crm_info
from sync.settings import Settings
from sync.state import StateStore


class ReadFields(list[str]):
    """The CRM fields a sync reads: the write-back fields (the list itself) and ``model_fields``, the fields
    the scoring model and policies read (model name -> CRM name), read where the CRM has them.

    A list, so the adapter factories that hand it on to ``build_adapter`` unchanged carry both.
    """

    def __init__(self, names: Iterable[str] = (), model_fields: Mapping[str, str] | None = None):
        super().__init__(names)
        self.model_fields: dict[str, str] = dict(model_fields or {})


class StoreFieldsCache:
    """A ``FieldsCache`` in the state store (``get_schema_cache`` / ``set_schema_cache``), one blob per CRM.

    ``store`` is a callable so the store opens only when the adapter first asks (``App.store`` is lazy).
    """

    def __init__(self, store: Callable[[], StateStore], crm: str, clock: Callable[[], datetime]) -> None:
        self._store = store
        self.crm = crm
        self.clock = clock

    def get(self) -> str | None:
        return self._store().get_schema_cache(self.crm)

    def put(self, blob: str) -> None:
        self._store().set_schema_cache(self.crm, blob, self.clock())


def build_adapter(
    settings: Settings, read_fields: Sequence[str], *, fields_cache: FieldsCache | None = None, **overrides: Any
) -> CRMAdapter:
    """The adapter for ``settings.crm``, reading ``read_fields`` (the write-back fields, and the model's
    fields when it is a ``ReadFields``) besides its defaults.

    Pages hold ``settings.batch_size`` contacts (at most what the CRM's API allows): a page is the batch the
    pipeline scores, writes and checkpoints together.  ``fields_cache`` goes to adapters whose config takes
    one (Pipedrive), so a run need not read the CRM's field definitions again.
    """
    crm = crm_info(settings.crm)
    overrides.setdefault("page_size", min(settings.batch_size, crm.max_page_size))
    if fields_cache is not None and "fields_cache" in {f.name for f in dataclasses.fields(crm.config_class)}:
        overrides.setdefault("fields_cache", fields_cache)
    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    section = getattr(settings, crm.name)  # each CRM's settings live in the section named after it
    model_fields = read_fields.model_fields if isinstance(read_fields, ReadFields) else None
    return crm.build(section, extra_fields=tuple(read_fields), model_fields=model_fields, ca_path=ca, **overrides)
