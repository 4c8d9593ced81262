"""The `kintone-sync` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
"""A run that wrote what it could but refused some rows."""
EXIT_DIFFERS = 4
"""`verify` found records missing, drifted or orphaned, and did not repair them."""


@click.group()
@click.version_option(package_name="kintone-sync")
@click.option("-v", "--verbose", is_flag=True, help="Log each request retry and each batch.")
def main(verbose: bool) -> None:
    """Sync warehouse tables into Kintone apps."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # One line per HTTP request drowns the run's own lines; retries are logged by the client.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
