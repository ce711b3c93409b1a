"""The house rules a test can keep: no source file over 600 lines (STYLE.md; split before a file grows near it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 600
SOURCE_SUFFIXES = {".py", ".pyi", ".html", ".js", ".css", ".sh", ".sql"}
SOURCE_NAMES = {"Makefile"}
# outside git (an unpacked sdist), the walk skips what git would not track
SKIPPED_DIRS = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}


def _tracked() -> list[Path]:
    if shutil.which("git") and (REPO / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        return [REPO / name for name in listed.decode().split("\0") if name]
    return [p for p in REPO.rglob("*") if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(REPO).parts)]


def _is_source(path: Path) -> bool:
    if path.suffix in SOURCE_SUFFIXES or path.name in SOURCE_NAMES:
        return True
    if path.parent.name == ".ci":  # CI scripts have no suffix; their shebang says what they are
        return path.read_bytes()[:2] == b"#!"
    return False


def source_files() -> list[Path]:
    return sorted(p for p in _tracked() if p.is_file() and _is_source(p))


def oversized(paths: list[Path], limit: int = MAX_LINES) -> dict[Path, int]:
    """The files of ``paths`` with more than ``limit`` lines, and their line counts."""
    counts = {p: len(p.read_text(encoding="utf-8", errors="replace").splitlines()) for p in paths}
    return {p: n for p, n in counts.items() if n > limit}


def test_the_walk_sees_every_kind_of_source_file() -> None:
    seen = {p.relative_to(REPO).as_posix() for p in source_files()}
    for known in ("Makefile", ".ci/run", "tests/test_house.py", "connectors/paging.py"):
        assert known in seen, f"{known} was not counted: the size rule would not see files like it"
    assert any(name.endswith(".html") for name in seen), "no template counted"


def test_a_file_one_line_over_the_limit_is_caught(tmp_path: Path) -> None:
    at, over = tmp_path / "at.py", tmp_path / "over.py"
    at.write_text("x = 1\n" * MAX_LINES)
    over.write_text("x = 1\n" * (MAX_LINES + 1))
    assert oversized([at, over]) == {over: MAX_LINES + 1}


def test_no_source_file_is_over_600_lines() -> None:
    over = {p.relative_to(REPO).as_posix(): n for p, n in oversized(source_files()).items()}
    assert not over, (
        f"source files over {MAX_LINES} lines (split them along their sections, as STYLE.md asks): "
        + ", ".join(f"{name} ({n})" for name, n in sorted(over.items(), key=lambda item: -item[1]))
    )
