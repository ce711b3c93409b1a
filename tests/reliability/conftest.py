"""Fixtures of the reliability suite; the helpers they use are in ``tests/reliability/helpers.py``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A private working directory (the state files and logs a run leaves)."""
    path = tmp_path / "work"
    path.mkdir(mode=0o700)
    return path
