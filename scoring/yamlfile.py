"""YAML files that a person edits, read with line numbers so every error can point at its line.

Two helpers are shared with the rest of leadsync (the sync validates the ``policies:`` block of the model
file with its own pydantic models and reports problems in the same format):

* ``load_yaml_with_lines(text, source) -> (data, LineMap)`` reads YAML into plain Python values and
  remembers the line of every key and list item.  It raises ``ModelError`` for YAML syntax errors,
  duplicate keys and a top level that is not a mapping.
* ``format_validation_errors(exc, source, line_map, prefix=("policies",), schema=None)`` turns a pydantic
  ``ValidationError`` raised while validating ``data["policies"]`` into ``Problem`` values such as
  ``scoring.yaml:14 policies.owners[2].team: expected text``.  Pass the pydantic model class as ``schema``
  to get "did you mean ...?" hints for misspelt keys.

The YAML dialect is the YAML 1.2 core schema, which is what people expect: only ``true``/``false`` are
booleans (``NO`` for Norway and ``on``/``off`` stay text), numbers with a leading zero stay decimal
(``010`` is 10), and dates stay text until a model field asks for a datetime.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Union

import yaml
from pydantic import BaseModel, ValidationError

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: where it is and what to do about it."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.path:
            return f"{where} {self.path}: {self.message}"
        return f"{where}: {self.message}"


class ModelError(Exception):
    """A model file that cannot be used; ``problems`` lists everything wrong with it at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


class LineMap:
    """The 1-based line of each key or list item, by its path (``("engagement", "rules", 2, "points")``)."""

    def __init__(self, lines: Mapping[PathKey, int] | None = None) -> None:
        self._lines: dict[PathKey, int] = dict(lines or {})

    def __setitem__(self, path: PathKey, line: int) -> None:
        self._lines[path] = line

    def __contains__(self, path: object) -> bool:
        return path in self._lines

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the file (for missing keys)."""
        key = tuple(path)
        while key:
            found = self._lines.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return self._lines.get((), None)


def format_path(path: Sequence[str | int]) -> str:
    """``("engagement", "rules", 2, "points")`` -> ``engagement.rules[2].points``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif out:
            out.append(f".{part}")
        else:
            out.append(str(part))
    return "".join(out)


# Limits that keep a hostile or broken file from exhausting time or memory: checked while the YAML is read,
# before anything is built from it (docs/model.md, "Limits").
MAX_FILE_BYTES: Final = 256 * 1024  # the starter model is 9 KB; a model of hundreds of rules stays far below
MAX_DEPTH: Final = 100  # nested mappings and lists (conditions nest at most 32 deep: see scoring.model)
MAX_VALUES: Final = 100_000  # keys, values and list items, each alias counted as everything it repeats
MAX_DIGITS: Final = 30  # digits of a whole number (longer ones are ids or phone numbers: quote them)


