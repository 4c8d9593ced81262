"""One sync job opened: mapping loaded, connections made, the form read and checked."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field

import httpx
from sqlalchemy.engine import Engine

from connector.config import ProjectConfig
from connector.errors import PreflightError, SourceError
from connector.kintone.client import DEFAULT_RETRY, KintoneClient, RetryPolicy
from connector.kintone.connect import connect
from connector.mapping.form import Form
from connector.mapping.spec import MappingSpec
from connector.preflight import check_mapping, check_rights
from connector.source import SqlSource, TableSpec, create_engine_from_url


@dataclass
class Job:
    """Everything one run needs, resolved and checked."""

    name: str
    spec: MappingSpec
    app: int
    client: KintoneClient
    form: Form
    source: SqlSource
    children: dict[str, SqlSource]
    engine: Engine
    owns_engine: bool
    owns_http: bool
    problems: list[str] = field(default_factory=list)
    """Pre-flight problems, when opened with `strict=False`."""

    def close(self) -> None:
        """Release the warehouse and HTTP connections the job opened itself."""
        if self.owns_engine:
            self.engine.dispose()
        if self.owns_http:
            self.client.http.close()


def open_job(
    project: ProjectConfig,
    name: str,
    *,
    http: httpx.Client | None = None,
    engine: Engine | None = None,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    requests_per_second: float | None = None,
    strict: bool = True,
) -> Job:
    """Load a job's mapping, connect, read the app's form and check the mapping against it.

    With `strict=False` the problems are kept in `Job.problems` instead of raised.

    Raises:
        ConfigError, SourceError, KintoneError: as the steps fail.
        PreflightError: the mapping, the app and the source disagree; lists every problem.
    """
    spec = project.mapping(name)
    owns_engine = engine is None
    owns_http = http is None
    engine = engine or create_engine_from_url(project.source_url)
    if http is None:
        http = connect(project.connections[spec.connection], root=project.root, env=env)
    client = KintoneClient(
        http, guest_space=spec.guest_space, retry=retry, requests_per_second=requests_per_second
    )
    try:
        app = spec.app if isinstance(spec.app, int) else client.find_app(spec.app)
        form = Form.from_properties(client.form(app))
    except BaseException:
        if owns_http:
            http.close()
        if owns_engine:
            engine.dispose()
        raise
    chunk = project.source.chunk_size
    source = SqlSource(
        engine,
        TableSpec(spec.source.table, spec.source.query, tuple(spec.source.primary_key)),
        chunk_size=chunk,
    )
    children = {
        code: SqlSource(
            engine,
            TableSpec(
                t.source.table, t.source.query, tuple(t.source.parent_key), tuple(t.source.order_by)
            ),
            chunk_size=chunk,
        )
        for code, t in spec.subtables.items()
    }
    job = Job(name, spec, app, client, form, source, children, engine, owns_engine, owns_http)
    try:
        problems = check_mapping(
            spec, form, source.columns(), {code: s.columns() for code, s in children.items()}
        )
    except BaseException:
        job.close()
        raise
    if problems and strict:
        job.close()
        raise PreflightError(str(app), problems)
    job.problems = problems
    return job


@dataclass
class CheckResult:
    """What `kintone-sync check` found: the app answers, the source reads, every problem."""

    job: str
    app: int
    records_read: int
    key_found: bool | None
    """Whether the first source row's key matched a record (None: no key, or no rows)."""
    source_rows: int
    problems: list[str]


def check(
    project: ProjectConfig,
    name: str,
    *,
    http: httpx.Client | None = None,
    engine: Engine | None = None,
    env: Mapping[str, str] | None = None,
) -> CheckResult:
    """Test connection, rights, mapping and source without changing anything.

    One record is read, one query filtered on the key runs, the rights the mode needs are
    probed with writes that cannot land, and the source's keys are verified.

    Raises:
        ConfigError, KintoneError: the job cannot even be opened (bad file, no connection).
    """
    job = open_job(project, name, http=http, engine=engine, env=env, strict=False)
    try:
        problems = list(job.problems)
        records = job.client.call(
            "GET", "records", {"app": job.app, "query": "limit 1"}, app=job.app
        )["records"]
        key_found = _probe_key(job)
        problems += check_rights(job.client, job.app, job.spec.mode)
        rows = 0
        try:
            job.source.verify_keys()
            rows = job.source.count()
        except SourceError as exc:
            problems.append(f"source: {exc}")
        return CheckResult(name, job.app, len(records), key_found, rows, problems)
    finally:
        job.close()


def _probe_key(job: Job) -> bool | None:
    key = job.spec.key
    if key is None or job.problems:
        return None
    column = job.spec.fields[key].column
    if column is None:
        return None
    with closing(job.source.read()) as chunks:
        first = next(iter(next(chunks, [])), None)
    if first is None or first.get(column) in (None, ""):
        return None
    value = str(first[column]).replace("\\", "\\\\").replace('"', '\\"')
    query = f'{key} = "{value}" limit 1' if key != "$id" else f"$id = {first[column]} limit 1"
    found = job.client.call("GET", "records", {"app": job.app, "query": query}, app=job.app)
    return bool(found["records"])
