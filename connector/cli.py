"""The `kintone-sync` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from connector.runner import SyncReport

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
"""A run that wrote what it could but refused some rows."""


@click.group()
@click.version_option(package_name="kintone-sync")
def main() -> None:
    """Sync warehouse tables into Kintone apps."""


def parse_fault(spec: str) -> dict[str, Any]:
    """`path=bulkRequest.json,status=503,code=GAIA_DA02,after=2,times=1,drop=after` as a dict.

    Raises:
        click.BadParameter: an unknown key or a value of the wrong kind.
    """
    ints = {"status", "after", "times"}
    known = ints | {"path", "method", "code", "message", "drop"}
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in known:
            raise click.BadParameter(
                f"{part!r}: expected key=value with key one of {', '.join(sorted(known))}",
                param_hint="--fault",
            )
        if key in ints:
            if not value.isdigit():
                raise click.BadParameter(f"{key} must be a whole number", param_hint="--fault")
            out[key] = int(value)
        else:
            out[key] = value
    if "path" not in out:
        raise click.BadParameter("a fault needs path=...", param_hint="--fault")
    return out


@main.command()
@click.option(
    "--seed",
    "seed_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Seed file (YAML) declaring apps, fields, tokens, records and users.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep records in this file so they survive a restart.",
)
@click.option("--latency-ms", type=float, help="Time added to every answer, in milliseconds.")
@click.option(
    "--latency-per-record-ms",
    type=float,
    help="Time added per record written or read, in milliseconds.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Scripted fault, e.g. path=bulkRequest.json,status=503,after=2,times=1 "
    "(keys: path, method, status, code, message, drop=before|after, after, times).",
)
@click.option("--fault-rate", type=float, help="Share of requests answered by a random fault.")
@click.option("--random-seed", type=int, help="Seed of the random fault generator.")
@click.option(
    "--subtable-subfields",
    type=click.Choice(["clear", "keep"]),
    help="Subfields left out of an id-matched table row: clear (default) or keep.",
)
@click.option(
    "--legacy-520",
    is_flag=True,
    default=None,
    help="Answer the codes Kintone once sent as HTTP 520 with 520.",
)
def emulator(
    seed_path: Path,
    host: str,
    port: int,
    data: Path | None,
    latency_ms: float | None,
    latency_per_record_ms: float | None,
    faults: tuple[str, ...],
    fault_rate: float | None,
    random_seed: int | None,
    subtable_subfields: str | None,
    legacy_520: bool | None,
) -> None:
    """Serve a local Kintone emulator from a seed file."""
    import uvicorn

    from connector.emulator import FaultRule, create_app, load_seed
    from connector.emulator.seed import SeedError

    try:
        seed = load_seed(seed_path)
    except SeedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    changes: dict[str, Any] = {}
    latency = seed.options.latency
    if latency_ms is not None:
        latency = latency.model_copy(update={"per_request_ms": latency_ms})
    if latency_per_record_ms is not None:
        latency = latency.model_copy(update={"per_record_ms": latency_per_record_ms})
    changes["latency"] = latency
    if fault_rate is not None:
        changes["fault_rate"] = fault_rate
    if random_seed is not None:
        changes["seed_random"] = random_seed
    if subtable_subfields is not None:
        changes["subtable_omitted_subfields"] = subtable_subfields
    if legacy_520 is not None:
        changes["legacy_520"] = legacy_520
    options = seed.options.model_copy(update=changes)
    app = create_app(seed, options=options, data=data)
    for spec in faults:
        try:
            rule = FaultRule(**parse_fault(spec))
        except (TypeError, ValueError) as exc:
            click.echo(f"error: --fault {spec!r}: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        app.state.emulator.api.faults.add(rule)
    click.echo(
        f"Kintone emulator on http://{host}:{port} (official clients: http://localhost:{port})"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


# --- sync commands ----------------------------------------------------------------------------

project_option = click.option(
    "--project",
    "project_file",
    default="kintone-sync.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The project file.",
)
output_option = click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json prints one object for machines.",
)


@contextmanager
def _errors() -> Iterator[None]:
    """Our errors as one message and an exit code; anything else is a bug and shows its trace."""
    from connector.errors import ConfigError, KintoneSyncError, PreflightError

    try:
        yield
    except (ConfigError, PreflightError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except KintoneSyncError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def _summary(report: SyncReport) -> str:
    verb = "would be " if report.dry_run else ""
    lines = [
        f"{report.job} -> app {report.app} ({report.mode}{', dry run' if report.dry_run else ''})",
        f"  rows read   {report.rows_read:>9,}",
        f"  {verb}inserted    {report.inserted:>9,}",
        f"  {verb}updated     {report.updated:>9,}",
        f"  unchanged   {report.unchanged:>9,}",
        f"  refused     {report.refused:>9,}",
        f"  API calls   {report.calls:>9,}"
        + (f"  ({report.retries} retried)" if report.retries else ""),
        f"  duration    {report.seconds:>9.1f} s",
    ]
    for r in report.refusals[:20]:
        key = ", ".join(str(v) for v in r.key)
        where = f" field {r.field}" if r.field else ""
        ref = f" (id {r.error_id})" if r.error_id else ""
        lines.append(f"  refused row {key}{where}: {r.message} [{r.code}]{ref}")
    if len(report.refusals) > 20:
        lines.append(f"  ... and {len(report.refusals) - 20} more refusals (--output json)")
    return "\n".join(lines)


def _emit(report: SyncReport, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
    else:
        click.echo(_summary(report))
    if report.refused:
        sys.exit(EXIT_REFUSED)


@main.command()
@click.argument("job")
@project_option
@output_option
def run(job: str, project_file: Path, output: str) -> None:
    """Sync one job (a mapping file in mappings/) and print what it did."""
    from connector.config import load_project
    from connector.runner import sync

    with _errors():
        report = sync(load_project(project_file), job)
    _emit(report, output)


@main.command()
@click.argument("job")
@project_option
@output_option
def plan(job: str, project_file: Path, output: str) -> None:
    """Show what a run would insert, update and refuse; writes nothing."""
    from connector.config import load_project
    from connector.runner import sync

    with _errors():
        report = sync(load_project(project_file), job, dry_run=True)
    _emit(report, output)


@main.command()
@click.argument("job")
@project_option
def check(job: str, project_file: Path) -> None:
    """Test connection, rights, mapping and source, changing nothing; every problem at once."""
    from connector.config import load_project
    from connector.job import check as run_check

    with _errors():
        result = run_check(load_project(project_file), job)
    found = {True: "found its record", False: "no record has it yet", None: "not tried"}
    click.echo(f"{job}: app {result.app} answers")
    click.echo(f"  records read: {result.records_read}")
    click.echo(f"  first source row's key: {found[result.key_found]}")
    click.echo(f"  source rows: {result.source_rows:,}")
    if result.problems:
        click.echo(f"  {len(result.problems)} problem(s):")
        for problem in result.problems:
            click.echo(f"  - {problem}")
        sys.exit(EXIT_USAGE)
    click.echo("  no problems: ready to run")


@main.command()
def schema() -> None:
    """Print the mapping file's JSON Schema (for editors)."""
    from connector.mapping.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@project_option
