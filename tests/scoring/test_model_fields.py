"""``scoring.model_fields``: the contact fields a model reads, with the rule and the file path of each read."""

from __future__ import annotations

from scoring import parse_model
from scoring.model_fields import FieldUse, contact_fields, field_uses

MODEL = """
name: fields
fit:
  rules:
    - id: dept
      label: IT department
      when:
        all:
          - {field: department, equals: IT}
          - not: {field: email_domain, in: [rival.com]}
      points: 10
engagement:
  rules:
    - {id: pricing, label: pricing, activity: page_view, where: {field: url, contains: /pricing}, points: 5}
properties:
  rules:
    - {id: views, label: views, when: {field: hs_analytics_num_page_views, gte: 10}, points: 5}
negative:
  rules:
    - {id: free, label: free mail, when: {free_mail: true}, points: -5}
    - {id: idle, label: idle, inactive_days: 90, points: -5}
tiers:
  - {tier: P3, activity: page_view, where: {field: page_title, contains: Pricing}, within: 7d, respond_within: 2d}
"""


def test_every_contact_field_read_with_its_rule_and_path() -> None:
    model = parse_model(MODEL, "fields.yaml")

    assert field_uses(model) == [
        FieldUse("department", "dept", ("fit", "rules", 0, "when", "all", 0, "field")),
        FieldUse("email", "dept", ("fit", "rules", 0, "when", "all", 1, "not", "field")),
        FieldUse("hs_analytics_num_page_views", "views", ("properties", "rules", 0, "when", "field")),
        FieldUse("email", "free", ("negative", "rules", 0, "when", "free_mail")),
        FieldUse("created_at", "idle", ("negative", "rules", 1, "inactive_days")),
    ]
    # activity attributes (where:) come with the activity, not from the contact
    assert contact_fields(model) == ("department", "email", "hs_analytics_num_page_views", "created_at")
