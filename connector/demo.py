"""The demo: a directory with the sample warehouse and project, synced into a local emulator."""

from __future__ import annotations

import os
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import httpx
import yaml
from starlette.types import ASGIApp

from connector.config import load_project
from connector.emulator.seed import Seed
from connector.errors import ConfigError
from connector.report import SyncReport
from connector.runner import sync

SAMPLE_TOKEN = "sample-token"
"""The API token of the sample seed's app: a fixture, not a secret."""
DEMO_TOKEN_ENV = "KINTONE_SYNC_DEMO_TOKEN"
"""The variable the demo project reads its token from: not KINTONE_API_TOKEN, which may hold a
real domain's token that the emulator would refuse."""
HEADER = "# The demo project: `kintone-sync demo` writes it, and rewrites the emulator's port.\n"
"""The first line of a demo's project file: a demo overwrites no other project file."""
DATA_FILE = ".kintone-sync/emulator.json"
"""The emulator's records, kept in the demo directory so that the state there stays true."""


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

    port = port or free_port()
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


@dataclass(frozen=True)
class Demo:
    """A demo directory: the project file, the warehouse, the seed, the emulator's records."""

    root: Path

    @property
    def project_file(self) -> Path:
        return self.root / "kintone-sync.yaml"

    @property
    def seed_file(self) -> Path:
        return self.root / "emulator-seed.yaml"

    @property
    def data_file(self) -> Path:
        return self.root / DATA_FILE

    def next_commands(self, port: int, *, served: bool) -> list[str]:
        """What to try next, with the exact paths (quoted for a POSIX shell)."""
        project = shlex.quote(str(self.project_file))
        lines = (
            []
            if served
            else [
                "# the emulator, with the records the demo wrote (plan and verify need it):",
                f"kintone-sync emulator --seed {shlex.quote(str(self.seed_file))} "
                f"--data {shlex.quote(str(self.data_file))} --port {port} &",
            ]
        )
        return lines + [
            f"export {DEMO_TOKEN_ENV}={SAMPLE_TOKEN}",
            f"kintone-sync runs --project {project}",
            f"kintone-sync plan customers --project {project}",
            f"kintone-sync rejects customers --project {project}",
            f"kintone-sync verify customers --project {project}",
        ]


def prepare_demo(root: Path, port: int) -> Demo:
    """Write the sample project into `root`, keeping what is there: the warehouse, the state and
    the emulator's records survive a second demo. The project names `port`.

    Raises:
        ConfigError: `root` is a file, or holds a project file no demo wrote.
    """
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file; give --dir a directory (it is created if missing)")
    demo = Demo(root.resolve())
    if demo.project_file.exists() and not demo.project_file.read_text("utf-8").startswith(HEADER):
        raise ConfigError(
            f"{demo.project_file} is not a demo's project file, and the demo would overwrite "
            "it; give --dir an empty directory or an earlier demo's"
        )
    for folder in (demo.root / "mappings", demo.data_file.parent):
        folder.mkdir(parents=True, exist_ok=True)
    samples = files("connector.samples")
    for name, target in [
        ("customers.yaml", demo.root / "mappings" / "customers.yaml"),
        ("emulator-seed.yaml", demo.seed_file),
    ]:
        if not target.exists():
            target.write_text(samples.joinpath(name).read_text(encoding="utf-8"), "utf-8")
    build_sample(demo.root / "warehouse.duckdb")
    project = {
        "source": {"url": "duckdb:///warehouse.duckdb"},
        "connections": {
            "default": {
                "base_url": f"http://localhost:{port}",
                "auth": {"api_token_env": DEMO_TOKEN_ENV},
            }
        },
        "mappings_dir": "mappings",
    }
    demo.project_file.write_text(HEADER + yaml.safe_dump(project, sort_keys=False), "utf-8")
    return demo


def demo_port(root: Path, port: int) -> int:
    """The port asked for; else the one an earlier demo in `root` used, so its state (which
    names the domain, port included) still applies; else a free one."""
    if port:
        return port
    try:
        project = load_project(root / "kintone-sync.yaml")
        earlier = httpx.URL(project.connections["default"].base_url).port
    except (ConfigError, KeyError):
        earlier = None
    return earlier or free_port()


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def open_demo(
    root: Path,
    *,
    port: int = 0,
    echo: Callable[[str], None] = print,
    progress: Callable[[SyncReport], None] | None = None,
) -> Iterator[tuple[Demo, int, list[SyncReport]]]:
    """Write the sample project into `root`, start the emulator on its records and run every
    job; yields the demo, the port and the reports while the emulator still answers.

    Raises:
        ConfigError, SourceError, KintoneSyncError: as a step fails.
    """
    bound = demo_port(root, port)
    demo = prepare_demo(root, bound)
    echo(f"the demo project is in {demo.root}")
    from connector.emulator import create_app, load_seed
    from connector.emulator.datafile import DataFileError

    try:
        app = create_app(load_seed(demo.seed_file), data=demo.data_file)
    except DataFileError as exc:
        raise ConfigError(str(exc)) from exc
    env = {**os.environ, DEMO_TOKEN_ENV: SAMPLE_TOKEN}
    project = load_project(demo.project_file)
    with serve_app(app, bound):
        echo(f"local Kintone emulator on http://localhost:{bound}")
        yield (
            demo,
            bound,
            [sync(project, job, env=env, progress=progress) for job in project.job_names()],
        )