@click.option("--port", default=0, type=int, help="Emulator port; a free one when 0.")
def demo(project_file: Path, port: int) -> None:
    """Build the sample warehouse, start a local emulator, and run every job of the project."""
    from connector.demo import run_demo

    with _errors():
        reports = run_demo(project_file, port=port, echo=click.echo)
    for report in reports:
        click.echo(_summary(report))
    if any(r.refused for r in reports):
        sys.exit(EXIT_REFUSED)


@main.command()
@click.argument("job")
@click.option("--app", required=True, help="App id or app code.")
@click.option("--table", required=True, help="Source table (schema-qualified allowed).")
@click.option("--primary-key", help="Comma-separated primary key columns.")
@click.option("--key", help="Unique field code to match on (default: the first one matched).")
@click.option(
    "--mode", type=click.Choice(["insert", "update", "upsert"]), default="upsert", show_default=True
)
@click.option("--connection", default="default", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing mapping file.")
@project_option
def init(
    job: str,
    app: str,
    table: str,
    primary_key: str | None,
    key: str | None,
    mode: str,
    connection: str,
    force: bool,
    project_file: Path,
) -> None:
    """Write mappings/JOB.yaml from the app's fields and the table's columns, matched by name."""
    from connector.config import load_project
    from connector.errors import ConfigError
    from connector.job import _local_url
    from connector.kintone.client import KintoneClient
    from connector.kintone.connect import connect
    from connector.kintone.form import Form
    from connector.scaffold import scaffold
    from connector.source import SqlSource, TableSpec, create_engine_from_url

    with _errors():
        project = load_project(project_file)
        target = project.mapping_path(job)
        if target.exists() and not force:
            raise ConfigError(
                "the mapping file exists; pass --force to overwrite", file=str(target)
            )
        if connection not in project.connections:
            raise ConfigError(f"no connection {connection!r}", file=str(project_file))
        app_ref: int | str = int(app) if app.isdigit() else app
        with connect(project.connections[connection], root=project.root) as http:
            client = KintoneClient(http)
            app_id = app_ref if isinstance(app_ref, int) else client.find_app(app_ref)
            form = Form.from_properties(client.form(app_id))
        engine = create_engine_from_url(_local_url(project.source.url, project.root))
        try:
            columns = SqlSource(engine, TableSpec(table=table)).columns()
        finally:
            engine.dispose()
        text = scaffold(
            form,
            columns,
            app=app_ref,
            table=table,
            primary_key=[c.strip() for c in primary_key.split(",")] if primary_key else None,
            key=key,
            mode=mode,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}; check it with: kintone-sync check {job}")


@main.group()
def auth() -> None:
    """Sign in to Kintone with OAuth."""


@auth.command("login")
@click.option("--connection", default="default", show_default=True)
@project_option
def auth_login(connection: str, project_file: Path) -> None:
    """Open Kintone's consent page and keep the refresh token for scheduled runs."""
    import webbrowser

    from connector.config import load_project
    from connector.errors import ConfigError
    from connector.kintone.login import login

    def show(url: str) -> None:
        click.echo(f"Sign in at:\n  {url}")
        webbrowser.open(url)

    with _errors():
        project = load_project(project_file)
        if connection not in project.connections:
            raise ConfigError(f"no connection {connection!r}", file=str(project_file))
        path = login(project.connections[connection], root=project.root, open_browser=show)
    click.echo(f"signed in; the refresh token is in {path} (readable by you only)")


if __name__ == "__main__":
    main()
