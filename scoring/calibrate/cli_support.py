"""``leadsync calibrate --csv FILE`` as a plain function: arguments in, ``(exit_code, text)`` out.

Exit codes: 0 when the run completed (whether or not a better model was found), 2 when the input is
unusable (model file, CSV file or an option), with the problem in the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import yaml

from scoring import STARTER_MODEL_PATH, ModelError, load_model

from ._rows import CalibrationError, ColumnRoles
from ._run import calibrate_csv

EXIT_OK = 0
EXIT_INVALID = 2

_SINCE_RE = re.compile(r"^\s*(\d+)\s*(d|days?|w|weeks?)?\s*$", re.IGNORECASE)


def parse_since(text: str) -> int:
    """Days in ``--since``: ``30d``, ``30``, ``4w``."""
    match = _SINCE_RE.match(text)
    if match is None or int(match.group(1)) < 1:
        raise CalibrationError(f"--since takes a number of days or weeks such as 30d or 4w, not {text!r}")
    days = int(match.group(1))
    unit = (match.group(2) or "d").lower()
    return days * 7 if unit.startswith("w") else days


def parse_mapping(pairs: Sequence[str], map_file: str | None = None) -> dict[str, str]:
    """``--map "Lead Source=hs_analytics_source"`` (repeatable) and ``--map-file`` YAML (``column: field``).

    Pairs given on the command line win over the file.
    """
    mapping: dict[str, str] = {}
    if map_file:
        try:
            data = yaml.safe_load(Path(map_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CalibrationError(f"Cannot read --map-file {map_file}: {exc.strerror or exc}.") from exc
        except yaml.YAMLError as exc:
            raise CalibrationError(f"--map-file {map_file} is not valid YAML: {exc}") from exc
        if not isinstance(data, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in data.items()
        ):
            raise CalibrationError(
                f"--map-file {map_file} must map each CSV column to a field name, one per line: "
                "'Lead Source: hs_analytics_source'."
            )
        mapping.update({k.strip(): v.strip() for k, v in data.items()})
    for pair in pairs:
        column, sep, field = pair.partition("=")
        if not sep or not column.strip() or not field.strip():
            raise CalibrationError(f"--map takes COLUMN=FIELD, such as 'Lead Source=hs_analytics_source', not {pair!r}")
        mapping[column.strip()] = field.strip()
    return mapping


def run_calibrate(
    *,
    csv_path: str,
    outcome_column: str,
    now: datetime,
    model_path: str | None = None,
    out_model: str | None = None,
    out_html: str | None = None,
    out_json: str | None = None,
    as_json: bool = False,
    exclude_columns: Sequence[str] = (),
    id_column: str | None = None,
    created_column: str | None = None,
    closed_column: str | None = None,
    since: str | None = None,
    max_rules: int | None = None,
    seed: int = 7,
    target_precision: float | None = None,
    target_recall: float | None = None,
    capacity_per_week: float | None = None,
    leads_per_week: float | None = None,
    evaluate_only: bool = False,
    keep_unmatched: bool | None = None,
    allow_leaky: Sequence[str] = (),
    mapping: Sequence[str] = (),
    map_file: str | None = None,
    force: bool = False,
) -> tuple[int, str]:
    """Run a CSV calibration; without ``out_model`` the proposal goes next to the model as ``*.proposed.yaml``."""
    try:
        model_file = Path(model_path) if model_path else STARTER_MODEL_PATH
        model = load_model(model_file)
        since_days = parse_since(since) if since else None
        for name, value in (("--target-precision", target_precision), ("--target-recall", target_recall)):
            if value is not None and not 0 < value <= 1:
                raise CalibrationError(f"{name} takes a share between 0 and 1, such as 0.6, not {value}")
        if capacity_per_week is not None and capacity_per_week <= 0:
            raise CalibrationError("--capacity-per-week takes a number of leads above 0")
        if leads_per_week is not None and leads_per_week <= 0:
            raise CalibrationError("--leads-per-week takes a number of leads above 0")
        if max_rules is not None and max_rules < 1:
            raise CalibrationError("--max-rules takes a number of rules, 1 or more")
        if out_model is None and not evaluate_only:
            base = Path(model_path).stem if model_path else "scoring"
            folder = Path(model_path).parent if model_path else Path.cwd()
            out_model = str(folder / f"{base}.proposed.yaml")
        roles = ColumnRoles(
            id_column=id_column,
            created_column=created_column,
            closed_column=closed_column,
            exclude=tuple(exclude_columns),
            rename=parse_mapping(mapping, map_file),
        )
        run = calibrate_csv(
            csv_path,
            outcome_column,
            model,
            now,
            seed,
            None if evaluate_only else out_model,
            out_html,
            roles=roles,
            out_json_path=out_json,
            propose_model=not evaluate_only,
            max_rules=max_rules,
            target_precision=target_precision,
            target_recall=target_recall,
            capacity_per_week=capacity_per_week,
            leads_per_week=leads_per_week,
            allow_leaky=[roles.rename.get(name, name) for name in allow_leaky],
            keep_unmatched=keep_unmatched,
            since_days=since_days,
            force=force,
        )
    except ModelError as exc:
        return EXIT_INVALID, f"The model file cannot be used:\n{exc}"
    except CalibrationError as exc:
        return EXIT_INVALID, str(exc)
    except OSError as exc:
        return EXIT_INVALID, f"Cannot write {exc.filename}: {exc.strerror}. Check the output path."
    if as_json:
        return EXIT_OK, json.dumps(run.json(), indent=2, ensure_ascii=False)
    return EXIT_OK, run.summary
