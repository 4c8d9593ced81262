"""Canary credentials: no output of any command, and no file a run leaves, contains a secret."""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import sqlalchemy as sa
import yaml

from connector.emulator import Seed, load_seed

from .harness import (
    build_warehouse,
    cli,
    cli_env,
    kill_then_finish,
    records_of,
    sample_mapping,
    served,
    write_project,
)

HERE = Path(__file__).parent
TOKEN = "CANARY-7f3a9c-token"
"""Known to the canary seed, with every right."""
UNKNOWN_TOKEN = "CANARY-0b1e55-unknown"
USER, PASSWORD = "etl-canary", "CANARY-pw-51d0e2"
WRONG_PASSWORD = "CANARY-pw-wrong-9c4d"
STATE_PASSWORD = "CANARYPW-3e8a"
PG = "127.0.0.1:5432"
PROJECT_FILE = "kintone-sync.yaml"


class Evidence:
    """Every output a command printed and every file it left, checked for canary strings."""

    def __init__(self, root: Path, canaries: list[str]) -> None:
        self.root = root
        self.needles = [c.encode() for c in canaries]
        # The password header is base64 of "user:password": a leak could hide that way too.
        self.needles += [
            base64.b64encode(f"{USER}:{p}".encode()) for p in (PASSWORD, WRONG_PASSWORD)
        ]
        self.checked: dict[str, int] = {}
        self.leaks: list[str] = []

    def look(self, label: str, data: bytes) -> None:
        self.checked[label] = self.checked.get(label, 0) + len(data)
        for needle in self.needles:
            at = data.find(needle)
            if at >= 0:
                context = data[max(0, at - 80) : at + len(needle) + 40]
                self.leaks.append(f"{label}: {needle.decode()} in ...{context!r}...")

    def files(self) -> None:
        """Every file under the project but the project file itself (the user's input)."""
        for path in sorted(self.root.rglob("*")):
            # Symlinks are the test's own bait (FILE paths that point out of the project).
            if path.is_file() and not path.is_symlink() and path.name != PROJECT_FILE:
                self.look(str(path.relative_to(self.root)), path.read_bytes())

    def command(self, *args: str, env: dict[str, str], expect: int) -> str:
        """Run `kintone-sync -v ARGS`; check its output and every file after it."""
        done = cli(self.root, "-v", *args, env=env)
        output = done.stdout + done.stderr
        self.look(f"`kintone-sync {' '.join(args)}` output", output.encode())
        self.files()
        assert done.returncode == expect, f"{args}: exit {done.returncode}\n{output}"
        return output

    def assert_clean(self) -> None:
        assert not self.leaks, "\n".join(self.leaks)


@pytest.fixture(scope="module")
def canary_seed() -> Seed:
    return load_seed(HERE / "canary-seed.yaml")


def project(root: Path, port: int, **kwargs: Any) -> None:
    build_warehouse(root / "warehouse.duckdb", 200)
    write_project(root, port, {"customers": sample_mapping()}, attempts=3, **kwargs)


def refuse_one_row(root: Path) -> None:
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET credit_limit = -5 WHERE customer_id = 'C-000050'")


def every_command(evidence: Evidence, env: dict[str, str], port: int) -> list[str]:
    """Check, plan, a run, a run refusing a row, history and rejects in every format."""
    outputs = [
        evidence.command("check", "customers", env=env, expect=0),
        evidence.command("plan", "customers", env=env, expect=0),
        evidence.command("plan", "customers", "--output", "json", env=env, expect=0),
        evidence.command("run", "customers", env=env, expect=0),
    ]
    refuse_one_row(evidence.root)
    outputs += [
        evidence.command("run", "customers", "--full-refresh", env=env, expect=3),
        evidence.command("run", "customers", "--output", "json", env=env, expect=3),
        evidence.command("runs", env=env, expect=0),
        evidence.command("runs", "customers", "--output", "json", env=env, expect=0),
    ]
    for fmt in ("text", "csv", "json"):
        outputs.append(evidence.command("rejects", "customers", "--output", fmt, env=env, expect=0))
        outputs.append(
            evidence.command(
                "rejects",
                "customers",
                "--output",
                fmt,
                "--file",
                f"rejects.{fmt}",
                env=env,
                expect=0,
            )
        )
    # The credentials worked: every row landed, the refused change did not.
    kept = {r["customer_id"]["value"]: r["credit_limit"]["value"] for r in records_of(port)}
    assert len(kept) == 200
    assert kept["C-000050"] == "1850.50"
    return outputs


