"""Hostile model files through the real CLI: each ends in one located sentence and exit 2, in bounded time
and memory, never a traceback (issue #16).

The corpus is generated here (an alias bomb is a few lines; a 300 KB file is written, not committed).  Every
case runs ``leadsync model validate`` and ``leadsync model test`` in a subprocess under an address-space
limit (RLIMIT_AS), with a wall-clock timeout and a CPU-time bound.  Before the fix these cases ran for
minutes at gigabytes, or ended in RecursionError / ReaderError tracebacks.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.helpers import leadsync_env

MEMORY_LIMIT = 1536 * 1024 * 1024  # the CLI needs ~150 MB; an alias bomb took 3-5 GB
WALL_TIMEOUT = 120.0  # seconds; generous because the test machine is shared (the CPU bound below is the real one)
CPU_BOUND = 20.0  # seconds of CPU; a fixed case takes about one (mostly interpreter start), a hang takes minutes

RULE = "fit:\n  rules:\n    - id: a\n      points: {points}\n      when: {when}\n"
EXISTS = "{field: title, exists: true}"


def _rule(points: str = "1", when: str = EXISTS) -> str:
    return "name: hostile\n" + RULE.format(points=points, when=when)


def _segment(expression: str) -> str:
    return f"name: hostile\nsegments:\n  probe: {json.dumps(expression)}\n"


def _alias_bomb() -> str:
    # nine levels of nine aliases each: 387 million strings once expanded, 10 lines as written
    lines = ["name: hostile", "unknown_key:", f"  l0: &l0 [{', '.join(['lol'] * 9)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _block_bomb() -> str:
    # the same in block style, inside the policies: block the sync reads
    lines = ["name: hostile", "policies:", "  l0: &l0", *["    - lol"] * 9]
    for i in range(1, 10):
        lines += [f"  l{i}: &l{i}", *[f"    - *l{i - 1}"] * 9]
    return "\n".join(lines) + "\n"


def _nested_block(depth: int) -> str:
    lines = ["name: hostile", "fit:", "  rules:", "    - id: a", "      points: 1", "      when:"]
    indent = "        "
    for _ in range(depth):
        lines.append(f"{indent}not:")
        indent += "  "
    lines.append(f"{indent}{{field: title, exists: true}}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    name: str
    content: Callable[[], str | bytes]
    line: int | None  # the line the message must name (None: the file as a whole)
    says: str  # a fragment of the sentence


CASES = [
    Case("alias bomb under an unknown key", _alias_bomb, 8, "once its aliases (*name) are expanded"),
    Case("alias bomb in block style", _block_bomb, 54, "once its aliases (*name) are expanded"),
    Case("alias inside itself", lambda: "name: hostile\nloop: &a [1, *a]\n", 2, "refers to the value it sits in"),
    Case("3,000 nested not: (flow)", lambda: _rule(when="{not: " * 3000 + EXISTS + "}" * 3000), 6, "100 levels"),
    Case("300 nested not: (block)", lambda: _nested_block(300), 102, "nested more than 100 levels deep"),
    Case("50,000 nested brackets", lambda: "name: hostile\njunk: " + "[" * 50_000 + "]" * 50_000, 2, "100 levels"),
    Case("40 nested not:", lambda: _rule(when="{not: " * 40 + EXISTS + "}" * 40), 6, "at most 32 levels deep"),
    Case("DEL character", lambda: "name: hostile\n\ndescription: a\x7fb\n", 3, "U+007F"),
    Case("NUL character in a comment", lambda: "name: hostile\n# \x00\n", 2, "U+0000"),
    Case("invalid UTF-8", lambda: b"name: hostile\ndescription: \xff\xfe\n", 2, "not UTF-8 text"),
    Case("5,000-digit number", lambda: _rule(points="9" * 5000), 5, "5,000 digits is too long"),
    Case("points: 1e300", lambda: _rule(points="1e300"), 5, "points go from -10,000 to 10,000"),
    Case("points: 1e400 (infinite)", lambda: _rule(points="1e400"), 5, "finite"),
    Case("scale max of a trillion", lambda: "name: hostile\nscale: {max: 1000000000000}\n", 2, "at most 10000"),
    Case("grade threshold 1e300", lambda: "name: hostile\ngrades: {A: 1e300, B: 0}\n", 2, "scores go from"),
    Case("within_days 1e300", lambda: _rule(when="{field: d, within_days: 1e300}"), 6, "day counts go from"),
    Case(
        "SLA of 10^12 days",
        lambda: (
            "name: hostile\ntiers:\n  - {tier: P1, activity: demo_request, within: 1d,\n"
            "     respond_within: 1000000000000d}\n"
        ),
        4,
        "durations go up to 36,500 days",
    ),
    Case(
        "example before year 1",
        lambda: (
            "name: hostile\nexamples:\n  - name: e\n    now: 0001-01-01T00:00:00Z\n"
            "    activities: [{type: demo_request, ago: 2d}]\n    expect: {total: 0}\n"
        ),
        3,
        "before the year 1",
    ),
    Case("look-ahead regex", lambda: _rule(when="{field: title, regex: 'a(?=b)'}"), 6, "look-ahead"),
    Case("back-reference regex", lambda: _rule(when="{field: title, regex: '(a)\\1'}"), 6, "back-references"),
    Case("segment nested 33 deep", lambda: _segment("(" * 33 + "score > 1" + ")" * 33), 2, "nest at most 32 levels"),
    Case("segment of 400 nested not", lambda: _segment("not " * 400 + "score > 1"), 2, "at most 32 levels"),
    Case("segment of 3,000 nested not", lambda: _segment("not " * 3000 + "score > 1"), 2, "at most 2000 characters"),
    Case("segment with bad syntax", lambda: _segment("score >>> 5"), 2, "expected a value at character 8"),
    Case("segment with an open quote", lambda: _segment("stage == 'lead"), 2, "cannot read"),
    Case("segment with a 5,000-digit number", lambda: _segment("score > " + "9" * 1900), 2, "compares it with"),
    Case("300 KB file", lambda: "name: hostile\n" + "# padding\n" * 30_000, None, "at most 262,144 bytes"),
]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _leadsync() -> list[str]:
    script = Path(sys.executable).with_name("leadsync")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from sync.cli import main; main()"]


def run_cli(*args: str) -> tuple[int, str, float]:
    """``leadsync ARGS`` under the memory limit: exit code, stdout + stderr, CPU seconds it used."""
    env = leadsync_env()
    if "LEADSYNC_PURE_PYTHON" in os.environ:  # test the same build as the rest of the run
        env["LEADSYNC_PURE_PYTHON"] = os.environ["LEADSYNC_PURE_PYTHON"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [*_leadsync(), *args],
        capture_output=True,
        text=True,
        timeout=WALL_TIMEOUT,
        env=env,
        preexec_fn=_limit_memory,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.returncode, done.stdout + done.stderr, cpu


def _write(tmp_path: Path, case: Case) -> Path:
    path = tmp_path / "hostile.yaml"
    content = case.content()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_a_sound_model_runs_under_the_same_limits(tmp_path: Path) -> None:
    """The control: the limits leave room for a real model (so the cases below fail for their own reason)."""
    from scoring.loader import STARTER_MODEL_PATH

    code, out, cpu = run_cli("model", "validate", str(STARTER_MODEL_PATH))
    assert code == 0, out
    assert ": OK, model" in out
    assert cpu < CPU_BOUND


@pytest.mark.parametrize("command", ["validate", "test"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_model_file_is_one_located_sentence(tmp_path: Path, case: Case, command: str) -> None:
    path = _write(tmp_path, case)
    code, out, cpu = run_cli("model", command, str(path))
    assert code == 2, out[-2000:]
    assert "Traceback" not in out and "Error:" not in out, out[-2000:]
    first = out.splitlines()[0]
    where = f"{path}:{case.line}" if case.line is not None else f"{path}:"
    assert first.startswith(where) and first[len(where)] in " :", first[:300]
    assert case.says in first, first[:300]
    assert len(first) < 400, first[:400]  # one sentence, not a dump of the input
    assert cpu < CPU_BOUND, f"{cpu:.1f}s of CPU"


def test_device_that_never_ends_is_refused(tmp_path: Path) -> None:
    """/dev/zero as the model file: read up to the size limit, not until memory runs out."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    code, out, cpu = run_cli("model", "validate", "/dev/zero")
    assert code == 2, out[-2000:]
    assert out.startswith("/dev/zero: the file is over 262,144 bytes"), out[:300]
    assert cpu < CPU_BOUND


def test_backtracking_regex_scores_long_text_in_bounded_time(tmp_path: Path) -> None:
    """``^(\\w+\\s?)+$`` is the classic catastrophic pattern: with a backtracking engine, the example's
    10,000-character title ending in '!' would run for ages; with RE2 ``model test`` finishes at once."""
    title = "lead " * 1999 + "lead!"  # 10,000 characters: the most a text test reads
    path = tmp_path / "regex.yaml"
    path.write_text(
        "name: hostile\n"
        + RULE.format(points="10", when="{field: title, regex: '^(\\w+\\s?)+$'}")
        + "examples:\n"
        + f"  - {{name: long title, now: '2025-01-01T00:00:00Z', contact: {{fields: {{title: '{title}'}}}},\n"
        + "     expect: {fit: 0}}\n"
        + "  - {name: short title, now: '2025-01-01T00:00:00Z', contact: {fields: {title: VP Sales}},\n"
        + "     expect: {fit: 10}}\n",
        encoding="utf-8",
    )
    code, out, cpu = run_cli("model", "test", str(path))
    assert code == 0, out[-2000:]
    assert "PASS long title" in out and "PASS short title" in out
    assert cpu < CPU_BOUND, f"{cpu:.1f}s of CPU"
