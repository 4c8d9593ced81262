"""One sync job opened: mapping loaded, connections made, the form read and checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy.engine import Engine

from connector.config import ProjectConfig
from connector.errors import ConfigError, PermanentKintoneError, PreflightError, SourceError
from connector.kintone.client import DEFAULT_RETRY, KintoneClient, RetryPolicy
from connector.kintone.connect import connect
from connector.kintone.writer import RecordWriter, WriteResult
from connector.mapping.form import Form
from connector.mapping.mapper import Mapper, Outgoing, Refusal
from connector.mapping.spec import RECORD_ID, MappingSpec
from connector.preflight import check_mapping
from connector.rights import Rights, assess, needed, probe, reach
from connector.source import SqlSource, TableSpec, create_engine_from_url
from connector.state.owned import OwnedItems
from connector.userapi.client import UserApiClient
from connector.userapi.lists import ListWriter
from connector.userapi.mapper import ITEMS, UserMapper
from connector.userapi.preflight import check_user_mapping, check_user_table, user_rights
from connector.userapi.tables import LISTS
from connector.userapi.writer import EntryWriter

APP_NOT_FOUND = "GAIA_AP01"
"""Kintone's code for an app id that does not exist: `404 GAIA_AP01 "The app (ID: n) not
found. The app may have been deleted."` (kintone/cli-kintone features/record/common.feature)."""


@dataclass
class Job:
    """Everything one run needs, resolved and checked."""

    name: str
    spec: MappingSpec
    app: int | str
    """The app id; for a USER table, the table's name."""
    client: KintoneClient
    form: Form
    source: SqlSource
    children: dict[str, SqlSource]
    engine: Engine
    owns_engine: bool
    owns_http: bool
    problems: list[str] = field(default_factory=list)
    """Pre-flight problems, when opened with `strict=False`."""
    env: Mapping[str, str] | None = None
    """The environment secrets come from (the process's when None)."""

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
    client_type = KintoneClient if spec.user_table is None else UserApiClient
    client = client_type(
        http, guest_space=spec.guest_space, retry=retry, requests_per_second=requests_per_second
    )
    try:
        app: int | str
        if spec.user_table is not None:
            app, form = str(spec.user_table), Form.from_properties({})
        else:
            app = spec.app if isinstance(spec.app, int) else client.find_app(str(spec.app))
            where = str(project.mapping_path(name))
            form = Form.from_properties(read_form(client, app, file=where, key="app"))
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
    child_sources = {code: t.source for code, t in spec.subtables.items()}
    if spec.items is not None and spec.items.source is not None:
        child_sources[ITEMS] = spec.items.source
    children = {
        code: SqlSource(
            engine,
            TableSpec(c.table, c.query, tuple(c.parent_key), tuple(c.order_by)),
            chunk_size=chunk,
        )
        for code, c in child_sources.items()
    }
    job = Job(
        name, spec, app, client, form, source, children, engine, owns_engine, owns_http, env=env
    )
    try:
        child_columns = {code: s.columns() for code, s in children.items()}
        problems = (
            check_mapping(spec, form, source.columns(), child_columns)
            if spec.user_table is None
            else check_user_mapping(spec, source.columns(), child_columns.get(ITEMS))
        )
    except BaseException:
        job.close()
        raise
    if problems and strict:
        job.close()
        raise PreflightError(str(app), problems)
    job.problems = problems
    return job


def read_form(client: KintoneClient, app: int, *, file: str | None, key: str) -> dict[str, Any]:
    """The app's form; an app that does not exist is a configuration problem (exit 2).

    Raises:
        ConfigError: Kintone answers GAIA_AP01, the app is not found; names `file` and `key`.
    """
    try:
        return client.form(app)
    except PermanentKintoneError as exc:
        if exc.code != APP_NOT_FOUND:
            raise
        raise ConfigError(
            f"app {app} does not exist, or was deleted [{exc.status} {exc.code}]; "
            "give the id of an app these credentials can see",
            file=file,
            key=key,
        ) from None


class Writer(Protocol):
    """What a run needs of a writer: Kintone records, or a USER table's entries."""

    concurrency: int

    def write(self, batch: Sequence[Outgoing]) -> WriteResult: ...

    def plan(self, batch: Sequence[Outgoing]) -> WriteResult: ...

    def existing(
        self, values: Sequence[Any], tables: Sequence[str], *, field: str | None = None
    ) -> dict[str, dict[str, Any]]: ...

    def delete(self, record_ids: Sequence[int]) -> list[int]: ...


def make_mapper(job: Job, base_dir: Path) -> Mapper | UserMapper:
    """The mapper of a job's destination: an app's form, or a USER table.

    Raises:
        ConfigError: a field the app lacks, or a password variable that is not set.
    """
    if job.spec.user_table is not None:
        return UserMapper(job.spec, env=job.env)
    return Mapper(job.spec, job.form, base_dir=base_dir)


