"""Which scoring modules run compiled (mypyc), and the guard that keeps an edited source from running stale.

``setup.py`` compiles ``COMPILED_MODULES`` with mypyc when it can: the same source, about twice as fast.
The compiled modules call each other directly in C, so they are used all together or not at all.  The plain
sources are imported instead when

* ``LEADSYNC_PURE_PYTHON=1`` is set (to compare both, or to debug with a Python traceback), or
* an in-place (editable) build recorded the digests of the sources it compiled in
  ``_native_sources.json`` and a source has changed since: a developer's edit takes effect at once, with a
  warning to rebuild (``make`` rebuilds when a compiled source changes).

Both give identical results (``tests/scoring/test_native.py``).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

COMPILED_MODULES = (
    "conditions",
    "engine",
    "numbers",
    "rules",
    "segments",
    "state",
    "timing",
)
_HERE = Path(__file__).resolve().parent
_DIGESTS = _HERE / "_native_sources.json"


def _stale_sources() -> list[str]:
    """The compiled modules whose source differs from what the in-place build compiled."""
    try:
        built = json.loads(_DIGESTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # an installed wheel: sources and extensions were built together
    stale = []
    for name in COMPILED_MODULES:
        try:
            digest = hashlib.sha256((_HERE / f"{name}.py").read_bytes()).hexdigest()
        except OSError:
            continue
        if built.get(name) != digest:
            stale.append(name)
    return stale


def _has_extensions() -> bool:
    return any(
        (_HERE / f"{name}{suffix}").exists()
        for name in COMPILED_MODULES
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Imports the compiled modules from their ``.py`` sources even where an extension sits beside them."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __package__ or name not in COMPILED_MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, _HERE / f"{name}.py")


def select_implementation() -> None:
    """Run once, on import, before any compiled module is imported (``scoring/__init__`` imports this first)."""
    if f"{__package__}.engine" in sys.modules:
        return
    if not _has_extensions():
        return
    if os.environ.get("LEADSYNC_PURE_PYTHON") == "1":
        sys.meta_path.insert(0, _SourceFirst())
        return
    stale = _stale_sources()
    if stale:
        warnings.warn(
            f"scoring: {', '.join(f'{name}.py' for name in stale)} changed since the compiled build; running the "
            "plain-Python sources (rebuild with `make` or `pip install -e .` to compile them again)",
            RuntimeWarning,
            stacklevel=2,
        )
        sys.meta_path.insert(0, _SourceFirst())


def compiled() -> bool:
    """Whether the scoring engine in use is the compiled one."""
    engine = sys.modules.get(f"{__package__}.engine")
    return engine is not None and not str(getattr(engine, "__file__", "")).endswith(".py")


select_implementation()
