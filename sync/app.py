"""The composition root: settings, model, policies, state store and adapter, built once and wired together.

Only this module (and the CLI / daemon above it) knows how the parts fit; the pipeline, the policies and
the engine receive what they need as arguments.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from connectors.base import CRMAdapter, DescribesBehaviour, FieldsCache
from connectors.errors import AuthError, ConnectorError
from connectors.http import redact
from connectors.records import Activity
from scoring import Model, ScoreResult, explain, explain_segments, load_model, score
from scoring.result import Evidence
from sync import nurture
from sync.logs import setup_logging
from sync.pipeline import Pipeline, RunSummary
from sync.policies import FieldsConfig, Planner, Policies, writeback_specs
from sync.progress import RichProgress
from sync.reach import crm_urls, unreachable
from sync.settings import Settings, load_settings, mask_url, missing_credentials
from sync.state import StateError, StateStore, open_store

if TYPE_CHECKING:
    from sync.leads import LeadWatch


class ConfigError(Exception):
    """The model file's ``policies:``/``fields:`` blocks or the settings do not make sense together."""

    exit_code = 2


class StateUnavailable(ConfigError):
    """The state database cannot be opened: one sentence naming ``LEADSYNC_STATE_URL`` (exit 2)."""


class NotFound(Exception):
    """What the user asked for (a contact id) is not in the CRM (exit 1)."""

    exit_code = 1


def state_unavailable(url: str, exc: StateError) -> StateUnavailable:
    """The sentence for a state database that will not open, without the driver's multi-line advice."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    detail = next((line.strip() for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
    if not isinstance(exc.__cause__, OSError) and "failed: " in detail:  # psycopg: "connection to ... failed: WHY"
        detail = detail.rsplit("failed: ", 1)[1]
    detail = redact(detail).rstrip(".")
    return StateUnavailable(
        f"Cannot open the state database {mask_url(url)} ({detail}): check LEADSYNC_STATE_URL "
        "and that the database is running and reachable."
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_blocks(model: Model, source: str) -> tuple[Policies, FieldsConfig]:
    """Validate the model file's ``policies:`` and ``fields:`` blocks, with file:line errors."""
    problems: list[str] = []
    policies = Policies()
    fields = FieldsConfig()
    raw_policies = getattr(model, "policies", None) or {}
    raw_fields = getattr(model, "fields", None) or {}
    try:
        policies = Policies.model_validate(raw_policies)
    except ValidationError as exc:
        problems.extend(_format(exc, source, "policies"))
    try:
        fields = FieldsConfig.model_validate(raw_fields)
    except ValidationError as exc:
        problems.extend(_format(exc, source, "fields"))
    if problems:
        raise ConfigError("\n".join(problems))
    return policies, fields


def _format(exc: ValidationError, source: str, prefix: str) -> list[str]:
    lines = _line_lookup(source)
    out = []
    for err in exc.errors():
        loc = (prefix, *err.get("loc", ()))
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
        line = lines(loc)
        where = f"{source}:{line}" if line else source
        msg = "unknown key" if err.get("type") == "extra_forbidden" else str(err.get("msg"))
        out.append(f"{where} {path}: {msg}")
    return out


def _line_lookup(source: str) -> Callable[[tuple[str | int, ...]], int | None]:
    """The line of a path (``("policies", "owners", "strategy")``) in the model file, or of its nearest parent."""
    try:
        from scoring.yamlfile import load_yaml_with_lines

        text = Path(source).read_text(encoding="utf-8")
        _data, line_map = load_yaml_with_lines(text, source)
    except Exception:
        return lambda loc: None
    return line_map.line


