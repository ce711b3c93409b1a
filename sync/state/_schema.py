"""The state schema as an ordered list of migrations, written once for both SQLite and PostgreSQL.

A migration's statements use ``$ts``, ``$json``, ``$blob``, ``$bool``, ``$real``, ``$bigint`` and ``$serial``
for the few types the two databases spell differently; everything else is the same SQL.  Migrations are
only ever appended: never edit one that has shipped, add the next version instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]

    def render(self, types: dict[str, str]) -> list[str]:
        return [Template(statement).substitute(types) for statement in self.statements]


SQLITE_TYPES = {
    "ts": "TEXT",  # ISO-8601 UTC with microseconds, fixed width so text order is time order
    "json": "TEXT",
    "blob": "BLOB",
    "bool": "INTEGER",
    "real": "REAL",
    "bigint": "INTEGER",
    "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",  # AUTOINCREMENT: ids of deleted runs are never reused
}

POSTGRES_TYPES = {
    "ts": "TIMESTAMPTZ",
    "json": "JSONB",
    "blob": "BYTEA",
    "bool": "BOOLEAN",
    "real": "DOUBLE PRECISION",
    "bigint": "BIGINT",
    "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}

# Created before any migration runs, so the version can be read; never changed by a migration.
SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at $ts NOT NULL
)"""

# The store also moves what version 1 kept in the cursor row named "inflight" (SQL cannot reshape that
# JSON the same way in both databases): see SqlStateStore._after_migration.
INFLIGHT_WRITES = Migration(
    2,
    "in-flight writes: one row per contact (they were a JSON document in the cursor named 'inflight')",
    (
        # changes: the JSON of {field: [old value, new value]}
        """
        CREATE TABLE inflight_writes (
            crm TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            run_id $bigint NOT NULL,
            changes TEXT NOT NULL,
            saved_at $ts NOT NULL,
            PRIMARY KEY (crm, contact_id)
        )""",
    ),
)

# blob: what an adapter keeps about its CRM's schema between runs (Pipedrive: person fields and their codes)
SCHEMA_CACHE = Migration(
    3,
    "schema cache: one JSON blob per CRM, so a run need not re-read the CRM's field definitions",
    (
        """
        CREATE TABLE schema_cache (
            crm TEXT PRIMARY KEY,
            blob TEXT NOT NULL,
            saved_at $ts NOT NULL
        )""",
    ),
)

# Webhook deliveries, stored before the 2xx answer; a row stays after its ack so a redelivery is still a duplicate.
WEBHOOK_EVENTS = Migration(
    4,
    "webhook events: a durable, de-duplicated intake queue per CRM",
    (
        # payload: the vendor's event as received (no credentials: the signature and auth headers are not kept)
        """
        CREATE TABLE webhook_events (
            id $serial,
            crm TEXT NOT NULL,
            event_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            occurred_at $ts NOT NULL,
            received_at $ts NOT NULL,
            payload $json NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_at $ts,
            acked_at $ts,
            UNIQUE (crm, event_id)
        )""",
        "CREATE INDEX webhook_events_pending ON webhook_events (crm, id) WHERE acked_at IS NULL",
    ),
)

# One row per stretch a lead is prioritized; at most one untouched row per contact (see sync.sla).
SLA_LEADS = Migration(
    5,
    "response SLAs: when each prioritized lead became P1/P2, its due time, first touch and escalation",
    (
        """
        CREATE TABLE sla_leads (
            id $serial,
            crm TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            tier TEXT NOT NULL,
            owner_id TEXT,
            prioritized_at $ts NOT NULL,
            due_at $ts,
            touched_at $ts,
            touch_activity_id TEXT,
            escalated_at $ts
        )""",
        "CREATE INDEX sla_leads_open ON sla_leads (crm, contact_id) WHERE touched_at IS NULL",
        "CREATE INDEX sla_leads_due ON sla_leads (crm, due_at) WHERE touched_at IS NULL AND escalated_at IS NULL",
        "CREATE INDEX sla_leads_since ON sla_leads (crm, prioritized_at)",
    ),
)

