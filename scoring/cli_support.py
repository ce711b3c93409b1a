"""What the ``leadsync model ...`` commands print, as plain functions the CLI wires up.

Each command function returns ``(exit_code, text)``: 0 when all is well, 1 when examples fail, 2 when the
model file is unusable (the problems, one per line, with file, line and path).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .engine import score
from .examples import example_records, run_examples, summary
from .explain import explain
from .loader import load_model
from .model import Model, model_json_schema
from .yamlfile import ModelError

EXIT_OK = 0
EXIT_EXAMPLES_FAILED = 1
EXIT_INVALID = 2


def schema_command() -> str:
    return json.dumps(model_json_schema(), indent=2, sort_keys=False)


def _rule_count(model: Model) -> int:
    return sum(1 for _ in model.iter_rules()) + (1 if model.stagnation else 0)


def validate_command(path: str | Path) -> tuple[int, str]:
    """``leadsync model validate FILE``: check the file, list every problem at once."""
    try:
        model = load_model(path)
    except ModelError as exc:
        count = len(exc.problems)
        return EXIT_INVALID, f"{exc}\n{count} problem{'s' if count != 1 else ''} found"
    text = (
        f"{path}: OK, model '{model.name}' version {model.version}, {_rule_count(model)} rules, "
        f"{len(model.tiers)} tiers, {len(model.examples)} examples"
    )
    return EXIT_OK, text


def test_command(path: str | Path) -> tuple[int, str]:
    """``leadsync model test FILE``: run the file's examples and show the difference when one fails."""
    try:
        model = load_model(path)
    except ModelError as exc:
        return EXIT_INVALID, str(exc)
    outcomes = run_examples(model)
    if not outcomes:
        return EXIT_OK, f"{path}: no examples to run (add some under examples:)"
    lines = []
    for outcome in outcomes:
        if outcome.passed:
            lines.append(f"PASS {outcome.name}")
        else:
            lines.append(f"FAIL {outcome.name}")
            lines.extend(f"    {line}" for line in outcome.diff.splitlines())
    lines.append(summary(outcomes))
    failed = any(not outcome.passed for outcome in outcomes)
    return (EXIT_EXAMPLES_FAILED if failed else EXIT_OK), "\n".join(lines)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    out = [line.format(*headers).rstrip(), "  ".join("-" * width for width in widths)]
    out.extend(line.format(*row).rstrip() for row in rows)
    return "\n".join(out)


def demo_table(model: Model, now: datetime, reason_width: int = 70) -> str:
    """Score the model's examples as if they happened just before ``now`` and return a printable table."""
    rows = []
    for index, example in enumerate(model.examples):
        contact, activities = example_records(example, index, now=now)
        result = score(model, contact, activities, now)
        due = result.sla_due_at.strftime("%Y-%m-%d %H:%M") if result.sla_due_at else ""
        rows.append(
            [
                example.name[:40],
                str(result.total),
                str(result.fit),
                str(result.engagement),
                result.grade,
                result.matrix,
                result.stage,
                result.tier or "",
                due,
                explain(result, max_length=reason_width),
            ]
        )
    headers = ["contact", "total", "fit", "eng", "grade", "cell", "stage", "tier", "respond by", "why"]
    title = f"model {model.name} (version {model.version}) at {now.isoformat(timespec='seconds')}"
    if not rows:
        return f"{title}\n(no examples in the model)"
    return f"{title}\n{_table(headers, rows)}"
