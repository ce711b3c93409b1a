"""The compiled (mypyc) scoring modules and their plain-Python sources give identical results.

``setup.py`` compiles ``scoring._native.COMPILED_MODULES``; ``LEADSYNC_PURE_PYTHON=1`` runs the sources.
Both runs below score the same inputs (examples drawn once from the property-test strategies, handed to
both processes in a pickle, and the starter model over the sandbox generator's data at several moments)
and print ``repr`` of every result: scores, tiers, reasons, evidence decay factors to the last bit and
next_change_at.
"""

from __future__ import annotations

import importlib.machinery
import os
import pickle
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from connectors.records import Activity, Contact
from scoring import Model, _native

from .strategies import activity_lists, contacts, models
from .test_speed_equivalence import moments

ROOT = Path(__file__).resolve().parents[2]
SCORING = ROOT / "scoring"

SCRIPT = """
import pickle
import sys
from datetime import timedelta

import scoring
from scoring import load_model, score, STARTER_MODEL_PATH
from tests.scoring.test_speed_equivalence import SANDBOX_NOW, sandbox_records

print("compiled", scoring.compiled())
starter = load_model(STARTER_MODEL_PATH)
records = sandbox_records()
for now in (SANDBOX_NOW, SANDBOX_NOW + timedelta(days=3, seconds=7), SANDBOX_NOW - timedelta(days=2)):
    for contact, activities in records:
        print(repr(score(starter, contact, activities, now)))
with open(sys.argv[1], "rb") as drawn:
    for model, person, activities, now in pickle.load(drawn):
        print(repr(score(model, person, activities, now)))
"""


def _extensions(folder: Path) -> list[Path]:
    return [p for suffix in importlib.machinery.EXTENSION_SUFFIXES for p in folder.glob(f"*{suffix}")]


def _run(
    code: str, *args: str, pure: bool, cwd: Path = ROOT, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LEADSYNC_PURE_PYTHON"}
    if pure:
        env["LEADSYNC_PURE_PYTHON"] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


needs_build = pytest.mark.skipif(
    not _extensions(SCORING), reason="the scoring engine was installed as plain Python (no compiled modules)"
)


def test_ci_builds_the_compiled_engine() -> None:
    """CI must exercise the compiled build (a silent fallback to plain Python would hide its bugs)."""
    if os.environ.get("CI") != "true":
        pytest.skip("checked in CI only: a developer may install without a C compiler")
    built = {p.name.split(".")[0] for p in _extensions(SCORING)}
    assert built == set(_native.COMPILED_MODULES)


def _draw_examples(count: int) -> list[tuple[Model, Contact, list[Activity], datetime]]:
    drawn: list[tuple[Model, Contact, list[Activity], datetime]] = []

    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(models(), contacts(), activity_lists(), moments)
    def draw(model: Model, person: Contact, activities: list[Activity], now: datetime) -> None:
        drawn.append((model, person, activities, now))

    draw()
    return drawn


@needs_build
def test_compiled_and_plain_sources_score_identically(tmp_path: Path) -> None:
    examples = tmp_path / "examples.pickle"
    drawn = _draw_examples(int(os.environ.get("SCORING_EXAMPLES", 300)))
    examples.write_bytes(pickle.dumps(drawn))
    compiled = _run(SCRIPT, str(examples), pure=False)
    plain = _run(SCRIPT, str(examples), pure=True)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    assert plain.returncode == 0, plain.stderr[-3000:]
    compiled_lines = compiled.stdout.splitlines()
    plain_lines = plain.stdout.splitlines()
    assert compiled_lines[0] == "compiled True"
    assert plain_lines[0] == "compiled False"
    assert len(compiled_lines) == 1 + 3 * 500 + len(drawn)  # the flag, 3 x 500 sandbox contacts, the examples
    assert len(compiled_lines) == len(plain_lines)
    for number, (fast, slow) in enumerate(zip(compiled_lines[1:], plain_lines[1:], strict=True), start=2):
        assert fast == slow, f"line {number} differs"


@needs_build
@pytest.mark.parametrize("edited", [False, True])
def test_an_edited_source_runs_from_source_until_rebuilt(tmp_path: Path, edited: bool) -> None:
    """An in-place build records what it compiled; an edit since then runs the edited source, with a warning."""
    copy = tmp_path / "scoring"
    shutil.copytree(SCORING, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for runtime in _extensions(ROOT):  # mypyc's shared runtime library sits at the top level
        shutil.copy2(runtime, tmp_path / runtime.name)
    if edited:
        source = copy / "engine.py"
        source.write_text(source.read_text(encoding="utf-8") + "\nEDITED = True\n", encoding="utf-8")
    code = "import scoring, scoring.engine as e; print(scoring.compiled(), getattr(e, 'EDITED', False))"
    result = _run(code, pure=False, cwd=tmp_path, pythonpath=f"{tmp_path}{os.pathsep}{ROOT}")
    assert result.returncode == 0, result.stderr
    if edited:
        assert result.stdout.split() == ["False", "True"]
        assert "engine.py changed since the compiled build" in result.stderr
    else:
        assert result.stdout.split() == ["True", "False"]
        assert "changed since" not in result.stderr


def test_pure_python_switch_runs_the_sources() -> None:
    result = _run("import scoring, scoring.engine as e; print(scoring.compiled(), e.__file__)", pure=True)
    assert result.returncode == 0, result.stderr
    flag, path = result.stdout.split()
    assert flag == "False"
    assert path.endswith("engine.py")


def test_make_rebuilds_when_a_compiled_module_changes() -> None:
    """The Makefile's install stamp depends on every compiled module, so `make test` never runs a stale build."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = next(line for line in makefile.splitlines() if line.startswith("NATIVE :="))
    words = line.replace("(", " ").replace(")", " ").split()
    listed = {word.removeprefix("scoring/").removesuffix(".py") for word in words if word.endswith(".py")}
    assert listed == set(_native.COMPILED_MODULES)
