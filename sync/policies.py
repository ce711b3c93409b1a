"""Policies: what leadsync may write, decided from a score and what the CRM holds now.  Pure: no I/O.

Three policies, all configured in the model file's ``policies:`` and ``fields:`` blocks:

- **Write-back fields** (``fields:``): score, fit, engagement, grade, priority tier, SLA due-by, one-line
  reason, model version, last scored at, label, matrix cell and segments (for a model with segments); each
  with a CRM field name per CRM and a write mode (``always``, ``set_if_empty``, ``never_lower``, ``never``).
- **Lifecycle** (``policies.lifecycle``): engine stages (lead / mql / sql) mapped to each CRM's values,
  forward-only by default, and protected stages (opportunity, customer, a converted lead) never touched.
- **Owners** (``policies.owners``): assign only when the contact has no owner (or one from the
  "unassigned" pool) and only from a given stage on; weighted round-robin, territory rules or
  account-based; sticky (a human's later change is respected).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from connectors.records import Contact, FieldSpec, FieldValue, Owner
from connectors.registry import CRM_NAMES
from scoring import ScoreResult, explain
from scoring.model_fields import FieldUse
from scoring.numbers import parse_datetime

CRM = Literal["hubspot", "salesforce", "pipedrive"]
WriteMode = Literal["always", "set_if_empty", "never_lower", "never"]
STAGES = ("lead", "mql", "sql")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- write-back fields -----------------------------------------------------------------------------------
class FieldRule(_Strict):
    name: str | dict[str, str] | None = Field(
        None, description="CRM field name, or one per CRM ({hubspot: ..., salesforce: ..., pipedrive: ...})"
    )
    mode: WriteMode = "always"
    max_length: int | None = Field(None, ge=10, description="for text fields: longest value written")


# our key -> (label, type, default HubSpot name); Salesforce adds __c, Pipedrive uses the label
FIELD_DEFS: dict[str, tuple[str, str, str]] = {
    "score": ("Leadsync score", "number", "leadsync_score"),
    "fit": ("Leadsync fit", "number", "leadsync_fit"),
    "engagement": ("Leadsync engagement", "number", "leadsync_engagement"),
    "grade": ("Leadsync grade", "string", "leadsync_grade"),
    "tier": ("Leadsync priority tier", "string", "leadsync_priority_tier"),
    "sla_due_at": ("Leadsync SLA due by", "datetime", "leadsync_sla_due_at"),
    "reason": ("Leadsync score reason", "string", "leadsync_score_reason"),
    "model_version": ("Leadsync model version", "string", "leadsync_model_version"),
    "scored_at": ("Leadsync last scored at", "datetime", "leadsync_scored_at"),
    "label": ("Leadsync label", "string", "leadsync_label"),
    "matrix": ("Leadsync matrix cell", "string", "leadsync_matrix_cell"),
    "segments": ("Leadsync segments", "multiselect", "leadsync_segments"),  # only for a model with segments
}
# a multi-select value is one string: HubSpot checkboxes and Salesforce multi-select picklists take "a;b",
# the Pipedrive adapter takes option labels joined by "," (docs/crm-api.md, "Multi-select fields")
MULTI_SEPARATOR = {"hubspot": ";", "salesforce": ";", "pipedrive": ","}


ReadName = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class CRMNames(_Strict):
    """A model field's name in each CRM; a CRM left out reads the model's own name; ``false``: that CRM has no
    such field (HubSpot's rollups on Salesforce): not read, not looked up by ``check``, its rules score 0."""

    hubspot: ReadName | Literal[False] | None = None
    salesforce: ReadName | Literal[False] | None = None
    pipedrive: ReadName | Literal[False] | None = None


class FieldsConfig(_Strict):
    read: dict[ReadName, CRMNames] = Field(
        default_factory=dict,
        description="model field name -> the CRM's name for it: one name for every CRM, or one per CRM "
        "({hubspot: ..., salesforce: ..., pipedrive: ...}); read besides the fields the model names",
    )
    score: FieldRule = FieldRule()
    fit: FieldRule = FieldRule()
    engagement: FieldRule = FieldRule()
    grade: FieldRule = FieldRule()
    tier: FieldRule = FieldRule()
    sla_due_at: FieldRule = FieldRule()
    reason: FieldRule = FieldRule(max_length=255)
    model_version: FieldRule = FieldRule()
    scored_at: FieldRule = FieldRule()
    label: FieldRule = FieldRule()
    matrix: FieldRule = FieldRule()
    segments: FieldRule = FieldRule()

    @field_validator("read", mode="before")
    @classmethod
    def _one_name_for_every_crm(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: dict.fromkeys(CRM_NAMES, v) if isinstance(v, str) else v
                for k, v in value.items()}  # fmt: skip


def default_field_name(key: str, crm: str) -> str:
    label, _type, hubspot_name = FIELD_DEFS[key]
    if crm == "salesforce":
        return (
            "".join(part.capitalize() for part in hubspot_name.split("_")).replace("Leadsync", "Leadsync_", 1) + "__c"
        )
    if crm == "pipedrive":
        return label
    return hubspot_name


def field_name(config: FieldsConfig, key: str, crm: str) -> str:
    rule: FieldRule = getattr(config, key)
    if isinstance(rule.name, str):
        return rule.name
    if isinstance(rule.name, dict) and crm in rule.name:
        return rule.name[crm]
    return default_field_name(key, crm)


def read_names(config: FieldsConfig, crm: str, names: Iterable[str]) -> dict[str, str]:
    """Model field name -> the CRM's name for it, for ``names`` and every field ``fields.read`` lists."""
    out: dict[str, str] = {}
    for name in [*names, *config.read]:
        given = config.read.get(name)
        crm_name = getattr(given, crm, None) if given is not None else None
        if crm_name is not False:
            out[name] = crm_name or name
    return out


def policy_field_uses(policies: Policies, crm: str) -> list[FieldUse]:
    """The contact fields the policies read: the lifecycle stage field, territory tests, account matching."""
    uses: list[FieldUse] = []
    life = policies.lifecycle
    if life.enabled:
        stage = life.field.get(crm, "lifecycle_stage")
        uses.append(FieldUse(stage, "lifecycle policy", ("policies", "lifecycle", "field", crm)))
    owners = policies.owners
    if owners.enabled and owners.strategy == "territory":
        for i, rule in enumerate(owners.territories):
            path = ("policies", "owners", "territories", i)
            for key in ("country", "region", "industry", "employees_min", "employees_max"):
                if getattr(rule, key) is not None:
                    name = "employees" if key.startswith("employees") else key
                    uses.append(FieldUse(name, f"territory {rule.team}", (*path, key)))
    if owners.enabled and owners.strategy == "account":
        for name in ("email", "company"):  # what company_key() reads
            uses.append(FieldUse(name, "account-based owners", ("policies", "owners", "strategy")))
    return uses


def writeback_specs(
    config: FieldsConfig, crm: str, policies: Policies | None = None, segments: Sequence[str] = ()
) -> list[FieldSpec]:
    """The CRM fields leadsync writes, for ``check --create-fields``; ``segments``: the model's segment names
    (the options of the segments field, which exists only for a model that has segments)."""
    specs = []
    for key, (label, type_, _name) in FIELD_DEFS.items():
        if getattr(config, key).mode == "never" or (key == "segments" and not segments):
            continue
        options = tuple(segments) if key == "segments" else ()
        specs.append(
            FieldSpec(
                name=field_name(config, key, crm),
                label=label,
                type=type_,
                description=f"leadsync {key}",
                options=options,
            )
        )
    life = policies.lifecycle if policies is not None else None
    if crm == "pipedrive" and life is not None and life.enabled:
        # Pipedrive has no lifecycle field of its own: leadsync keeps the stage in a person field
        specs.append(
            FieldSpec(
                name=PIPEDRIVE_STAGE_FIELD,
                label=PIPEDRIVE_STAGE_FIELD,
                type="enumeration",
                description="leadsync lifecycle stage",
                options=tuple(life.order.get("pipedrive", DEFAULT_STAGE_ORDER["pipedrive"])),
            )
        )
    return specs


PIPEDRIVE_STAGE_FIELD = "Lifecycle stage"  # the Pipedrive adapter's default field for the canonical lifecycle_stage


# -- lifecycle -------------------------------------------------------------------------------------------
DEFAULT_STAGE_VALUES: dict[str, dict[str, str]] = {
    "hubspot": {"lead": "lead", "mql": "marketingqualifiedlead", "sql": "salesqualifiedlead"},
    "salesforce": {"lead": "Open - Not Contacted", "mql": "Working - Contacted", "sql": "Working - Contacted"},
    "pipedrive": {"lead": "Lead", "mql": "MQL", "sql": "SQL"},
}
DEFAULT_STAGE_ORDER: dict[str, list[str]] = {
    "hubspot": [
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
    ],
    "salesforce": ["Open - Not Contacted", "Working - Contacted", "Qualified", "Closed - Converted"],
    "pipedrive": ["Lead", "MQL", "SQL", "Opportunity", "Customer"],
}
DEFAULT_PROTECTED: dict[str, list[str]] = {
    "hubspot": ["opportunity", "customer", "evangelist"],
    "salesforce": ["Closed - Converted", "Closed - Not Converted"],
    "pipedrive": ["Opportunity", "Customer"],
}


class LifecyclePolicy(_Strict):
    enabled: bool = True
    forward_only: bool = True
    field: dict[str, str] = Field(
        default_factory=lambda: {
            "hubspot": "lifecycle_stage",
            "salesforce": "lead_status",
            "pipedrive": "lifecycle_stage",
        },
        description="which contact field holds the stage, per CRM (canonical names)",
    )
    stages: dict[str, dict[str, str]] = Field(default_factory=lambda: dict(DEFAULT_STAGE_VALUES))
    order: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_STAGE_ORDER))
    protected: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_PROTECTED))
    write_scores_when_protected: bool = False

    @model_validator(mode="after")
    def _check(self) -> LifecyclePolicy:
        for crm, mapping in self.stages.items():
            unknown = set(mapping) - set(STAGES)
            if unknown:
                raise ValueError(f"stages.{crm}: unknown engine stage(s) {sorted(unknown)}; use lead, mql, sql")
        return self