@pytest.mark.slow
def test_an_api_token_appears_in_no_output_and_no_state(tmp_path: Path, canary_seed: Seed) -> None:
    evidence = Evidence(tmp_path, [TOKEN, UNKNOWN_TOKEN])
    env = cli_env(KINTONE_API_TOKEN=TOKEN)
    with served(canary_seed) as port:
        project(tmp_path, port)
        outputs = every_command(evidence, env, port)
        # A token Kintone does not know.
        wrong = cli_env(KINTONE_API_TOKEN=UNKNOWN_TOKEN)
        outputs.append(evidence.command("run", "customers", env=wrong, expect=1))
        outputs.append(evidence.command("check", "customers", env=wrong, expect=1))
        # Transient faults past every retry, each retry logged (-v).
        faults = f"http://127.0.0.1:{port}/_emulator/faults"
        rule = {"path": "bulkRequest.json", "status": 503, "times": 0}
        httpx.post(faults, json=rule).raise_for_status()
        outputs.append(evidence.command("run", "customers", "--full-refresh", env=env, expect=1))
        # An insert whose answer is lost: the writer looks up what landed, and says so.
        httpx.delete(faults).raise_for_status()
        rule = {"path": "bulkRequest.json", "drop": "after"}
        httpx.post(faults, json=rule).raise_for_status()
        outputs.append(evidence.command("run", "customers", "--full-refresh", env=env, expect=3))
        outputs.append(evidence.command("runs", "customers", env=env, expect=0))
    # A run killed while records are on their way leaves SQLite's write-ahead log behind.
    with served(canary_seed, per_record_ms=10) as slow:
        write_project(tmp_path, slow, {"again": sample_mapping()}, attempts=3)
        killed = kill_then_finish(
            tmp_path, "again", slow, random.Random(1), kills=1, latest=0.3, env=env, max_runs=0
        )
    # C-000050's credit limit is under the field's minimum: the mapping refuses it before any
    # request, so 199 rows are on their way.
    assert killed.pending_at_kill == [199], killed
    evidence.files()
    joined = "\n".join(outputs)
    # The commands did what they are for, so their outputs were worth searching.
    assert "GAIA_IA02" in joined
    assert "VALUE" in joined  # C-000050, refused by the mapping before any request
    assert "retrying" in joined
    assert "C-000050" in (tmp_path / "rejects.csv").read_text()
    assert (tmp_path / ".kintone-sync" / "state.db").stat().st_size > 0
    assert any(label.endswith("state.db-wal") for label in evidence.checked)
    evidence.assert_clean()


@pytest.mark.slow
def test_a_password_appears_in_no_output_and_no_state(tmp_path: Path, canary_seed: Seed) -> None:
    evidence = Evidence(tmp_path, [PASSWORD, WRONG_PASSWORD])
    auth = {"username_env": "KINTONE_USERNAME", "password_env": "KINTONE_PASSWORD"}
    env = cli_env(KINTONE_USERNAME=USER, KINTONE_PASSWORD=PASSWORD)
    with served(canary_seed) as port:
        project(tmp_path, port, auth=auth)
        outputs = every_command(evidence, env, port)
        wrong = cli_env(KINTONE_USERNAME=USER, KINTONE_PASSWORD=WRONG_PASSWORD)
        outputs.append(evidence.command("run", "customers", env=wrong, expect=1))
        outputs.append(evidence.command("check", "customers", env=wrong, expect=1))
        # The records were written as the canary user.
        creators = {r["Created_by"]["value"]["code"] for r in records_of(port)}
    assert creators == {USER}
    assert "CB_WA01" in "\n".join(outputs)
    evidence.assert_clean()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the state; skipped when no server answers."""
    admin = sa.create_engine(
        f"postgresql+psycopg://postgres@{PG}/postgres", isolation_level="AUTOCOMMIT"
    )
    name = f"kintone_sync_canary_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {PG} as postgres: {exc}")
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["inline", "env"])
def test_a_state_database_password_appears_in_no_output_and_no_table(
    tmp_path: Path, canary_seed: Seed, pg_database: str, where: str
) -> None:
    evidence = Evidence(tmp_path, [TOKEN, STATE_PASSWORD])
    password = STATE_PASSWORD if where == "inline" else "${KINTONE_STATE_PASSWORD}"
    url = f"postgresql://postgres:{password}@{PG}/{pg_database}"
    env = cli_env(KINTONE_API_TOKEN=TOKEN, KINTONE_STATE_PASSWORD=STATE_PASSWORD)
    with served(canary_seed) as port:
        project(tmp_path, port, state_url=url)
        outputs = every_command(evidence, env, port)
        # A state database that does not exist: the error names the URL, password masked.
        write_project(
            tmp_path, port, {"customers": sample_mapping()}, state_url=url + "_missing", attempts=3
        )
        failed = evidence.command("run", "customers", env=env, expect=1)
        outputs.append(evidence.command("runs", env=env, expect=1))
    assert f"{pg_database}_missing" in failed
    assert "***" in failed
    assert not (tmp_path / ".kintone-sync" / "state.db").exists()  # the state went to PostgreSQL
    engine = sa.create_engine(f"postgresql+psycopg://postgres@{PG}/{pg_database}")
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            assert {"runs", "row_state", "row_rejects"} <= set(tables)
            for table in tables:
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
                evidence.look(f"PostgreSQL table {table}", repr(rows).encode())
            runs = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar()
    finally:
        engine.dispose()
    assert runs == 3  # the run, and the two runs that refused a row
    evidence.assert_clean()


FILE_SECRET = "CANARY-file-8d2b"
"""In a file beside the project, which a FILE path must not reach."""
ENV_SECRET = "CANARY-env-4c7a"
"""In the process environment, which /proc/self/environ would give away."""
QUERY_PASSWORD = "CANARYQP-77f1"
PROXY_PASSWORD = "CANARY-proxy-3a9e"

ESCAPING_PATHS = """
select customer_id, full_name,
    case customer_id
        when 'C-000001' then '/proc/self/environ'
        when 'C-000002' then '../outside-{tag}.txt'
        when 'C-000003' then 'docs/leak.txt'
        else 'docs/ok.txt'
    end as path