# The dashboard's pages: hot leads by score within a filter, SLA tiers by owner, who asked for a revert.
DASHBOARD = Migration(
    6,
    "dashboard: scoring inputs keep the owner; indexes for hot leads and the SLA board; who asked for a run",
    (
        "ALTER TABLE scoring_inputs ADD COLUMN owner_id TEXT",
        "CREATE INDEX scoring_inputs_by_total ON scoring_inputs (crm, total DESC, contact_id) WHERE total IS NOT NULL",
        "CREATE INDEX scoring_inputs_by_tier ON scoring_inputs (crm, tier, total DESC) WHERE tier IS NOT NULL",
        "CREATE INDEX scoring_inputs_tier_owner ON scoring_inputs (crm, tier, owner_id, scored_at) "
        "WHERE tier IS NOT NULL",
        "CREATE INDEX scoring_inputs_by_stage ON scoring_inputs (crm, stage, total DESC)",
        "CREATE INDEX scoring_inputs_by_owner ON scoring_inputs (crm, owner_id, total DESC)",
        """
        CREATE TABLE run_requests (
            run_id $bigint PRIMARY KEY,
            requested_by TEXT NOT NULL,
            origin TEXT NOT NULL,
            at $ts NOT NULL
        )""",
    ),
)

# What leadsync has put into each nurture destination (a tag, a static segment), and every move it sent.
# A member row exists only once its add was confirmed, so a crashed run leaves nothing half-recorded.
NURTURE_MEMBERS = Migration(
    7,
    "nurture: contacts leadsync put into each destination segment, and the log of moves (resume, revert)",
    (
        # target: "tag:<name>" or "segment:<id>"; remote_ref: the destination's ids needed to undo the add
        """
        CREATE TABLE nurture_members (
            crm TEXT NOT NULL,
            destination TEXT NOT NULL,
            segment TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            target TEXT NOT NULL,
            email TEXT NOT NULL,
            remote_ref TEXT NOT NULL DEFAULT '',
            run_id $bigint NOT NULL,
            added_at $ts NOT NULL,
            PRIMARY KEY (crm, destination, segment, contact_id)
        )""",
        # action: add or remove; status: done, failed, skipped (not a member and none may be created)
        """
        CREATE TABLE nurture_moves (
            id $serial,
            run_id $bigint NOT NULL,
            crm TEXT NOT NULL,
            destination TEXT NOT NULL,
            segment TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            target TEXT NOT NULL,
            email TEXT NOT NULL,
            action TEXT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            at $ts NOT NULL
        )""",
        "CREATE INDEX nurture_moves_by_run ON nurture_moves (run_id, contact_id)",
        "CREATE INDEX nurture_moves_planned ON nurture_moves (crm, id) WHERE status = 'planned'",
    ),
)

# The dashboard's segment filter and SLA board: each contact's segments (a column to read them back with its
# inputs, and one row per segment to list a segment's contacts by score from an index), open SLA leads by time.
SEGMENTS = Migration(
    8,
    "segments: scoring inputs keep the model's segments (a column and an index table); open SLA leads by time",
    (
        # segments: the JSON list of the segment names the last score put the contact in
        "ALTER TABLE scoring_inputs ADD COLUMN segments TEXT",
        # total: the contact's score, copied so a segment's contacts list in score order from the index alone
        """
        CREATE TABLE input_segments (
            crm TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            segment TEXT NOT NULL,
            total $real,
            PRIMARY KEY (crm, contact_id, segment)
        )""",
        "CREATE INDEX input_segments_by_total ON input_segments (crm, segment, total DESC, contact_id)",
        "CREATE INDEX sla_leads_waiting ON sla_leads (crm, prioritized_at) WHERE touched_at IS NULL",
    ),
)