# -- owners ----------------------------------------------------------------------------------------------
class TerritoryRule(_Strict):
    team: str
    country: list[str] | None = None
    region: list[str] | None = None
    industry: list[str] | None = None
    employees_min: float | None = None
    employees_max: float | None = None


class OwnerPolicy(_Strict):
    enabled: bool = False
    strategy: Literal["round_robin", "territory", "account"] = "round_robin"
    assign_from_stage: Literal["lead", "mql", "sql"] = "mql"
    unassigned: list[str] = Field(default_factory=list, description="owner ids that count as 'no owner' (queues)")
    pool: list[str] = Field(default_factory=list, description="owner ids to assign to; empty = every active user")
    weights: dict[str, float] = Field(default_factory=dict, description="owner id -> weight (default 1)")
    teams: dict[str, list[str]] = Field(default_factory=dict, description="team name -> owner ids")
    territories: list[TerritoryRule] = Field(default_factory=list)
    fallback: Literal["round_robin", "none"] = "round_robin"


class Policies(_Strict):
    lifecycle: LifecyclePolicy = LifecyclePolicy()
    owners: OwnerPolicy = OwnerPolicy()


# -- decisions -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Change:
    contact_id: str
    field: str  # CRM field name, or a canonical name the adapter maps (owner_id, lifecycle_stage, lead_status)
    old: FieldValue
    new: FieldValue
    kind: str  # score | stage | owner | info | derived (written only along with another change)