@dataclass
class App:
    settings: Settings
    clock: Callable[[], datetime] = _utcnow
    adapter_factory: Callable[[Settings, list[str]], CRMAdapter] | None = None
    # CRM fields to read besides the model's write-back fields (a revert reads every field its run wrote)
    extra_read_fields: list[str] = field(default_factory=list)
    # ``sleep`` / ``monotonic`` of the nurture tools' clients (the demo and tests pace them on the sandbox's clock)
    destination_options: dict[str, Any] = field(default_factory=dict)
    # adapter config overrides (the demo reads the CRM on the sandbox's clock, which its paced clients move)
    adapter_options: dict[str, Any] = field(default_factory=dict)
    _adapter: CRMAdapter | None = field(default=None, init=False)

    @classmethod
    def from_env(cls, env_file: str | Path | None = ".env", *, log_level: str | None = None, **overrides: Any) -> App:
        settings = load_settings(env_file, **overrides)
        setup_logging(log_level or settings.log_level, settings.log_file)
        return cls(settings)

    # -- parts -------------------------------------------------------------------------------------------
    @cached_property
    def model(self) -> Model:
        return load_model(self.settings.model_file)

    @cached_property
    def blocks(self) -> tuple[Policies, FieldsConfig]:
        return parse_blocks(self.model, str(self.settings.model_file))

    @property
    def policies(self) -> Policies:
        return self.blocks[0]

    @property
    def fields_config(self) -> FieldsConfig:
        return self.blocks[1]

    @cached_property
    def store(self) -> StateStore:
        try:
            return open_store(self.settings.state_url)
        except StateError as exc:
            raise state_unavailable(self.settings.state_url, exc) from None

    def describe_error(self, exc: ConnectorError) -> str:
        """A connector's error as the sentence a user sees (an unreachable CRM names its URL's setting)."""
        return unreachable(exc, self.settings) or redact(str(exc))

    def planner(self, owners: list[Any] | None = None) -> Planner:
        return Planner(
            self.settings.crm,
            self.fields_config,
            self.policies,
            owners=owners or [],
            segments=tuple(self.model.segments),
        )

    @property
    def adapter(self) -> CRMAdapter:
        if self._adapter is None:
            names = self.planner().read_fields
            names += [name for name in self.extra_read_fields if name not in names]
            names += [name for name in nurture.read_fields(self.settings) if name not in names]
            self._adapter = self._build_adapter(names)
        return self._adapter

    def history_adapter(self) -> CRMAdapter:
        """A separate adapter for calibration, reading the model's fields but none of leadsync's write-back
        fields: those are the model's own output, never a feature, and need not exist yet (a first calibration
        may run before ``check --create-fields``).  The caller closes it."""
        return self._build_adapter([])

    def _build_adapter(self, names: list[str]) -> CRMAdapter:
        missing = missing_credentials(self.settings)
        if missing:
            raise ConfigError("\n".join(missing))
        from sync.model_check import model_read_fields
        from sync.wiring import ReadFields, build_adapter

        model_fields = model_read_fields(self.model, self.fields_config, self.policies, self.settings.crm)
        read_fields = ReadFields(names, model_fields=model_fields)
        if self.adapter_factory is None:
            return build_adapter(self.settings, read_fields, fields_cache=self.fields_cache(), **self.adapter_options)
        return self.adapter_factory(self.settings, read_fields)

    def fields_cache(self) -> FieldsCache:
        """The CRM's field definitions kept in the state store between runs (for adapters that take it)."""
        from sync.wiring import StoreFieldsCache

        return StoreFieldsCache(lambda: self.store, self.settings.crm, self.clock)

    def close(self, *, keep_adapter: bool = False) -> None:
        """Close the state store and the adapter; ``keep_adapter`` leaves an adapter shared with others open."""
        if self._adapter is not None and not keep_adapter:
            self._adapter.close()
        if "store" in self.__dict__:
            self.store.close()

    # -- operations --------------------------------------------------------------------------------------
    def pipeline(
        self,
        *,
        stop: threading.Event | None = None,
        progress: bool = False,
        on_p1: Callable[..., None] | None = None,
        read_owners: bool = True,
        kind: type[Pipeline] = Pipeline,
    ) -> Pipeline:
        """``read_owners=False`` for a rescore, which must make no read call (it assigns from the configured pool);
        ``kind``: a Pipeline subclass (the fast lane's)."""
        calls_before = dict(self.adapter.usage().calls_by_endpoint)  # a run reports its own calls only
        owners = self.adapter.read_owners() if read_owners and self.policies.owners.enabled else []
        pipe = kind(
            crm=self.settings.crm,
            adapter=self.adapter,
            store=self.store,
            model=self.model,
            planner=self.planner(owners),
            clock=self.clock,
            batch_size=self.settings.batch_size,
            progress=RichProgress(self.settings.crm) if progress else None,
            stop=stop,
            plan_dir=self.settings.plan_dir,
            on_p1=on_p1,
            calls_baseline=calls_before,
            describe_error=self.describe_error,
        )
        # segments to e-mail tools, per page
        step = nurture.build_step(self.settings, self.store, self.clock, **self.destination_options)
        pipe.page_hooks = () if step is None else (step,)
        return pipe

    def run(
        self,
        kind: str,
        *,
        dry_run: bool = False,
        stop: threading.Event | None = None,
        progress: bool = False,
        on_p1: Callable[..., None] | None = None,
        **kwargs: Any,
    ) -> RunSummary:
        # load the model and policies first: a bad model file must fail before any API call
        _ = self.model, self.blocks
        pipe = self.pipeline(stop=stop, progress=progress, on_p1=on_p1, read_owners=kind != "rescore")
        if kind not in ("backfill", "sync", "rescore"):
            raise ValueError(f"unknown run kind {kind!r}")
        with self.watched(pipe, kind, dry_run=dry_run):
            if kind == "backfill":
                return pipe.backfill(dry_run=dry_run, **kwargs)
            if kind == "sync":
                return pipe.sync(dry_run=dry_run)
            return pipe.rescore(dry_run=dry_run, **kwargs)

    @contextmanager
    def watched(self, pipe: Pipeline, kind: str, *, dry_run: bool = False) -> Iterator[Pipeline]:
        """Owner notifications and SLA tracking on ``pipe`` for one run of ``kind`` (none in a dry run)."""
        watch = None if dry_run else self.lead_watch(kind)
        if watch is not None:
            pipe.watch = watch
        try:
            yield pipe
        finally:
            if watch is not None:
                watch.finish()

    def lead_watch(self, kind: str) -> LeadWatch:
        """Owner notifications and SLA tracking for one run (a rescore reads no CRM users: it makes no calls)."""
        from sync.leads import watch_for

        def owners() -> list[Any]:
            return [] if kind == "rescore" else list(self.adapter.read_owners())

        return watch_for(self.settings, self.store, self.model, kind, owners)

    def score_one(self, contact_id: str, *, now: datetime) -> dict[str, Any]:
        _ = self.model, self.blocks
        contacts = self.adapter.get_contacts([contact_id])
        if not contacts:
            crm = self.settings.crm
            raise NotFound(f"No contact with id {contact_id!r} in {crm}: check the id (the CRM's record id).")
        contact = contacts[0]
        activities = list(self.adapter.read_activities([contact.id]).get(contact.id, []))
        result = score(self.model, contact, activities, now)
        sticky = self.store.get_assignments(self.settings.crm, [contact.id]).get(contact.id)
        owners = self.adapter.read_owners() if self.policies.owners.enabled else []
        changes = self.planner(owners).plan(contact, result, sticky_owner=sticky.owner_id if sticky else None)
        return {
            "contact_id": contact.id,
            "result": result_dict(result, activities),
            "reason": explain(result, max_length=self.fields_config.reason.max_length or 255),
            "segments": [
                {"name": a.name, "matched": a.matched, "why": a.why}
                for a in explain_segments(self.model, contact, activities, result)
            ],
            "changes": [{"field": c.field, "old": c.old, "new": c.new, "kind": c.kind} for c in changes],
        }

    def check(self, *, create_fields: bool = False, model_file: str | Path | None = None) -> dict[str, Any]:
        """Settings, model, connection, rights and fields: each finding one sentence.  ``model_file``: check a
        proposed model's fields (calibration's, or one made from a CSV) instead of the configured model's."""
        lines: list[str] = []
        ok = True
        exit_code = 0
        state_url = mask_url(self.settings.state_url)
        lines.append(f"Settings: ok (CRM {self.settings.crm}, state {state_url}).")
        _ = self.model, self.blocks
        lines.append(f"Model {self.settings.model_file}: ok (version {self.model.version}).")
        try:
            lines.append(f"State database {state_url}: ok (schema version {self.store.schema_version()}).")
        except StateUnavailable as exc:
            ok, exit_code = False, 2
            lines.append(str(exc))
        try:
            adapter = self.adapter
            owners = adapter.read_owners()
            where = mask_url(crm_urls(self.settings)[0][1])
            lines.append(f"Connected to {self.settings.crm}: {len(owners)} users visible ({where}).")
            specs = writeback_specs(self.fields_config, self.settings.crm, self.policies, tuple(self.model.segments))
            result = adapter.check_fields(specs, create=create_fields)
            if result.present:
                lines.append(f"Fields present: {', '.join(result.present)}.")
            if result.created:
                lines.append(f"Fields created: {', '.join(result.created)}.")
            if result.missing:
                ok = False
                exit_code = max(exit_code, 1)
                hint = "" if create_fields else " Run `leadsync check --create-fields` to create them."
                lines.append(f"Fields missing: {', '.join(result.missing)}.{hint}")
            if result.instructions:
                lines.append(result.instructions)
            lines.extend(self._check_model_fields(adapter, model_file))
            if isinstance(adapter, DescribesBehaviour):  # which behaviour this account gives
                lines.extend(adapter.behaviour_sources())
            usage = adapter.usage()
            if usage.quota_left is not None:
                lines.append(f"API quota left: {usage.quota_left} of {usage.quota_limit}.")
        except AuthError as exc:
            ok, exit_code = False, 3
            lines.append(f"Authentication failed: {redact(str(exc))}")
        except ConnectorError as exc:
            ok, exit_code = False, max(exit_code, exc.exit_code if exc.exit_code in (2, 3) else 1)
            message = unreachable(exc, self.settings)
            lines.append(message or f"CRM error: {redact(str(exc))}")
        nurture_ok, nurture_lines = nurture.check_lines(self.settings)
        lines.extend(nurture_lines)
        if not nurture_ok:
            ok, exit_code = False, max(exit_code, 1)
        return {"ok": ok, "exit_code": exit_code, "lines": lines}

    def _check_model_fields(self, adapter: CRMAdapter, model_file: str | Path | None) -> list[str]:
        """One sentence per field the model reads that the CRM lacks (none: one line saying all are there)."""
        from sync.model_check import lifecycle_value_lines, missing_field_lines, model_field_uses, model_read_fields

        model, (policies, fields) = self.model, self.blocks
        source = str(self.settings.model_file)
        if model_file is not None:
            source = str(model_file)
            model = load_model(model_file)
            policies, fields = parse_blocks(model, source)
        crm = self.settings.crm
        uses = model_field_uses(model, policies, crm)
        names = model_read_fields(model, fields, policies, crm)
        schemas = adapter.contact_field_names()
        found = missing_field_lines(schemas, uses, names, source, _line_lookup(source), crm)
        lines = found or [f"Model fields: all {len(names)} fields {source} reads are in {crm}."]
        return lines + lifecycle_value_lines(schemas, policies, crm)


