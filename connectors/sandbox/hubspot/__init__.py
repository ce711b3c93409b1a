"""HubSpot CRM v3 emulation: contacts, engagements, deals, associations v4, properties, owners, OAuth, and the
behaviour APIs (forms and form submissions, marketing email events, web analytics events).

What is served (paths, shapes and status codes follow developers.hubspot.com and the JSON models of
``hubspot-api-client`` 12, which must deserialize every answer):

- ``GET /crm/v3/objects/{type}`` (``limit`` <= 100 else 400, ``after``, ``properties``, ``associations``,
  ``archived``), ``GET /crm/v3/objects/{type}/{id}`` (``idProperty``), ``POST /crm/v3/objects/{type}``,
  ``POST .../search``, ``POST .../batch/read`` and ``POST .../batch/update`` for ``contacts``, ``emails``,
  ``meetings``, ``calls``, ``notes`` and ``deals``.
- ``POST /crm/v4/associations/{from}/{to}/batch/read`` (<= 1,000 inputs).
- ``GET|POST /crm/v3/properties/{type}``, ``GET /crm/v3/properties/{type}/{name}``,
  ``GET|POST /crm/v3/properties/{type}/groups``.
- ``GET /crm/v3/owners``; ``POST /oauth/v1/token`` (refresh_token grant).
- ``GET /marketing/v3/forms`` and ``GET /form-integrations/v1/submissions/forms/{guid}`` (``forms``);
  ``GET /email/public/v1/events`` (``email_events``); ``GET /events/v3/events`` (``events``, Enterprise
  portals only: ``sandbox.config.limits["hubspot"]["portal_tier"]`` or ``HubSpotApi.portal_tier``).

Limits and errors: burst 100 requests / 10 s per private app (110 for OAuth apps), 250,000 a day for private
apps (OAuth calls carry no daily limit, so no ``-Daily`` headers), search 5 requests / s, each overridable
in ``sandbox.config.limits["hubspot"]`` (``burst_per_10s``, ``oauth_burst_per_10s``, ``daily``,
``search_per_second``).  A breach answers 429 ``{"status": "error", "errorType": "RATE_LIMIT",
"category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING" | "DAILY" | "SECONDLY", ...}``.
Search pages past 10,000 results answer 400; batch update answers 207 with ``errors[]`` for per-record
failures (injected through ``sandbox.faults.record_fails``, unknown ids, ``lifecyclestage`` moved
backwards); a duplicate property answers 409.

Modelling choices (assumptions where HubSpot documents nothing, written here once):

- Search orders ties of the sort property in an arbitrary but stable order (a hash of the id), because
  HubSpot documents no tie order; a client that needs one must tie-break itself.
- Associating an engagement with a contact updates the contact's ``notes_last_updated`` (and, for sales
  activities, ``hs_last_sales_activity_timestamp``) and therefore its ``lastmodifieddate``, as HubSpot's
  activity rollups do: that is what makes "contacts with new activities" visible through one contacts
  search on ``lastmodifieddate``.
- Search requests count against the daily limit and their own 5/s window, not the 10 s burst window, and
  carry no burst headers; bodies over 3,000 characters or with more than 5 filterGroups / 6 filters per
  group / 18 filters are a 400; ``IN``/``NOT_IN`` take any number of values.
- A ``lifecyclestage`` moved backwards is a per-record ``VALIDATION_ERROR`` whose message says
  "backwards" (HubSpot documents the rule, not the error text).
- Contacts without associations of the asked type come back in ``errors[]`` of a 207
  (``crm.associations.NO_ASSOCIATIONS_FOUND``), as associations v4 does.
- A batch update that changes no value leaves ``lastmodifieddate`` alone (HubSpot writes no new property
  version for an unchanged value).
- Merged contacts: the old id keeps resolving (GET, batch read, batch update) to the surviving record,
  which lists the old ids in ``hs_merged_object_ids``; the old id is not listed with ``archived=true``.
  An archived contact answers a batch update with ``OBJECT_NOT_FOUND`` until it is restored.
- Search index lag (``sandbox.config.limits["hubspot"]["search_index_delay_seconds"]``, default 0, or
  ``api.index_delay_seconds`` between changes): search sees a contact only once the delay in force when it
  last changed has passed (its older version is not served meanwhile); the delay varies per change, so a
  later change can be indexed before an earlier one, as on a real portal.  HubSpot publishes no bound.
- Dataset activities go where HubSpot keeps them (``mapping``): form_submission, demo_request,
  webinar_registration and content_download -> submissions of the form they name ("Request a demo", ...);
  email_open, email_click, bounce and unsubscribe -> marketing email events (OPEN, CLICK, BOUNCE,
  STATUSCHANGE) to the contact's email; page_view -> ``e_visited_page`` web events on the contact;
  email_sent/email_reply -> emails, meeting -> meetings, call -> calls, anything else -> plain notes.  Each
  also moves the contact rollups HubSpot keeps (``num_conversion_events``, ``recent_conversion_date``,
  ``hs_analytics_num_page_views``, ``hs_email_open``, ...) and so its ``lastmodifieddate``.

The parts, one per API section, each given the same ``Context`` (sandbox store, clock, config) and wired in
``api.HubSpotApi``: ``auth`` (tokens, OAuth, scopes), ``limits`` (rate windows, 429s, usage headers),
``schema`` (properties and groups), ``objects`` (list/get/create), ``search``, ``batch``,
``associations`` (v4 batch read), ``owners``, ``forms``, ``email_events``, ``events`` (web analytics) and
``loading`` (datasets and test helpers); ``records`` holds
the stored objects' tables and rendering, ``mapping`` how dataset people and activities become properties.
"""

from connectors.sandbox.hubspot.api import HubSpotApi, create_api
from connectors.sandbox.hubspot.auth import ALL_SCOPES, SANDBOX_CREDENTIALS
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import (
    ASSOC_BATCH_LIMIT,
    ASSOC_PAGE,
    ASSOCIATION_TYPE_IDS,
    BATCH_LIMIT,
    DEFAULT_LIMITS,
    ENGAGEMENT_TYPES,
    LIFECYCLE_STAGES,
    LIST_LIMIT,
    OBJECT_TYPES,
    SEARCH_LIMIT,
    SEARCH_MAX_BODY,
    SEARCH_MAX_RESULTS,
    iso,
    parse_ms,
    to_ms,
)

__all__ = [
    "ALL_SCOPES",
    "ASSOCIATION_TYPE_IDS",
    "ASSOC_BATCH_LIMIT",
    "ASSOC_PAGE",
    "BATCH_LIMIT",
    "DEFAULT_LIMITS",
    "ENGAGEMENT_TYPES",
    "LIFECYCLE_STAGES",
    "LIST_LIMIT",
    "OBJECT_TYPES",
    "SANDBOX_CREDENTIALS",
    "SEARCH_LIMIT",
    "SEARCH_MAX_BODY",
    "SEARCH_MAX_RESULTS",
    "HubSpotApi",
    "HubSpotError",
    "create_api",
    "iso",
    "parse_ms",
    "to_ms",
]
