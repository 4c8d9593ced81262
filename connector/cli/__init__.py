"""The `kintone-sync` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
"""A run that wrote what it could but refused some rows."""
EXIT_DIFFERS = 4
"""`verify` found records missing, drifted or orphaned, and did not repair them."""


class _Main(click.Group):
    """The root command: a usage mistake (an unknown option, a missing argument) under
    `--output json` is one JSON object on stdout too, as every other error is."""

    def main(self, args: Any = None, *rest: Any, **options: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not _json_asked(argv):
            return super().main(argv, *rest, **options)
        try:
            return super().main(argv, *rest, **{**options, "standalone_mode": False})
        except click.UsageError as exc:
            found = {
                "error": exc.format_message(),
                "exit_code": exc.exit_code,
                "hint": "see `kintone-sync COMMAND --help` for the command's arguments and options",
            }
            click.echo(json.dumps(found, ensure_ascii=False))
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)


def _json_asked(argv: list[str]) -> bool:
    """Whether the command line asks for `--output json` (either spelling)."""
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return "--output=json" in argv or any(a == "--output" and b == "json" for a, b in pairs)


@click.group(cls=_Main)
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
    named by its type, with the traceback under `-v`. With `--output json`, one JSON object
    on stdout instead."""
    from connector.errors import KintoneSyncError

    try:
        yield
    except KintoneSyncError as exc:
        _fail(exc, exit_code(exc))
    except (click.ClickException, click.exceptions.Exit):
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into one line
        _fail(exc, EXIT_ERROR, unexpected=True)


def exit_code(exc: Exception) -> int:
    """The exit code of an error, by the table in docs/project.md: 2 for what the files or
    the app's settings must fix, 1 for the rest."""
    from connector.errors import ConfigError, PreflightError

    return EXIT_USAGE if isinstance(exc, ConfigError | PreflightError) else EXIT_ERROR


def hint(exc: Exception) -> str:
    """What to do next, by the kind of error: the message itself names the values."""
    from connector import errors

    hints: list[tuple[type[Exception], str]] = [
        (
            errors.ConfigError,
            "fix the file or name above; `kintone-sync validate` checks every "
            "file without connecting",
        ),
        (
            errors.PreflightError,
            "fix the mapping or the app; `kintone-sync check JOB` lists every problem",
        ),
        (errors.LockedError, "wait for the other run, or `kintone-sync unlock JOB` if it is gone"),
        (errors.StateError, "check state.url in the project file and that the store is reachable"),
        (errors.RunStoppedError, "the message says how to go on"),
        (errors.TransientKintoneError, "Kintone is busy or unreachable; run again later"),
        (errors.KintoneError, "check the credentials, the rights and the app"),
        (errors.SourceError, "check the warehouse connection and the mapping's source"),
    ]
    for kind, text in hints:
        if isinstance(exc, kind):
            return text
    return "" if _verbose() else "run with -v for the traceback"


def _fail(exc: Exception, code: int, *, unexpected: bool = False) -> NoReturn:
    from connector.source import mask_password

    verbose = _verbose()
    if verbose:
        click.echo(mask_password("".join(traceback.format_exception(exc))), err=True, nl=False)
    text = mask_password(str(exc))
    if unexpected:
        first = text.strip().splitlines()[0] if text.strip() else ""
        text = f"unexpected {type(exc).__name__}: {first}"
        if _output() == "text" and not verbose:
            text += "; run with -v for the traceback"
    if _output() == "json":
        found = {"error": text, "exit_code": code, "hint": mask_password(hint(exc))}
        click.echo(json.dumps(found, ensure_ascii=False))
    else:
        click.echo(f"error: {text}", err=True)
    sys.exit(code)


yes_option = click.option("--yes", is_flag=True, help="Do it without asking.")


def confirm(plan: str, yes: bool, what: str) -> None:
    """Show what a command will change, then ask; without a terminal, only --yes goes on.

    Raises:
        click.exceptions.Exit: the answer was no.
        ConfigError: stdin is not a terminal and --yes was not given.
    """
    from connector.errors import ConfigError

    click.echo(plan, err=_output() == "json")
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{what} changes the state; pass --yes to do it without a terminal")
    if not click.confirm("Go on?", default=False, err=True):
        click.echo("nothing changed", err=True)
        raise click.exceptions.Exit(EXIT_ERROR)


def _output() -> str:
    """The running command's --output (text when it has none)."""
    context = click.get_current_context(silent=True)
    return str(context.params.get("output") or "text") if context is not None else "text"


def _verbose() -> bool:
    return bool(_root_option("verbose"))


def _root_option(name: str) -> object:
    """An option of the root command (`-v`, `--quiet`, `--log-format`), None outside one."""
    context = click.get_current_context(silent=True)
    return context.find_root().params.get(name) if context is not None else None


from connector.cli import emulator, history, project, runs, state  # noqa: E402  (commands)

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
    "state",
]
