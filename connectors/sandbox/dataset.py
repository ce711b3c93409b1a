"""CRM-neutral sample data that each CRM module of the sandbox loads into its own shapes.

``generate(...)`` (seeded, deterministic; ``seed``) and ``from_csv(...)`` (a CSV export through a mapping;
``importer.py``) build a ``Dataset`` (``samples.py``, where the shapes live); ``HubSpotApi.load``,
``SalesforceApi.load`` and ``PipedriveApi.load`` turn it into contacts / leads / persons, engagements /
tasks / activities, owners / users and deals.

Imports go one way: ``samples`` <- ``seed`` <- ``importer`` <- this module; none of them imports this one.
"""

from __future__ import annotations

from connectors.sandbox.importer import from_csv
from connectors.sandbox.samples import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson
from connectors.sandbox.seed import generate

__all__ = ["Dataset", "SampleActivity", "SampleOutcome", "SampleOwner", "SamplePerson", "from_csv", "generate"]
