"""The SQL store's segment index: one row per contact and segment, kept with the contact's scoring inputs.

``save_inputs`` writes a contact's segments twice: as a JSON list in its ``scoring_inputs`` row (read back with
the inputs) and as rows of ``input_segments`` with its score, so a segment's contacts list highest score
first from one index range (``input_segments_by_total``) at any size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sync.state._api import ScoringInputs
from sync.state._sql_base import SqlBase, id_chunks, marks


def segments_text(segments: Sequence[str]) -> str | None:
    return json.dumps(sorted(segments)) if segments else None


def read_segments(value: Any) -> tuple[str, ...]:
    return () if value in (None, "") else tuple(json.loads(value))


class SegmentIndex(SqlBase):
    def _save_segments(self, crm: str, items: Sequence[ScoringInputs]) -> None:
        """Replace these contacts' segment rows with the segments of their new inputs."""
        for chunk in id_chunks([item.contact.id for item in items]):
            self._execute(f"DELETE FROM input_segments WHERE crm = ? AND contact_id IN ({marks(chunk)})", (crm, *chunk))
        rows = [(crm, item.contact.id, name, item.total) for item in items for name in sorted(set(item.segments))]
        if rows:
            self._executemany("INSERT INTO input_segments (crm, contact_id, segment, total) VALUES (?, ?, ?, ?)", rows)
