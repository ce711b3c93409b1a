"""Build hook: compile the scoring engine's hot modules with mypyc, or install them as plain Python.

Everything else about the distribution is declared in ``pyproject.toml``.  The modules named in
``scoring/_native.py`` are compiled to C extensions with mypyc (the same source, type-checked by mypy),
which scores about twice as fast as the interpreter (``bench/RESULTS.md``).  Compiling is optional: when
``LEADSYNC_PURE_PYTHON=1`` is set, or mypyc or a C compiler is missing or fails, the same modules install
as plain Python and produce identical results, only slower.  An in-place (editable) build also writes
``scoring/_native_sources.json``, the digest of the sources it compiled, so that ``scoring`` falls back to
the plain sources when they were edited after the build (see ``scoring/_native.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# the list lives in scoring/_native.py (read as text: the package cannot be imported before it is built)
_NATIVE = (ROOT / "scoring" / "_native.py").read_text(encoding="utf-8")
MODULES = tuple(
    line.strip().strip('",') for line in _NATIVE.split("COMPILED_MODULES = (", 1)[1].split(")", 1)[0].splitlines()
)
MODULES = tuple(name for name in MODULES if name)
SOURCES = [f"scoring/{name}.py" for name in MODULES]
# mypy settings for the compile: pydantic and the other runtime packages are not in the build environment
MYPY_CONFIG = """[mypy]
python_version = 3.11
ignore_missing_imports = True
follow_imports = silent
check_untyped_defs = True
"""


def _say(message: str) -> None:
    print(f"leadsync build: {message}", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """A failed C compile installs the plain-Python modules instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            _say(f"compiling the scoring engine failed ({exc}); installing it as plain Python (slower)")
            return
        if self.inplace:
            digests = {
                name: hashlib.sha256((ROOT / src).read_bytes()).hexdigest()
                for name, src in zip(MODULES, SOURCES, strict=True)
            }
            (ROOT / "scoring" / "_native_sources.json").write_text(
                json.dumps(digests, indent=1) + "\n", encoding="utf-8"
            )


def _extensions() -> list[Any]:
    if os.environ.get("LEADSYNC_PURE_PYTHON") == "1":
        _say("LEADSYNC_PURE_PYTHON=1: installing the scoring engine as plain Python")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypyc is not available; installing the scoring engine as plain Python (slower)")
        return []
    config = Path(tempfile.mkdtemp(prefix="leadsync-mypyc-")) / "mypy.ini"
    config.write_text(MYPY_CONFIG, encoding="utf-8")
    try:
        return list(mypycify([f"--config-file={config}", *SOURCES], opt_level="3"))
    except BaseException as exc:  # mypycify exits through SystemExit on a type error
        _say(f"mypyc could not compile the scoring engine ({exc!r}); installing it as plain Python (slower)")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
