"""`kintone-sync validate`: every configuration file checked offline, every problem collected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from connector.config import ProjectConfig, check_job_name, job_problems
from connector.errors import ConfigError
from connector.mapping.spec import MappingSpec
from connector.yamlfile import Problem, YamlFile, load_yaml


@dataclass(frozen=True)
class Validation:
    """The files read and what is wrong in them."""

    files: list[str]
    problems: list[Problem]


def validate(project_file: Path, seeds: Sequence[Path] = ()) -> Validation:
    """Check the project file, every mapping file in its mappings directory and the emulator
    seeds given, without a connection, the network or the environment; a broken project file
    still lets the mapping files be checked."""
    files = [str(project_file)]
    problems: list[Problem] = []
    project, raw = _project(project_file, problems)
    mappings_dir = project.mappings_dir if project else raw.get("mappings_dir", "mappings")
    root = project_file.parent
    directory = root / (mappings_dir if isinstance(mappings_dir, str) else "mappings")
    connections = _connections(project, raw)
    for path in sorted(directory.glob("*.yml")):
        problems.append(Problem(str(path), None, None, "not read: mapping files end in .yaml"))
    for path in sorted(directory.glob("*.yaml")):
        if path.name.startswith("."):
            continue
        files.append(str(path))
        try:
            check_job_name(path.stem)
        except ConfigError as exc:
            problems.append(Problem(str(path), None, None, exc.message))
            continue
        problems += _mapping(path, connections)
    for seed in seeds:
        files.append(str(seed))
        problems += _seed(seed)
    return Validation(files, problems)


def _project(path: Path, problems: list[Problem]) -> tuple[ProjectConfig | None, dict[str, Any]]:
    if not path.is_file():
        problems.append(Problem(str(path), None, None, "the project file does not exist"))
        return None, {}
    file = _read(path, "project file", problems)
    if file is None:
        return None, {}
    raw = file.data if isinstance(file.data, dict) else {}
    project = _model(file, ProjectConfig, {**raw, "root": path.parent}, problems)
    if not isinstance(project, ProjectConfig):
        return None, raw
    problems += job_problems(project, file)
    return project, raw


def _connections(project: ProjectConfig | None, raw: dict[str, Any]) -> set[str] | None:
    """The connection names, when the project file gives them readably."""
    if project is not None:
        return set(project.connections)
    given = raw.get("connections")
    return {str(name) for name in given} if isinstance(given, dict) else None


def _mapping(path: Path, known: set[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    file = _read(path, "mapping file", problems)
    if file is None:
        return problems
    spec = _model(file, MappingSpec, file.data, problems)
    if isinstance(spec, MappingSpec) and known is not None and spec.connection not in known:
        problems.append(
            Problem(
                str(path),
                file.line_of(["connection"]),
                "connection",
                f"connection {spec.connection!r} is not in the project file "
                f"(known: {', '.join(sorted(known)) or 'none'})",
            )
        )
    return problems


def _seed(path: Path) -> list[Problem]:
    """A seed as the emulator reads it; a problem found with its line where the strict reader
    can place it."""
    from connector.emulator.seed import Seed, SeedError, load_seed

    try:
        load_seed(path)
        return []
    except SeedError as exc:
        loose = str(exc).removeprefix(f"{path}: ")
    problems: list[Problem] = []
    try:
        file = load_yaml(path, "emulator seed")
    except ConfigError:
        return [Problem(str(path), None, None, loose)]
    _model(file, Seed, file.data or {}, problems)
    return problems or [Problem(str(path), None, None, loose)]


def _read(path: Path, what: str, problems: list[Problem]) -> YamlFile | None:
    try:
        file = load_yaml(path, what)
    except ConfigError as exc:
        problems.append(Problem(str(path), None, exc.key, exc.message))
        return None
    if not isinstance(file.data, dict | None):
        problems.append(Problem(str(path), None, None, f"a {what} must be a mapping of keys"))
        return None
    return file


def _model(
    file: YamlFile, model: type[BaseModel], data: Any, problems: list[Problem]
) -> BaseModel | None:
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        problems += file.problems(exc)
        return None