@dataclass
class RoundRobin:
    """Smooth weighted round-robin: the owner with the fewest assignments per unit of weight goes next."""

    counts: dict[str, int] = field(default_factory=dict)

    def pick(self, candidates: Sequence[str], weights: Mapping[str, float]) -> str | None:
        if not candidates:
            return None
        best = min(sorted(candidates), key=lambda oid: (self.counts.get(oid, 0) + 1) / max(weights.get(oid, 1.0), 1e-9))
        self.counts[best] = self.counts.get(best, 0) + 1
        return best


def same_value(a: FieldValue, b: FieldValue) -> bool:
    """CRM values compare loosely: 42 == "42" == "42.0"; None == ""."""
    if a in (None, "") and b in (None, ""):
        return True
    if a is None or b is None:
        return False
    if str(a).strip() == str(b).strip():
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        pass
    if isinstance(a, str) and isinstance(b, str) and ":" in a and ":" in b:
        # CRMs echo datetimes in their own format: 2026-01-02T03:04:05.000+0000 == 2026-01-02T03:04:05Z
        da, db = parse_datetime(a), parse_datetime(b)
        return da is not None and da == db
    return False


def same_options(a: FieldValue, b: FieldValue) -> bool:
    """Multi-select values compare as sets: a CRM may echo the options in its own order."""

    def options(value: FieldValue) -> set[str]:
        return {part.strip() for part in str(value or "").replace(",", ";").split(";") if part.strip()}

    return options(a) == options(b)