from customers
"""


def test_hostile_inputs_leak_no_secret(tmp_path: Path, canary_seed: Seed) -> None:
    """A token read with its newline, FILE paths out of the project, a password as a URL
    parameter and in a proxy, all under -v: no secret in any output, file or record."""
    root = tmp_path / "project"
    root.mkdir()
    tag = uuid.uuid4().hex[:8]
    outside = tmp_path / f"outside-{tag}.txt"
    outside.write_text(FILE_SECRET)
    (root / "docs").mkdir()
    (root / "docs" / "ok.txt").write_text("attached")
    (root / "docs" / "leak.txt").symlink_to(outside)
    evidence = Evidence(root, [TOKEN, FILE_SECRET, ENV_SECRET, QUERY_PASSWORD, PROXY_PASSWORD])
    env = cli_env(KINTONE_API_TOKEN=TOKEN + "\r\n", CANARY_SECRET=ENV_SECRET)
    files = {
        "app": "CUST",
        "source": {"query": ESCAPING_PATHS.format(tag=tag), "primary_key": ["customer_id"]},
        "key": "customer_id",
        "fields": {"customer_id": "customer_id", "name": "full_name", "attachment": "path"},
    }
    with served(canary_seed) as port:
        project(root, port)
        write_project(root, port, {"files": files}, attempts=3)
        # The token with its line break works: every row lands but the three that escape.
        outputs = [evidence.command("run", "files", env=env, expect=3)]
        outputs.append(evidence.command("rejects", "files", env=env, expect=0))
        outputs.append(evidence.command("rejects", "files", "--output", "csv", env=env, expect=0))
        records = records_of(port)
        # A password as a URL query parameter, in an error that prints the URL.
        path = root / PROJECT_FILE
        data = yaml.safe_load(path.read_text())
        data["source"]["url"] = f"duckdb:///missing.duckdb?password={QUERY_PASSWORD}"
        path.write_text(yaml.safe_dump(data))
        outputs.append(evidence.command("check", "files", env=env, expect=1))
        # A proxy URL holding a password, and a port that is not a number.
        data["source"]["url"] = "duckdb:///warehouse.duckdb"
        data["connections"]["default"]["proxy"] = f"http://etl:{PROXY_PASSWORD}@proxy:port"
        path.write_text(yaml.safe_dump(data))
        outputs.append(evidence.command("check", "files", env=env, expect=2))
    evidence.files()
    joined = "\n".join(outputs)
    assert len(records) == 197
    assert {r["customer_id"]["value"] for r in records}.isdisjoint(
        {"C-000001", "C-000002", "C-000003"}
    )
    assert "3 refused row(s) of job files" in joined
    assert "is an absolute path" in joined
    assert "a symlink that leads outside the files directory" in joined
    assert "missing.duckdb does not exist" in joined
    assert "password=***" in joined
    assert "proxy is not a valid URL" in joined
    evidence.assert_clean()


def test_a_state_url_password_parameter_appears_in_no_error(tmp_path: Path) -> None:
    # The CLI masks every line it prints with source.mask_password, whatever raised.
    evidence = Evidence(tmp_path, [QUERY_PASSWORD])
    build_warehouse(tmp_path / "warehouse.duckdb", 5)
    url = f"postgresql://etl@127.0.0.1:1/state?password={QUERY_PASSWORD}"
    write_project(tmp_path, 1, {"customers": sample_mapping()}, state_url=url)
    output = evidence.command("runs", env=cli_env(), expect=1)
    assert "127.0.0.1:1" in output
    evidence.assert_clean()
