"""``ObjectFields``: which of the model's fields each contact object has, from its describe, kept between runs.

The model may read fields outside the default field map; a field the org lacks would fail the whole query
(``INVALID_FIELD``), so the reads leave those out.  Which fields each object has comes from its describe (one
call; one Composite call for Lead and Contact), kept in the fields cache (``SalesforceConfig.fields_cache``,
backed by sync's state store) so a run does not describe again.  The describe is read again when:

- a query answers ``INVALID_FIELD`` while the names came from the cache (a field was deleted since): the
  caller reads again once (``retry_stale``);
- a field the model wants is missing from names older than ``ABSENT_RECHECK`` (it may have been created).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from connectors.errors import FatalApiError
from connectors.http import redact

if TYPE_CHECKING:
    from connectors.salesforce.client import SalesforceClient
    from connectors.salesforce.config import SalesforceConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

ABSENT_RECHECK = timedelta(hours=24)  # how long a field found missing is believed missing without a describe


class ObjectFields:
    """Describe of the contact objects, and the read field map of each (default map + model fields it has)."""

    def __init__(self, client: SalesforceClient, config: SalesforceConfig) -> None:
        self.client = client
        self.config = config
        self._names: dict[str, set[str]] | None = None  # per object: its field names, lower case
        self._read_at: datetime | None = None
        self._from_cache = False
        self._read_maps: dict[str, Mapping[str, str]] = {}

    # -- describe --------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, dict[str, Any]]:
        """The describe of every contact object, read now (and put in the cache)."""
        objects = list(self.config.objects)
        path = f"/services/data/v{self.config.api_version}/sobjects/{{}}/describe"
        if len(objects) == 1:
            body = self.client.call("describe", lambda sf: sf.restful(f"sobjects/{objects[0]}/describe"))
            described = {objects[0]: dict(body or {})}
        else:
            answers = self.client.composite(
                [{"method": "GET", "url": path.format(o), "referenceId": f"d{o}"} for o in objects]
            )
            described = {
                sobject: dict(
                    self.client.subrequest_body(answer, partial(self.client.query_more, path.format(sobject))) or {}
                )
                for sobject, answer in zip(objects, answers, strict=True)
            }
        self._remember({o: {str(f["name"]).lower() for f in b.get("fields", [])} for o, b in described.items()})
        return described

    def _remember(self, names: dict[str, set[str]]) -> None:
        self._names, self._read_at, self._from_cache = names, self.config.now(), False
        self._read_maps = {}
        cache = self.config.fields_cache
        if cache is not None and self._read_at is not None:
            blob = {"objects": {o: sorted(n) for o, n in names.items()}, "read_at": self._read_at.isoformat()}
            try:
                cache.put(json.dumps(blob))
            except Exception as exc:  # a cache out of reach costs a describe next run, nothing more
                log.info("The Salesforce describe was not kept (%s); the next run describes again", redact(str(exc)))

    def _cached(self) -> dict[str, set[str]] | None:
        cache = self.config.fields_cache
        try:
            blob = cache.get() if cache is not None else None
        except Exception as exc:  # a cache out of reach is an empty one: describe instead
            log.info("The kept Salesforce describe could not be read (%s); describing again", redact(str(exc)))
            return None
        if not blob:
            return None
        try:
            data = json.loads(blob)
            names = {str(o): {str(n) for n in fields} for o, fields in dict(data["objects"]).items()}
            read_at = datetime.fromisoformat(str(data["read_at"]))
        except (ValueError, KeyError, TypeError):  # a cache from another version: describe again
            return None
        if not set(self.config.objects) <= set(names) or read_at.tzinfo is None:
            return None
        self._read_at, self._from_cache = read_at, True
        return names

    def _field_names(self) -> dict[str, set[str]]:
        if self._names is None:
            self._names = self._cached()
            if self._names is not None and self._stale_absences():
                self._names = None
            if self._names is None:
                self.describe()
        assert self._names is not None
        return self._names

    def _stale_absences(self) -> bool:
        """Whether cached names lack a field the model wants and are old enough that it may exist by now."""
        assert self._names is not None and self._read_at is not None
        if self.config.now() - self._read_at < ABSENT_RECHECK:
            return False
        return any(
            "." not in api and api.lower() not in self._names.get(obj, set())
            for obj in self.config.objects
            for api in self.model_wants(obj).values()
        )

    # -- read maps -------------------------------------------------------------------------------------------
    def model_wants(self, sobject: str) -> dict[str, str]:
        """The model's fields this object's field map does not read already."""
        field_map = self.config.fields_for(sobject)
        return {n: api for n, api in self.config.scoring_fields.items() if api != n or n not in field_map}

    def read_map(self, sobject: str) -> Mapping[str, str]:
        """The object's field map with the model's fields it has (the others are scored as empty)."""
        cached = self._read_maps.get(sobject)
        if cached is not None:
            return cached
        wants = self.model_wants(sobject)
        if not wants:
            self._read_maps[sobject] = self.config.fields_for(sobject)
            return self._read_maps[sobject]
        names = self._field_names().get(sobject, set())
        # a related record's field (Account.Industry) is not in this object's describe: read as given
        reads = {n: api for n, api in wants.items() if "." in api or api.lower() in names}
        absent = sorted(api for n, api in wants.items() if n not in reads)
        if absent:  # `leadsync check` reports them as sentences; every run repeating it would be noise
            log.info(
                "The model reads %s, which the Salesforce %s object lacks: scored as empty (see `leadsync check`).",
                ", ".join(absent),
                sobject,
            )
        self._read_maps[sobject] = {**self.config.fields_for(sobject), **reads}
        return self._read_maps[sobject]

    def retry_stale(self, run: Callable[[], T]) -> T:
        """``run()``; if it fails with ``INVALID_FIELD`` while the field names came from the cache, describe
        again and run it once more (the query is built anew from the fresh names)."""
        try:
            return run()
        except FatalApiError as exc:
            if not self._from_cache or "INVALID_FIELD" not in str(exc):
                raise
            log.info("Salesforce answered INVALID_FIELD to fields cached from its describe; describing again")
            self.describe()
            return run()