def _as_float(value: FieldValue) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def format_dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Planner:
    """Turns score results into the changes to write for one CRM, honouring every policy."""

    crm: str
    fields: FieldsConfig
    policies: Policies
    owners: Sequence[Owner] = ()
    round_robin: RoundRobin = field(default_factory=RoundRobin)
    account_owners: dict[str, str] = field(default_factory=dict)  # company key -> owner id (learned)
    segments: tuple[str, ...] = ()  # the model's segment names: without any, no segments field is read or written

    def __post_init__(self) -> None:
        self._names = {key: field_name(self.fields, key, self.crm) for key in FIELD_DEFS}
        life = self.policies.lifecycle
        self._stage_field = life.field.get(self.crm, "lifecycle_stage")
        self._stage_values = life.stages.get(self.crm, {})
        order = life.order.get(self.crm, [])
        self._stage_rank = {value.lower(): i for i, value in enumerate(order)}
        self._protected = {value.lower() for value in life.protected.get(self.crm, [])}
        pol = self.policies.owners
        active = [o.id for o in self.owners if o.active]
        self._unassigned = {str(x) for x in pol.unassigned}
        pool = [oid for oid in (pol.pool or active) if oid in set(active)] if active else list(pol.pool)
        # a routing user or queue that counts as "no owner" must never be picked as an owner
        self._pool = [oid for oid in pool if oid not in self._unassigned]

    @property
    def read_fields(self) -> list[str]:
        """CRM fields the adapter must read so the planner can compare before it writes."""
        return [self._names[key] for key in FIELD_DEFS if self._writes(key)]

    def _writes(self, key: str) -> bool:
        return getattr(self.fields, key).mode != "never" and (key != "segments" or bool(self.segments))

    def is_protected(self, contact: Contact) -> bool:
        if contact.protected:
            return True
        stage = contact.get(self._stage_field)
        return isinstance(stage, str) and stage.lower() in self._protected

    def learn(self, contact: Contact) -> None:
        """Remember which owner already works a company (for account-based assignment)."""
        pol = self.policies.owners
        if not (pol.enabled and pol.strategy == "account"):
            return  # nothing reads the map: kept, it would grow with every company a backfill meets
        owner = contact.get("owner_id")
        key = company_key(contact)
        if key and owner not in (None, "") and str(owner) not in self._unassigned:
            if self._pool and str(owner) not in self._pool:
                return  # an inactive user (or one outside the pool) would leave the lead with nobody
            self.account_owners.setdefault(key, str(owner))

    def plan(self, contact: Contact, result: ScoreResult, *, sticky_owner: str | None = None) -> list[Change]:
        """Changes for one contact.  ``sticky_owner``: the owner leadsync assigned earlier, if any."""
        if contact.protected:
            return []
        protected = self.is_protected(contact)
        changes: list[Change] = []
        if not protected or self.policies.lifecycle.write_scores_when_protected:
            changes.extend(self._score_changes(contact, result))
        if not protected:
            changes.extend(self._stage_change(contact, result))
            changes.extend(self._owner_change(contact, result, sticky_owner))
        if not any(c.kind != "derived" for c in changes):
            # the reason text ("2d ago") and the timestamp only travel with a real change, so ageing alone
            # never causes a write
            return []
        if self.fields.scored_at.mode != "never":
            scored_at = self._names["scored_at"]
            changes.append(
                Change(contact.id, scored_at, contact.get(scored_at), format_dt(result.scored_at), "derived")
            )
        return changes

    def _score_changes(self, contact: Contact, result: ScoreResult) -> list[Change]:
        reason_rule = self.fields.reason
        desired: dict[str, FieldValue] = {
            "score": result.total,
            "fit": result.fit,
            "engagement": result.engagement,
            "grade": result.grade,
            "tier": result.tier or "",
            "sla_due_at": format_dt(result.sla_due_at) or "",
            "reason": explain(result, max_length=reason_rule.max_length or 255),
            "model_version": result.model_version,
            "label": result.label or "",
            "matrix": result.matrix,
        }
        if self.segments:
            desired["segments"] = MULTI_SEPARATOR.get(self.crm, ";").join(result.segments)
        out = []
        for key, new in desired.items():
            rule: FieldRule = getattr(self.fields, key)
            name = self._names[key]
            old = contact.get(name)
            if rule.mode == "never" or same_value(old, new) or (key == "segments" and same_options(old, new)):
                continue
            if rule.mode == "set_if_empty" and old not in (None, ""):
                continue
            if rule.mode == "never_lower":
                old_n, new_n = _as_float(old), _as_float(new)
                if old_n is not None and new_n is not None and new_n < old_n:
                    continue
            kind = "score" if key in ("score", "fit", "engagement") else "derived" if key == "reason" else "info"
            out.append(Change(contact.id, name, old, new, kind))
        return out

    def _stage_change(self, contact: Contact, result: ScoreResult) -> list[Change]:
        life = self.policies.lifecycle
        if not life.enabled:
            return []
        target = self._stage_values.get(result.stage)
        if not target:
            return []
        current = contact.get(self._stage_field)
        if same_value(current, target):
            return []
        if life.forward_only and isinstance(current, str) and current:
            cur_rank = self._stage_rank.get(current.lower())
            new_rank = self._stage_rank.get(target.lower())
            # an unknown current value (a custom stage we were not told about) is left alone
            if cur_rank is None or new_rank is None or new_rank <= cur_rank:
                return []
        return [Change(contact.id, self._stage_field, current, target, "stage")]

    def _owner_change(self, contact: Contact, result: ScoreResult, sticky_owner: str | None) -> list[Change]:
        pol = self.policies.owners
        if not pol.enabled or STAGES.index(result.stage) < STAGES.index(pol.assign_from_stage):
            return []
        current = contact.get("owner_id")
        current_s = "" if current in (None, "") else str(current)
        if current_s and current_s not in self._unassigned:
            return []  # owned by someone: a human's (or our earlier, sticky) choice stands
        if sticky_owner:
            # we assigned before and the CRM now shows no owner: a human cleared it on purpose
            return []
        owner = self._choose_owner(contact)
        if owner is None:
            return []
        return [Change(contact.id, "owner_id", current, owner, "owner")]

    def _choose_owner(self, contact: Contact) -> str | None:
        pol = self.policies.owners
        if pol.strategy == "account":
            key = company_key(contact)
            if key and key in self.account_owners:
                return self.account_owners[key]
        elif pol.strategy == "territory":
            team = territory_team(contact, pol.territories)
            if team is not None:
                members = [oid for oid in pol.teams.get(team, []) if not self._pool or oid in self._pool]
                if members:
                    return self.round_robin.pick(members, pol.weights)
        if pol.strategy != "round_robin" and pol.fallback == "none":
            return None
        chosen = self.round_robin.pick(self._pool, pol.weights)
        if chosen and pol.strategy == "account":
            key = company_key(contact)
            if key:
                self.account_owners[key] = chosen
        return chosen


