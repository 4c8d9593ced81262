"""The sample run: the bundled DuckDB warehouse into a local emulator, every job of the project."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from starlette.types import ASGIApp

from connector.config import ProjectConfig, load_project
from connector.emulator.seed import Seed
from connector.errors import ConfigError, SourceError
from connector.report import SyncReport
from connector.runner import sync
from connector.state import StateStore

SAMPLE_TOKEN = "sample-token"
"""The API token of the sample seed's app: a fixture, not a secret."""


def build_sample(path: Path) -> bool:
    """Create the sample warehouse at `path` unless it exists; whether it was created."""
    if path.exists():
        return False
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    sql = files("connector.samples").joinpath("warehouse.sql").read_text(encoding="utf-8")
    with duckdb.connect(str(path)) as con:
        con.execute(sql)
    return True


@contextmanager
def serve_app(app: ASGIApp, port: int = 0) -> Iterator[int]:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread; yields the port."""
    import uvicorn

    if port == 0:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigError(f"the emulator could not start on port {port}; try --port")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_emulator(port: int = 0, seed: Seed | None = None) -> Iterator[int]:
    """A seed (the sample's by default) served on localhost; yields the port."""
    from connector.emulator import create_app, load_seed

    if seed is None:
        seed = load_seed(Path(str(files("connector.samples").joinpath("emulator-seed.yaml"))))
    with serve_app(create_app(seed), port) as bound:
        yield bound


def run_demo(
    project_file: Path, *, port: int = 0, echo: Callable[[str], None] = print
) -> list[SyncReport]:
    """Build the sample warehouse, start the emulator, run every job against it.

    Raises:
        ConfigError, SourceError, KintoneSyncError: as a step fails.
    """
    project = load_project(project_file)
    url = project.source_url
    if not url.startswith("duckdb:///"):
        raise SourceError(f"the demo builds a DuckDB sample; {project_file} points elsewhere")
    warehouse = Path(url.removeprefix("duckdb:///").partition("?")[0])
    if build_sample(warehouse):
        echo(f"built the sample warehouse {warehouse}")
    env = {**os.environ}
    env.setdefault("KINTONE_API_TOKEN", SAMPLE_TOKEN)
    with serve_emulator(port) as bound:
        echo(f"local Kintone emulator on http://localhost:{bound}")
        local = _pointed_at(project, f"http://localhost:{bound}")
        # The emulator starts empty each time, so the run's state must too.
        with tempfile.TemporaryDirectory() as scratch:
            state = StateStore.open(None, Path(scratch))
            try:
                return [sync(local, job, env=env, state=state) for job in local.job_names()]
            finally:
                state.close()


def _pointed_at(project: ProjectConfig, base_url: str) -> ProjectConfig:
    connections = {
        name: conn.model_copy(update={"base_url": base_url})
        for name, conn in project.connections.items()
    }
    return project.model_copy(update={"connections": connections})