def make_writer(
    job: Job, project: ProjectConfig, owned: OwnedItems | None, *, use_bulk: bool = True
) -> Writer:
    """The writer of a job's destination; `owned` is the job's ledger of USER list entries."""
    spec, limits = job.spec, project.limits
    client = job.client
    if spec.user_table is None:
        assert isinstance(job.app, int)
        return RecordWriter(
            client,
            job.app,
            spec.mode,
            spec.key,
            use_bulk=use_bulk,
            concurrency=limits.concurrency,
            isolation_requests=limits.isolation_requests,
        )
    assert isinstance(client, UserApiClient)
    if spec.user_table in LISTS:
        return ListWriter(client, spec.user_table, owned)
    return EntryWriter(
        client,
        spec.user_table,
        spec.mode,
        spec.on_delete,
        isolation_requests=limits.isolation_requests,
    )


@dataclass
class CheckResult:
    """What `kintone-sync check` found: the app answers, the source reads, every problem."""

    job: str
    app: int | str
    records_read: int
    key_found: bool | None
    """Whether the first source row's key matched a record (None: no key, or no rows)."""
    source_rows: int
    problems: list[str]
    rows_mapped: int = 0
    """Source rows mapped as a run would map them (the first `rows`, or all)."""
    refusals: list[Refusal] = field(default_factory=list)
    """What a run would refuse among the rows mapped, before any request."""
    rights: Rights | None = None
    """The rights the job needs and the credentials hold (None for a USER table)."""
    warnings: list[str] = field(default_factory=list)
    """Rights in excess, and credentials that reach further than the app."""


def check(
    project: ProjectConfig,
    name: str,
    *,
    rows: int | None = 1000,
    http: httpx.Client | None = None,
    engine: Engine | None = None,
    env: Mapping[str, str] | None = None,
) -> CheckResult:
    """Test connection, rights, mapping and source without changing anything.

    One record is read, one query filtered on the key runs, the rights the credentials hold
    are probed with requests that change nothing (`connector.rights`): those the job needs
    and lacks are problems, those it never uses are warnings; the source's keys are verified,
    and the first `rows` source rows (all with None) are mapped as a run maps them, so their
    refusals show now.

    Raises:
        ConfigError, KintoneError: the job cannot even be opened (bad file, no connection).
    """
    job = open_job(project, name, http=http, engine=engine, env=env, strict=False)
    try:
        problems = list(job.problems)
        rights: Rights | None = None
        warnings: list[str] = []
        if isinstance(job.client, UserApiClient):
            records, key_found = check_user_table(job.client, job.spec, _first_key_value(job))
            problems += user_rights(job.client, job.spec)
        else:
            assert isinstance(job.app, int)
            records = job.client.call(
                "GET", "records", {"app": job.app, "query": "limit 1"}, app=job.app
            )["records"]
            key_found = _probe_key(job)
            rights = assess(job.spec, needed(job.spec, job.form), probe(job.client, job.app))
            problems += rights.missing
            warnings += rights.excess
            connection = job.spec.connection
            auth = project.connections[connection].auth
            warnings += reach(connection, auth, job.app, job.form, job.spec)
        count = 0
        try:
            job.source.verify_keys()
            count = job.source.count()
        except SourceError as exc:
            problems.append(f"source: {exc}")
        result = CheckResult(name, job.app, len(records), key_found, count, problems, rights=rights)
        result.warnings = warnings
        if not job.problems:
            _map_sample(job, project, rows, result)
        return result
    finally:
        job.close()


def _map_sample(job: Job, project: ProjectConfig, rows: int | None, result: CheckResult) -> None:
    """Map source rows as a run would; what stops a run becomes a problem, what a run would
    refuse becomes a refusal."""
    from connector.diff import key_problem
    from connector.runner import rows_of

    cursor = job.spec.source.cursor
    try:
        if cursor is not None and cursor not in job.source.columns():
            result.problems.append(
                f"source.cursor {cursor!r} is not a column of {job.source.name}; "
                "name a column that grows when a row changes"
            )
        mapper = make_mapper(job, project.root)
        duplicates = job.source.duplicate_keys()
        for row, children in rows_of(job.source, job.children):
            if rows is not None and result.rows_mapped >= rows:
                break
            result.rows_mapped += 1
            problem = key_problem(row, mapper.primary_key, duplicates)
            out = [problem] if problem is not None else mapper.map(row, children)
            if isinstance(out, list):
                result.refusals += out
    except (ConfigError, SourceError) as exc:
        result.problems.append(str(exc))


def _first_key_value(job: Job) -> Any:
    """The key column's value in the first source row; None without one."""
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
    return first[column]


def _probe_key(job: Job) -> bool | None:
    key = job.spec.key
    first = _first_key_value(job)
    if key is None or first is None:
        return None
    if key == RECORD_ID and not str(first).strip().isdigit():
        return None  # the mapping refuses such a row; the sample shows it
    value = str(first).replace("\\", "\\\\").replace('"', '\\"')
    query = f'{key} = "{value}" limit 1' if key != RECORD_ID else f"$id = {value} limit 1"
    found = job.client.call("GET", "records", {"app": job.app, "query": query}, app=job.app)
    return bool(found["records"])