FREE_MAIL = frozenset({"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "gmx.de"})


def company_key(contact: Contact) -> str | None:
    """The company a contact belongs to: its email domain (unless free mail), else the company name."""
    email = contact.get("email")
    if isinstance(email, str) and "@" in email:
        domain = email.rsplit("@", 1)[1].strip().lower()
        if domain and domain not in FREE_MAIL:
            return domain
    company = contact.get("company")
    if isinstance(company, str) and company.strip():
        return company.strip().lower()
    return None


def territory_team(contact: Contact, rules: Sequence[TerritoryRule]) -> str | None:
    from scoring.numbers import parse_range

    for rule in rules:
        if rule.country and str(contact.get("country") or "").strip().lower() not in {c.lower() for c in rule.country}:
            continue
        if rule.region and str(contact.get("region") or "").strip().lower() not in {c.lower() for c in rule.region}:
            continue
        if rule.industry and str(contact.get("industry") or "").strip().lower() not in {
            c.lower() for c in rule.industry
        }:
            continue
        if rule.employees_min is not None or rule.employees_max is not None:
            rng = parse_range(contact.get("employees"))
            if rng is None:
                continue
            low, high = rng
            if rule.employees_min is not None and high < rule.employees_min:
                continue
            if rule.employees_max is not None and low > rule.employees_max:
                continue
        return rule.team
    return None


def parse_policies(raw: Mapping[str, Any] | None) -> Policies:
    return Policies.model_validate(raw or {})


def parse_fields(raw: Mapping[str, Any] | None) -> FieldsConfig:
    return FieldsConfig.model_validate(raw or {})