class _Refused(Exception):
    """The file crosses one of the limits above; ``line`` is 1-based, or ``None`` when unknown."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit types instead of YAML 1.1's, and the limits above."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0  # values composed so far, aliases counted at the size of what they repeat
        self._sizes: dict[int, int] = {}  # id(node) -> its size in values, aliases expanded

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # checked here too: the scanner reads a whole run of opening brackets before the composer sees one
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(self.get_mark().line + 1, f"nested more than {MAX_DEPTH} levels deep")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                line = event.start_mark.line + 1
                if size is None:
                    raise _Refused(line, f"the alias *{event.anchor} refers to the value it sits in")
                self._count(size, line)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(self.peek_event().start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        before = self._values
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        self._count(1, node.start_mark.line + 1)
        self._sizes[id(node)] = self._values - before
        return node

    def _count(self, size: int, line: int) -> None:
        self._values += size
        if self._values > MAX_VALUES:
            raise _Refused(
                line,
                f"the file holds more than {MAX_VALUES:,} values once its aliases (*name) are expanded; "
                "a model file needs far fewer (repeat values without aliases, or split the file)",
            )


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    digits = len(text.strip().lstrip("+-"))
    if digits > MAX_DIGITS:
        raise ValueError(f"a whole number of {digits:,} digits is too long (at most {MAX_DIGITS}); put text in quotes")
    return int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _too_large(size: int | None, source: str) -> ModelError:
    told = f"{size:,} bytes" if size is not None else f"over {MAX_FILE_BYTES:,} bytes"
    return ModelError(
        [
            Problem(
                source,
                None,
                "",
                f"the file is {told}; a model file may be at most {MAX_FILE_BYTES:,} bytes (is this the right file?)",
            )
        ]
    )


def read_model_text(path: str | Path) -> str:
    """A model file's text, refusing a file too large to be one before reading it whole."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                status = os.fstat(handle.fileno())
                raise _too_large(status.st_size if stat.S_ISREG(status.st_mode) else None, source)
    except FileNotFoundError:
        raise ModelError([Problem(source, None, "", "no such file")]) from None
    except IsADirectoryError:
        raise ModelError([Problem(source, None, "", "this is a folder; give the path of a model file")]) from None
    except OSError as exc:
        raise ModelError([Problem(source, None, "", f"cannot read the file: {exc}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ModelError(
            [Problem(source, line, "", f"not UTF-8 text (byte {exc.start:,}); save the file as UTF-8")]
        ) from None


def _reader_problem(exc: yaml.reader.ReaderError, text: str, source: str) -> Problem:
    line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
    character = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return Problem(
        source,
        line,
        "",
        f"the unprintable character U+{character:04X} cannot appear in a YAML file; delete it "
        f'(inside double quotes it can be written as "\\u{character:04x}")',
    )


def load_yaml_with_lines(text: str, source: str = "<string>") -> tuple[dict[str, Any], LineMap]:
    """Read a YAML mapping and the line of each key; raise ``ModelError`` when the YAML is unusable.

    The limits (``MAX_FILE_BYTES``, ``MAX_DEPTH``, ``MAX_VALUES``, ``MAX_DIGITS``) are enforced here, while
    reading, so an alias bomb or a deeply nested file costs milliseconds, not minutes and gigabytes.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise _too_large(size, source)
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise ModelError([_reader_problem(exc, text, source)]) from None
    try:
        try:
            root = loader.get_single_node()
        except _Refused as exc:
            raise ModelError([Problem(source, exc.line, "", exc.message)]) from None
        except yaml.reader.ReaderError as exc:
            raise ModelError([_reader_problem(exc, text, source)]) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            message = " ".join(part for part in (exc.context, exc.problem) if part)
            raise ModelError([Problem(source, line, "", f"not valid YAML: {message}")]) from None
        except yaml.YAMLError as exc:
            raise ModelError([Problem(source, None, "", f"not valid YAML: {exc}")]) from None
        lines = LineMap()
        problems: list[Problem] = []
        if root is None:
            raise ModelError([Problem(source, 1, "", "the file is empty; expected a mapping of model settings")])
        if not isinstance(root, yaml.MappingNode):
            raise ModelError(
                [Problem(source, root.start_mark.line + 1, "", "expected a mapping of settings at the top level")]
            )
        lines[()] = root.start_mark.line + 1
        data = _build(loader, root, (), lines, problems, source)
    finally:
        loader.dispose()
    if problems:
        raise ModelError(problems)
    assert isinstance(data, dict)
    return data, lines


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: PathKey,
    lines: LineMap,
    problems: list[Problem],
    source: str,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            try:
                raw_key = loader.construct_object(key_node, deep=True)
            except yaml.YAMLError as exc:
                problems.append(Problem(source, key_node.start_mark.line + 1, format_path(path), str(exc)))
                continue
            key = raw_key if isinstance(raw_key, str) else str(raw_key)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if key in result:
                first = lines.line(child)
                problems.append(
                    Problem(source, line, format_path(child), f"duplicate key (first given on line {first})")
                )
                continue
            lines[child] = line
            result[key] = _build(loader, value_node, child, lines, problems, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_build(loader, item_node, child, lines, problems, source))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as exc:
        problems.append(Problem(source, node.start_mark.line + 1, format_path(path), f"unreadable value: {exc}"))
        return None


# Friendlier wording for the pydantic error types a model file meets most.
_MESSAGES: dict[str, str] = {
    "missing": "required, but missing",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "string_type": "expected text",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
    "datetime_type": "expected a date and time such as 2024-05-01T12:00:00Z",
    "datetime_parsing": "expected a date and time such as 2024-05-01T12:00:00Z",
    "datetime_from_date_parsing": "expected a date and time such as 2024-05-01T12:00:00Z",
    "timezone_aware": "the time needs a timezone, e.g. 2024-05-01T12:00:00Z",
    "finite_number": "expected a finite number",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        word = {
            "greater_than": "above",
            "greater_than_equal": "at least",
            "less_than": "below",
            "less_than_equal": "at most",
        }[kind]
        bound = next(iter(ctx.values()), "")
        return f"expected a number {word} {bound}"
    if kind in ("too_short", "too_long"):
        return str(error.get("msg", "wrong length")).replace("List", "list").replace("Value", "value")
    if kind == "string_pattern_mismatch":
        return "use letters, digits, '_', '-', '.' or ':' only"
    message = str(error.get("msg", kind))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete alternatives of an annotation (``Annotated`` and ``X | None`` removed)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
            for name, info in option.model_fields.items():
                if part in (name, info.alias, info.validation_alias):
                    return info.annotation
        origin = typing.get_origin(option)
        args = typing.get_args(option)
        if isinstance(part, int) and origin in (list, tuple, Sequence) and args:
            return args[0]
        if isinstance(part, str) and origin in (dict, Mapping) and len(args) == 2:
            return args[1]
    return None


def allowed_keys(schema: type[BaseModel] | None, loc: Sequence[str | int]) -> list[str]:
    """The keys the mapping at ``loc`` accepts, when ``schema`` describes it (for typo hints)."""
    annotation: Any = schema
    for part in loc:
        if annotation is None:
            return []
        annotation = _step(annotation, part)
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return [info.alias or name for name, info in option.model_fields.items()]
    return []


def unknown_key_message(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)"
    if allowed:
        return f"unknown key '{key}' (expected one of: {', '.join(sorted(allowed))})"
    return f"unknown key '{key}'"


def format_validation_errors(
    exc: ValidationError,
    source: str,
    line_map: LineMap,
    prefix: Sequence[str | int] = ("policies",),
    schema: type[BaseModel] | None = None,
) -> list[Problem]:
    """Turn a pydantic ``ValidationError`` into ``Problem`` values with file, line and path.

    ``prefix`` is where the validated data sits in the file (``("policies",)`` when the sync validates
    ``data["policies"]``; ``()`` for the whole file).  ``schema`` is the pydantic model class that was
    validated; with it, misspelt keys get a "did you mean" hint.  Problems come in file order.
    """
    problems: list[tuple[int, int, Problem]] = []
    seen: set[tuple[str, str]] = set()
    for order, error in enumerate(exc.errors(include_url=False)):
        loc = tuple(part for part in error.get("loc", ()) if isinstance(part, str | int))
        full = (*prefix, *loc)
        if error.get("type") == "extra_forbidden" and loc:
            key = str(loc[-1])
            message = unknown_key_message(key, allowed_keys(schema, loc[:-1]))
            path = format_path(full[:-1])
        else:
            message = _message(error)
            path = format_path(full)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        line = line_map.line(full)
        problems.append((line or 0, order, Problem(source, line, path, message)))
    problems.sort(key=lambda item: (item[0], item[1]))
    return [problem for _, _, problem in problems]
