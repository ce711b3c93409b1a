"""Salesforce REST API emulation: OAuth, SOQL query/queryAll with query locators, sObject Collections,
Composite, describe, limits and the daily API allocation, over the sandbox's TLS server.

The API version in the path is free: any ``vXX.X``.  One module per section of Salesforce's API, each a
small object over a shared ``Context`` (sandbox config, store, clock, schemas, records):

- ``api.py``        ``SalesforceApi``: the route table, auth and allocation around every request, the
                    public methods tests call; ``GET /services/data/`` (versions, no auth).  Request URIs
                    over 16,384 bytes get 414, as Salesforce documents.
- ``auth.py``       ``POST /services/oauth2/token`` (password, client credentials, JWT bearer) and sessions.
- ``limits.py``     ``Sforce-Limit-Info``, ``GET .../limits`` and the rolling daily allocation.
- ``errors.py``     Salesforce's error bodies.
- ``objects.py``    field definitions and the standard objects; ``schema.py``: describe, custom fields,
                    value typing.
- ``query.py``      SOQL (parsed by ``soql.py``) and ``nextRecordsUrl`` paging.
- ``sobjects.py``   ``GET`` / ``PATCH .../sobjects/{type}/{id}`` and the update path every write shares.
- ``composite.py``  sObject Collections and ``POST .../composite``.
- ``loading.py``    a ``Dataset`` turned into records, and the helpers tests use (touch, merge, ...).
- ``ids.py``, ``records.py``, ``context.py``: ids, the ``sf_record`` table, the shared context.
"""

from __future__ import annotations

from connectors.sandbox.salesforce.api import SalesforceApi, create_api
from connectors.sandbox.salesforce.auth import JWT_GRANT, LOGIN_AUDIENCES, SANDBOX_CREDENTIALS, SalesforceOrg
from connectors.sandbox.salesforce.composite import COLLECTION_MAX, COMPOSITE_MAX_QUERIES, COMPOSITE_MAX_SUBREQUESTS
from connectors.sandbox.salesforce.ids import (
    KEY_PREFIXES,
    ORG_ID,
    PREFIX_TO_TYPE,
    QUEUE_ID,
    id18,
    looks_like_id,
    make_id,
)
from connectors.sandbox.salesforce.limits import API_WINDOW_S, DEFAULT_LIMITS
from connectors.sandbox.salesforce.loading import CAMPAIGN_KINDS, TASK_KINDS
from connectors.sandbox.salesforce.objects import (
    CAMPAIGN_TYPES,
    INDUSTRIES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    TASK_SUBTYPES,
    TASK_TYPES,
    FieldDef,
    ObjectSchema,
    build_schemas,
    standard_objects,
)
from connectors.sandbox.salesforce.query import QUERY_BATCH_MAX, QUERY_BATCH_MIN
from connectors.sandbox.salesforce.records import sf_datetime

__all__ = [
    "API_WINDOW_S",
    "CAMPAIGN_KINDS",
    "CAMPAIGN_TYPES",
    "COLLECTION_MAX",
    "COMPOSITE_MAX_QUERIES",
    "COMPOSITE_MAX_SUBREQUESTS",
    "DEFAULT_LIMITS",
    "INDUSTRIES",
    "JWT_GRANT",
    "KEY_PREFIXES",
    "LEAD_SOURCES",
    "LEAD_STATUSES",
    "LOGIN_AUDIENCES",
    "ORG_ID",
    "PREFIX_TO_TYPE",
    "QUERY_BATCH_MAX",
    "QUERY_BATCH_MIN",
    "QUEUE_ID",
    "SANDBOX_CREDENTIALS",
    "TASK_KINDS",
    "TASK_SUBTYPES",
    "TASK_TYPES",
    "FieldDef",
    "ObjectSchema",
    "SalesforceApi",
    "SalesforceOrg",
    "build_schemas",
    "create_api",
    "id18",
    "looks_like_id",
    "make_id",
    "sf_datetime",
    "standard_objects",
]
