"""`kintone-sync emulator`: the local Kintone, with scripted faults."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from connector.cli import EXIT_USAGE, main


def parse_fault(spec: str) -> dict[str, Any]:
    """`path=bulkRequest.json,status=503,code=GAIA_DA02,after=2,times=1,drop=after` as a dict.

    Raises:
        click.BadParameter: an unknown key or a value of the wrong kind.
    """
    ints = {"status", "after", "times", "retry_after"}
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
            if not (value.isascii() and value.isdigit()) or len(value) > 10:
                raise click.BadParameter(f"{key} must be a whole number", param_hint="--fault")
            out[key] = int(value)
        else:
            out[key] = value
    if "path" not in out:
        raise click.BadParameter("a fault needs path=...", param_hint="--fault")
    return out


def _fail(message: str) -> NoReturn:
    """A configuration mistake: one line on stderr, exit 2, no traceback."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@main.command()
@click.option(
    "--seed",
    "seed_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Seed file (YAML) declaring apps, fields, tokens, records and users; the bundled "
    "sample's (the demo's Customers app) when left out.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep records and files in this JSON file so they survive a restart.",
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
    "(keys: path, method, status, code, message, drop=before|after, after, times, retry_after).",
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
    seed_path: Path | None,
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
    from importlib.resources import files

    import uvicorn
    from pydantic import ValidationError

    from connector.emulator import FaultRule, Options, create_app, load_seed
    from connector.emulator.datafile import DataFileError
    from connector.emulator.seed import SeedError, describe

    try:
        if seed_path is None:
            seed_path = Path(str(files("connector.samples").joinpath("emulator-seed.yaml")))
        seed = load_seed(seed_path)
    except SeedError as exc:
        _fail(str(exc))
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
    try:
        options = Options.model_validate({**seed.options.model_dump(), **changes})
    except ValidationError as exc:
        _fail(f"{seed_path}: options with the command-line switches: {describe(exc)}")
    rules = []
    for spec in faults:
        try:
            rules.append(FaultRule(**parse_fault(spec)))
        except (TypeError, ValueError) as exc:
            _fail(f"--fault {spec!r}: {exc}")
    try:
        app = create_app(seed, options=options, data=data)
    except SeedError as exc:
        _fail(f"{seed_path}: {exc}")
    except DataFileError as exc:
        _fail(str(exc))
    for rule in rules:
        app.state.emulator.api.faults.add(rule)
    click.echo(
        f"Kintone emulator on http://{host}:{port} (official clients: http://localhost:{port})"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
