"""`init`, `auth login`, `schema`: set a project up."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from connector.cli import EXIT_USAGE, _errors, main, output_option, project_option
from connector.cli.history import one_line


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
@output_option
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
    output: str,
) -> None:
    """Write mappings/JOB.yaml from the app's fields and the table's columns, matched by name."""
    from connector.config import load_project
    from connector.errors import ConfigError
    from connector.job import read_form
    from connector.kintone.client import KintoneClient
    from connector.kintone.connect import connect
    from connector.mapping.form import Form
    from connector.scaffold import scaffold
    from connector.source import (
        SqlSource,
        TableSpec,
        create_engine_from_url,
        declared_primary_key,
    )

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
            form = Form.from_properties(read_form(client, app_id, file=None, key="--app"))
        engine = create_engine_from_url(project.source_url)
        try:
            columns = SqlSource(engine, TableSpec(table=table)).columns()
            # --primary-key wins; then the key the table declares; scaffold guesses without.
            keys = [c.strip() for c in primary_key.split(",")] if primary_key else None
            keys = keys or declared_primary_key(engine, table) or None
        finally:
            engine.dispose()
        text = scaffold(
            form, columns, app=app_ref, table=table, primary_key=keys, key=key, mode=mode
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if output == "json":
        click.echo(json.dumps({"job": job, "wrote": str(target)}, ensure_ascii=False))
    else:
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


@main.command()
def schema() -> None:
    """Print the mapping file's JSON Schema (for editors)."""
    from connector.mapping.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@project_option
@click.option(
    "--seed",
    "seeds",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An emulator seed to check too (repeatable).",
)
@output_option
def validate(project_file: Path, seeds: tuple[Path, ...], output: str) -> None:
    """Check the project file, every mapping file and the seeds given, offline: no connection,
    no network. Lists every problem with its file, line and key; exit 2 when there is one."""
    from connector.validate import validate as run_validate

    with _errors():
        found = run_validate(project_file, seeds)
    code = EXIT_USAGE if found.problems else 0
    if output == "json":
        problems = [asdict(p) for p in found.problems]
        data = {"files": found.files, "problems": problems, "exit_code": code}
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        for problem in found.problems:
            click.echo(one_line(str(problem)))
        files = len({p.file for p in found.problems})
        click.echo(
            f"{len(found.problems)} problem(s) in {files} of {len(found.files)} file(s)"
            if found.problems
            else f"ok: {len(found.files)} file(s) checked"
        )
    sys.exit(code)
