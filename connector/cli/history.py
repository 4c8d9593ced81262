"""`runs` and `rejects`: what earlier runs did, and the rows they refused."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from connector.cli import _errors, confirm, main, output_option, project_option, yes_option


@main.command("runs")
@click.argument("job", required=False)
@click.option("--limit", default=20, show_default=True, help="How many runs, newest first.")
@project_option
@output_option
def runs_command(job: str | None, limit: int, project_file: Path, output: str) -> None:
    """List the latest runs, of one job or of all."""
    from connector.config import load_project
    from connector.state import StateStore

    with _errors():
        project = load_project(project_file)
        if job is not None:
            project.require_job(job)
        store = StateStore.open(project.state.url, project.root)
        try:
            found = store.log.runs(job, limit)
        finally:
            store.close()
    if output == "json":
        click.echo(json.dumps(found, ensure_ascii=False))
        return
    if not found:
        click.echo("no runs yet")
        return
    click.echo(
        f"{'run':>5}  {'job':<16} {'started':<20} {'status':<11} {'read':>8} {'ins':>7} "
        f"{'upd':>7} {'same':>8} {'refused':>7} {'del':>5} {'calls':>6}"
    )
    for r in found:
        click.echo(
            f"{r['id']:>5}  {r['job']:<16.16} {r['started']:<20} {r['status']:<11} "
            f"{r.get('rows_read', 0):>8,} {r.get('inserted', 0):>7,} {r.get('updated', 0):>7,} "
            f"{r.get('unchanged', 0):>8,} {r.get('refused', 0):>7,} {r.get('deleted', 0):>5,} "
            f"{r.get('api_calls', 0):>6,}"
        )
        for c in r.get("conflicts") or []:
            key = ", ".join(str(v) for v in c["key"])
            fields = ", ".join(c["fields"]) or "-"
            click.echo(
                one_line(
                    f"       conflict: row {key} record {c['record_id']} "
                    f"(revision {c['revision_written']} -> {c['revision_found'] or 'newer'}), "
                    f"fields {fields}: {c['resolution']}"
                )
            )
        for error in r.get("errors") or []:
            click.echo(f"       error: {error}")


@main.command()
@click.argument("job")
@click.option(
    "--output",
    "--format",
    "output",
    type=click.Choice(["text", "csv", "json"]),
    default="text",
    show_default=True,
    help="csv and json export every refused row (--format is the old name).",
)
@click.option(
    "--file",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the export to this file instead of the terminal.",
)
@click.option("--clear", is_flag=True, help="Forget the job's rejects (after asking).")
@yes_option
@project_option
def rejects(
    job: str, output: str, target: Path | None, clear: bool, yes: bool, project_file: Path
) -> None:
    """Show the rows Kintone or the mapping refused; they are tried again on the next run."""
    from connector.cli.state import opened
    from connector.config import load_project
    from connector.state.admin import clear_rejects

    with _errors():
        project = load_project(project_file)
        project.require_job(job)
        with opened(project) as store:
            found = store.log.rejects(job)
            if clear:
                refused = len({json.dumps(r.pk, default=str) for r in found})
                confirm(
                    f"rejects --clear forgets {refused} refused row(s) of job {job}; a row that is "
                    "refused again comes back",
                    yes,
                    f"rejects --clear {job}",
                )
                cleared = clear_rejects(store.log.db, job)
    if clear:
        if output == "json":
            click.echo(json.dumps({"job": job, "cleared": cleared}))
        else:
            click.echo(f"forgot {cleared} reject(s) of job {job}")
        return
    rows = [
        {
            "key": ", ".join(str(v) for v in r.pk),
            "field": r.field or "",
            "code": r.code,
            "message": r.message,
            "error_id": r.error_id or "",
            "run": r.run_id,
            "at": datetime.fromtimestamp(r.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for r in found
    ]
    refused_rows = len({json.dumps(r.pk, default=str) for r in found})
    counted = f"{refused_rows} refused row(s)"
    if len(rows) != refused_rows:
        counted += f", {len(rows)} reasons"
    if output == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["key", "field", "code", "message", "error_id", "run", "at"]
        )
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
        text = buffer.getvalue()
    else:
        lines = [f"{counted} of job {job}"]
        for r in rows:
            ref = f" (id {r['error_id']})" if r["error_id"] else ""
            line = f"  {r['key']}  {r['field'] or '-'}: {r['message']} [{r['code']}]{ref}"
            lines.append(one_line(line))
        text = "\n".join(lines) + "\n"
    if target is not None:
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {counted} to {target}")
    else:
        click.echo(text, nl=False)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection):
# https://owasp.org/www-community/attacks/CSV_Injection
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet will show as text: a leading `'` before a formula start."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def one_line(text: str) -> str:
    """Text for one terminal line: line breaks and other control characters escaped, so a
    message from Kintone or the warehouse cannot forge lines or move the cursor."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
