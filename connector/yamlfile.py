"""YAML configuration files read strictly: duplicate keys refused, the line of every key kept."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from connector.errors import ConfigError

Location = tuple[str, ...]
"""Keys and list indexes, as text, from the top of the file."""

# The words YAML 1.1 reads as booleans without quotes: `app: ON` is True, not the text "ON".
_BOOLEAN_WORDS = "yes, no, on, off, true, false"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML says keys are unique;
    PyYAML keeps the last one without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in seen:
                raise _DuplicateKeyError(str(key), line, seen[key])
            if isinstance(key, Hashable):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKeyError(Exception):
    def __init__(self, key: str, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


@dataclass(frozen=True)
class YamlFile:
    """A file's data and the line each key (or list item) starts on."""

    path: Path
    data: Any
    lines: dict[Location, int]

    def line_of(self, location: Sequence[str | int]) -> int | None:
        """The line of the deepest part of `location` found in the file."""
        parts = tuple(str(p) for p in location)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None

    def problems(self, exc: ValidationError) -> list[Problem]:
        """A pydantic error as one Problem per key, each with its line."""
        found = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key; check the spelling against the documentation"
            elif err["type"] == "missing":
                message = "required key is missing"
            elif isinstance(err.get("input"), bool):
                message += (
                    f"; YAML reads {_BOOLEAN_WORDS} as a boolean: quote the value if it is a "
                    "name or code"
                )
            found.append(Problem(str(self.path), self.line_of(loc), key, message))
        return found

    def explain(self, exc: ValidationError) -> ConfigError:
        """A pydantic error as one ConfigError naming the file, and each key with its line."""
        text = "; ".join(p.where_and_what() for p in self.problems(exc))
        return ConfigError(text, file=str(self.path))


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration file: where (file, line, key) and what."""

    file: str
    line: int | None
    key: str | None
    message: str

    def where_and_what(self) -> str:
        """`line 3, source.table: message`, without the file."""
        where = ", ".join(p for p in (f"line {self.line}" if self.line else None, self.key) if p)
        return f"{where}: {self.message}" if where else self.message

    def __str__(self) -> str:
        return f"{self.file}: {self.where_and_what()}"


def load_yaml(path: Path, what: str) -> YamlFile:
    """Read a YAML file strictly.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or repeats a key (with the line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError:
        raise ConfigError(f"the {what} is not UTF-8 text", file=str(path)) from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _DuplicateKeyError as dup:
        raise ConfigError(
            f"line {dup.line}: key {dup.key!r} is given twice (first on line {dup.first}); "
            "keep one",
            file=str(path),
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=str(path)) from exc
    finally:
        loader.dispose()
    lines: dict[Location, int] = {}
    if node is not None:
        _walk(loader, node, (), lines)
    return YamlFile(path, data, lines)


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, at: Location, lines: dict[Location, int]
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_scalar(key_node)
            here = (*at, str(key))
            lines.setdefault(here, key_node.start_mark.line + 1)
            _walk(loader, value_node, here, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*at, str(index))
            lines.setdefault(here, item.start_mark.line + 1)
            _walk(loader, item, here, lines)