def evidence_dict(evidence: Evidence, activities: dict[str, Activity]) -> dict[str, Any]:
    """One piece of evidence as plain JSON: the activity (id, type, when, points) or the field and its value."""
    if evidence.activity_id is not None:
        activity = activities.get(evidence.activity_id)
        occurred = evidence.occurred_at or (activity.occurred_at if activity else None)
        return {
            "activity_id": evidence.activity_id,
            "type": activity.type if activity else None,
            "occurred_at": occurred.isoformat() if occurred else None,
            "decay": round(evidence.decay, 3),
            "points": round(evidence.points, 2),
        }
    value = evidence.value
    return {"field": evidence.field, "value": value if isinstance(value, str | int | float | bool) else _text(value)}


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def result_dict(result: ScoreResult, activities: list[Activity] | None = None) -> dict[str, Any]:
    """The score as JSON-ready data; ``activities`` (the contact's) give each piece of evidence its type."""
    by_id = {a.id: a for a in activities or ()}
    return {
        "contact_id": result.contact_id,
        "total": result.total,
        "fit": result.fit,
        "engagement": result.engagement,
        "grade": result.grade,
        "label": result.label,
        "matrix": result.matrix,
        "stage": result.stage,
        "tier": result.tier,
        "segments": list(result.segments),
        "sla_due_at": result.sla_due_at.isoformat() if result.sla_due_at else None,
        "model_version": result.model_version,
        "next_change_at": result.next_change_at.isoformat() if result.next_change_at else None,
        "reasons": [
            {
                "rule": r.rule,
                "label": r.label,
                "component": r.component,
                "points": round(r.points, 2),
                "evidence": [evidence_dict(e, by_id) for e in r.evidence],
            }
            for r in result.reasons
        ],
        "warnings": list(result.warnings),
    }
