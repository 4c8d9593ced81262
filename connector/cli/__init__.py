"""The `kintone-sync` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
"""A run that wrote what it could but refused some rows."""
EXIT_DIFFERS = 4
"""`verify` found records missing, drifted or orphaned, and did not repair them."""


@click.group()
@click.version_option(package_name="kintone-sync")
@click.option("-v", "--verbose", is_flag=True, help="Log retries and batches; print tracebacks.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only errors and a one-line result; no progress."
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object a line on stderr, with time, level, run id, job, app, error id.",
)
def main(verbose: bool, quiet: bool, log_format: str) -> None:
    """Sync warehouse tables into Kintone apps."""
    from connector.logs import configure

    if verbose and quiet:
        raise click.UsageError("-v and --quiet ask for opposite things; give one of them")
    level = logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING
    configure(level, log_format, sys.stderr)


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
    """Every error as one line and an exit code: ours say what to fix; anything else is a bug,
    named by its type, with the traceback under `-v`."""
    from connector.errors import ConfigError, KintoneSyncError, PreflightError

    try:
        yield
    except (ConfigError, PreflightError) as exc:
        _fail(exc, EXIT_USAGE)
    except KintoneSyncError as exc:
        _fail(exc, EXIT_ERROR)
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into one line
        _fail(exc, EXIT_ERROR, unexpected=True)


def _fail(exc: Exception, code: int, *, unexpected: bool = False) -> NoReturn:
    from connector.source import mask_password

    verbose = _verbose()
    if verbose:
        click.echo(mask_password("".join(traceback.format_exception(exc))), err=True, nl=False)
    text = mask_password(str(exc))
    if unexpected:
        first = text.strip().splitlines()[0] if text.strip() else ""
        hint = "" if verbose else "; run with -v for the traceback"
        text = f"unexpected {type(exc).__name__}: {first}{hint}"
    click.echo(f"error: {text}", err=True)
    sys.exit(code)


def _verbose() -> bool:
    return bool(_root_option("verbose"))


def _root_option(name: str) -> object:
    """An option of the root command (`-v`, `--quiet`, `--log-format`), None outside one."""
    context = click.get_current_context(silent=True)
    return context.find_root().params.get(name) if context is not None else None


from connector.cli import emulator, history, project, runs  # noqa: E402  (registers commands)

__all__ = [
    "EXIT_DIFFERS",
    "EXIT_ERROR",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "emulator",
    "history",
    "main",
    "project",
    "runs",
]
