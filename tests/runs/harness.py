"""Runs in a subprocess against a served emulator: projects, warehouses, kills, comparisons."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import yaml
from starlette.testclient import TestClient

from connector.config import load_project
from connector.demo import serve_app
from connector.emulator import Seed, create_app, load_seed
from connector.emulator.seed import Options
from connector.report import SyncReport
from connector.runner import sync
from connector.state import StateStore

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SEED = REPO / "connector" / "samples" / "emulator-seed.yaml"
CLI = str(Path(sys.executable).parent / "kintone-sync")
TOKEN = "sample-token"
EXIT_OK, EXIT_REFUSED = 0, 3
# Fields Kintone sets itself; they differ between two emulators holding the same data.
_SYSTEM = {
    "$id",
    "$revision",
    "Record_number",
    "Created_by",
    "Created_datetime",
    "Updated_by",
    "Updated_datetime",
}


def build_warehouse(path: Path, customers: int) -> None:
    """The sample warehouse scaled to `customers` rows (orders scale with them)."""
    sql = (REPO / "connector" / "samples" / "warehouse.sql").read_text(encoding="utf-8")
    sql = sql.replace("range(1, 1001)", f"range(1, {customers + 1})")
    sql = sql.replace("printf('C-%04d', i)", "printf('C-%06d', i)")
    sql = sql.replace("printf('C-%04d', c)", "printf('C-%06d', c)")
    sql = sql.replace("printf('O-%04d-%d', c, n)", "printf('O-%06d-%d', c, n)")
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def sample_mapping(**changes: Any) -> dict[str, Any]:
    """The repository's customers mapping (with the orders subtable), changed as given."""
    text = (REPO / "mappings" / "customers.yaml").read_text(encoding="utf-8")
    mapping: dict[str, Any] = yaml.safe_load(text)
    mapping.update(changes)
    return mapping


def write_project(
    root: Path,
    port: int,
    mappings: dict[str, dict[str, Any]],
    *,
    auth: dict[str, Any] | None = None,
    state_url: str | None = None,
    attempts: int = 8,
) -> Path:
    """A project file on root/warehouse.duckdb, pointed at the emulator on `port`."""
    (root / "mappings").mkdir(exist_ok=True)
    for name, mapping in mappings.items():
        (root / "mappings" / f"{name}.yaml").write_text(
            yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8"
        )
    project: dict[str, Any] = {
        "source": {"url": "duckdb:///warehouse.duckdb"},
        "connections": {
            "default": {
                "base_url": f"http://localhost:{port}",
                "auth": auth or {"api_token_env": "KINTONE_API_TOKEN"},
            }
        },
        "retry": {"attempts": attempts, "backoff_seconds": 0, "max_backoff_seconds": 0},
        "limits": {"concurrency": 2},
    }
    if state_url is not None:
        project["state"] = {"url": state_url}
    path = root / "kintone-sync.yaml"
    path.write_text(yaml.safe_dump(project), encoding="utf-8")
    return path


def sample_seed(*, unique_key: bool = True) -> Seed:
    """The sample seed; without `unique_key`, customer_id is not unique in the app, so a record
    inserted twice shows up as a duplicate instead of being refused by Kintone."""
    seed = load_seed(SAMPLE_SEED)
    if unique_key:
        return seed
    data = seed.model_dump(mode="json", exclude_unset=True)
    data["apps"][0]["properties"]["customer_id"]["unique"] = False
    return Seed.model_validate(data)


def emulator_options(seed: Seed, **options: Any) -> Options:
    """The seed's options changed as given; `per_request_ms` and `per_record_ms` set latency.

    Validated again: `model_copy(update=...)` alone would take a misspelt key silently.
    """
    latency = {k: options.pop(k) for k in ("per_request_ms", "per_record_ms") if k in options}
    if latency:
        options["latency"] = seed.options.latency.model_copy(update=latency)
    return Options.model_validate({**seed.options.model_dump(), **options})


@contextmanager
def served(seed: Seed, **options: Any) -> Iterator[int]:
    """The emulator on 127.0.0.1 with the seed's options changed as given; yields the port."""
    app = create_app(seed, options=emulator_options(seed, **options))
    with serve_app(app) as port:
        yield port


def records_of(port: int, app: int = 1) -> list[dict[str, Any]]:
    """Every record of an app, through the emulator's inspection endpoint (no faults there)."""
    answer = httpx.get(
        f"http://127.0.0.1:{port}/_emulator/records", params={"app": app}, timeout=120
    )
    answer.raise_for_status()
    return list(answer.json()["records"])


def add_fault(port: int, **rule: Any) -> None:
    httpx.post(f"http://127.0.0.1:{port}/_emulator/faults", json=rule).raise_for_status()


