"""The two helpers every file leadsync writes goes through: formula-safe CSV cells and private files."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest

from sync.csvsafe import plain_cell, safe_cell, safe_writer
from sync.private_files import open_private, private_umask
from sync.settings import mask_url


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+20 demo request 2d ago", "'+20 demo request 2d ago"),
        ("-10 free-mail address", "'-10 free-mail address"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("VP Sales", "VP Sales"),
        ("", ""),
        (None, ""),
        (42, "42"),
        (-3, "'-3"),
    ],
)
def test_safe_cell_neutralises_what_a_spreadsheet_evaluates(value: object, cell: str) -> None:
    assert safe_cell(value) == cell
    assert plain_cell(cell) == ("" if value is None else str(value))


def test_safe_writer_rows_read_back_as_text() -> None:
    buffer = io.StringIO()
    safe_writer(buffer).writerow(["c1", '=HYPERLINK("http://x")', "+1"])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["c1", '\'=HYPERLINK("http://x")', "'+1"]


def test_open_private_creates_0600_files_in_0700_dirs_under_a_022_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with open_private(tmp_path / "a" / "b" / "plan.csv", "w", encoding="utf-8") as fh:
            fh.write("x")
        wide = tmp_path / "wide.csv"
        wide.write_text("old", encoding="utf-8")
        wide.chmod(0o644)
        with open_private(wide, "w", encoding="utf-8") as fh:
            fh.write("new")
        with private_umask():
            (tmp_path / "report.html").write_text("r", encoding="utf-8")
    finally:
        os.umask(previous)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "a" / "b" / "plan.csv") == 0o600
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    assert mode(wide) == 0o600 and wide.read_text(encoding="utf-8") == "new"
    assert mode(tmp_path / "report.html") == 0o600
    assert os.umask(0o022) == 0o022, "the umask is restored"
    os.umask(previous)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://leadsync:s3cret@db:5432/leads", "postgresql://leadsync:***@db:5432/leads"),
        ("postgresql://leadsync@db/leads", "postgresql://leadsync@db/leads"),
        ("sqlite:///leadsync.db", "sqlite:///leadsync.db"),
        ("https://u:p%40ss@crm.example/api", "https://u:***@crm.example/api"),
    ],
)
def test_mask_url_hides_passwords(url: str, shown: str) -> None:
    assert mask_url(url) == shown