# An event the worker gave up on (its contact is gone, its payload names none) is acked with the reason.
WEBHOOK_EVENT_REASONS = Migration(
    9,
    "webhook events: why an event was acked without being processed",
    ("ALTER TABLE webhook_events ADD COLUMN ack_reason TEXT",),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "runs, cursors, written values, scoring inputs, assignments, audit, quarantine, run locks",
        (
            """
            CREATE TABLE runs (
                id $serial,
                crm TEXT NOT NULL,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                started_at $ts NOT NULL,
                finished_at $ts,
                duration_seconds $real,
                model_version TEXT NOT NULL DEFAULT '',
                dry_run $bool NOT NULL,
                counts $json NOT NULL DEFAULT '{}',
                api_calls $json NOT NULL DEFAULT '{}',
                quota_left $bigint,
                error TEXT,
                pid INTEGER NOT NULL,
                host TEXT NOT NULL
            )""",
            "CREATE INDEX runs_by_crm ON runs (crm, id)",
            "CREATE INDEX runs_running ON runs (crm) WHERE status = 'running'",
            """
            CREATE TABLE cursors (
                crm TEXT NOT NULL,
                stream TEXT NOT NULL,
                cursor TEXT NOT NULL,
                updated_at $ts NOT NULL,
                PRIMARY KEY (crm, stream)
            )""",
            # value: the JSON of the FieldValue leadsync last wrote; NULL when it cleared the field
            """
            CREATE TABLE written_values (
                crm TEXT NOT NULL,
                contact_id TEXT NOT NULL,
                field TEXT NOT NULL,
                value TEXT,
                run_id $bigint NOT NULL,
                written_at $ts NOT NULL,
                PRIMARY KEY (crm, contact_id, field)
            )""",
            # payload: zlib-compressed JSON of the contact and its activities
            """
            CREATE TABLE scoring_inputs (
                crm TEXT NOT NULL,
                contact_id TEXT NOT NULL,
                payload $blob NOT NULL,
                model_version TEXT NOT NULL,
                scored_at $ts NOT NULL,
                next_change_at $ts,
                total $real,
                stage TEXT,
                tier TEXT,
                PRIMARY KEY (crm, contact_id)
            )""",
            """
            CREATE INDEX scoring_inputs_due ON scoring_inputs (crm, next_change_at, contact_id)
            WHERE next_change_at IS NOT NULL""",
            """
            CREATE TABLE assignments (
                crm TEXT NOT NULL,
                contact_id TEXT NOT NULL,
                owner_id TEXT NOT NULL,
                strategy TEXT NOT NULL,
                assigned_at $ts NOT NULL,
                PRIMARY KEY (crm, contact_id)
            )""",
            "CREATE INDEX assignments_by_owner ON assignments (crm, owner_id)",
            """
            CREATE TABLE round_robin (
                crm TEXT NOT NULL,
                pool TEXT NOT NULL,
                position INTEGER NOT NULL,
                counters $json NOT NULL DEFAULT '{}',
                updated_at $ts NOT NULL,
                PRIMARY KEY (crm, pool)
            )""",
            """
            CREATE TABLE audit (
                id $serial,
                run_id $bigint NOT NULL,
                crm TEXT NOT NULL,
                contact_id TEXT NOT NULL,
                field TEXT NOT NULL,
                old_value TEXT,
                new_value TEXT,
                at $ts NOT NULL,
                action TEXT NOT NULL,
                status TEXT NOT NULL
            )""",
            "CREATE INDEX audit_by_run ON audit (run_id, id)",
            "CREATE INDEX audit_by_contact ON audit (crm, contact_id, id)",
            """
            CREATE TABLE quarantine (
                crm TEXT NOT NULL,
                contact_id TEXT NOT NULL,
                reason TEXT NOT NULL,
                payload $json NOT NULL,
                attempts INTEGER NOT NULL,
                first_seen $ts NOT NULL,
                last_seen $ts NOT NULL,
                run_id $bigint,
                PRIMARY KEY (crm, contact_id)
            )""",
            # SQLite: the lock itself.  PostgreSQL: who holds the advisory lock (the lock is pg_advisory_lock).
            """
            CREATE TABLE run_locks (
                crm TEXT PRIMARY KEY,
                token TEXT NOT NULL,
                pid INTEGER NOT NULL,
                host TEXT NOT NULL,
                acquired_at $ts NOT NULL,
                heartbeat_at $ts NOT NULL
            )""",
        ),
    ),
    INFLIGHT_WRITES,
    SCHEMA_CACHE,
    WEBHOOK_EVENTS,
    SLA_LEADS,
    DASHBOARD,
    NURTURE_MEMBERS,
    SEGMENTS,
    WEBHOOK_EVENT_REASONS,
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def check_migrations(migrations: tuple[Migration, ...]) -> None:
    """Refuse a migration list with gaps or reordering: versions must be 1, 2, 3, ..."""
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..N in order, got {versions}")