def comparable(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by customer_id as field code -> value, without what Kintone sets itself.

    Raises AssertionError when a customer_id is held by more than one record.
    """
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        key = record["customer_id"]["value"]
        assert key not in out, f"customer_id {key} is held by more than one record"
        values: dict[str, Any] = {}
        for code, cell in record.items():
            if code in _SYSTEM:
                continue
            if cell.get("type") == "SUBTABLE":
                values[code] = [
                    {c: v["value"] for c, v in row["value"].items()} for row in cell["value"]
                ]
            else:
                values[code] = cell["value"]
        out[key] = values
    return out


@dataclass
class Clean:
    """A clean run's report, the records it left and the emulator's request counts."""

    report: SyncReport
    records: list[dict[str, Any]]
    stats: dict[str, Any]


def clean_sync(project_file: Path, job: str, seed: Seed, state_dir: Path) -> Clean:
    """The same job run once in-process into a fresh emulator, with its own state: the reference."""
    project = load_project(project_file)
    app = create_app(seed)
    state_dir.mkdir(parents=True, exist_ok=True)
    store = StateStore.open(f"sqlite:///{state_dir / 'state.db'}", state_dir)
    try:
        with TestClient(app, base_url="https://clean.cybozu.com") as client:
            client.headers["X-Cybozu-API-Token"] = TOKEN
            report = sync(project, job, http=client, state=store)
            records = list(client.get("/_emulator/records", params={"app": 1}).json()["records"])
            stats = dict(client.get("/_emulator/stats").json())
    finally:
        store.close()
    return Clean(report, records, stats)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINTONE_")}
    env.update({"KINTONE_API_TOKEN": TOKEN, **extra})
    return env


def cli(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`kintone-sync ARGS` in the project directory, output captured."""
    return subprocess.run(
        [CLI, *args],
        cwd=root,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Runs:
    """What the killed and the finishing runs did."""

    kills: list[float] = field(default_factory=list)
    """When each killed run was killed: seconds after it first marked rows as being sent."""
    finished_early: int = 0
    """Runs that ended on their own before their kill time."""
    exits: list[int] = field(default_factory=list)
    """Exit codes of the runs after the kills, the last one 0 or 3."""
    outputs: list[str] = field(default_factory=list)
    pending_at_kill: list[int] = field(default_factory=list)
    """Rows the state held as sent-but-unanswered right after each kill."""
    records_at_kill: list[int] = field(default_factory=list)
    """Records in the app right after each kill."""
    seconds: float = 0.0

    @property
    def runs(self) -> int:
        return len(self.kills) + self.finished_early + len(self.exits)


def _state_count(root: Path, sql: str, *params: Any) -> int:
    path = root / ".kintone-sync" / "state.db"
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as con:
            found = con.execute(sql, params).fetchone()
    except sqlite3.DatabaseError:  # the file or its tables are not made yet
        return 0
    return int(found[0] or 0)


def pending_rows(root: Path, job: str, *, after_run: int = 0) -> int:
    """Rows of a job the state holds as sent-but-unanswered, marked by a run past `after_run`."""
    return _state_count(
        root,
        "SELECT count(*) FROM row_state WHERE job = ? AND status = 'pending' AND seen_run > ?",
        job,
        after_run,
    )


def last_run(root: Path, job: str) -> int:
    return _state_count(root, "SELECT max(id) FROM runs WHERE job = ?", job)


def kill_then_finish(
    root: Path,
    job: str,
    port: int,
    rng: random.Random,
    *,
    kills: int = 3,
    latest: float = 1.5,
    env: dict[str, str] | None = None,
    max_runs: int = 10,
) -> Runs:
    """Start the job until `kills` runs were SIGKILLed (at most `kills` + 3 starts), each at a
    random moment of its writing: 0 to `latest` seconds after it first marks rows as being
    sent; a run that ends before is counted in `finished_early`. Then run it until it ends
    with 0 (done) or 3 (done, rows refused), at most `max_runs` times.

    The clock starts at the first write rather than at the start of the process, so that a
    slower machine still kills runs while records are on their way, the moment that matters.
    """
    out = Runs()
    started = time.monotonic()
    command = [CLI, "run", job, "--project", str(root / "kintone-sync.yaml")]
    for _ in range(kills + 3):
        if len(out.kills) == kills:
            break
        delay = rng.uniform(0, latest)
        before = last_run(root, job)
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=env or cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None and not pending_rows(root, job, after_run=before):
            time.sleep(0.005)
        try:
            proc.wait(timeout=delay)
            out.finished_early += 1
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            out.kills.append(round(delay, 2))
            out.pending_at_kill.append(pending_rows(root, job))
            out.records_at_kill.append(len(records_of(port)))
    for _ in range(max_runs):
        done = cli(root, *command[1:], env=env)
        out.exits.append(done.returncode)
        out.outputs.append(done.stdout + done.stderr)
        if done.returncode in (EXIT_OK, EXIT_REFUSED):
            break
    out.seconds = time.monotonic() - started
    return out
