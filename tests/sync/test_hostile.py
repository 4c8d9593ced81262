"""Hostile configuration and answers (issue 10): credentials, URLs, YAML, DuckDB paths,
Retry-After, refused connections, one-line errors, and the rejects export."""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from starlette.testclient import TestClient

from connector.cli import EXIT_ERROR, EXIT_USAGE, main
from connector.config import ConnectionConfig, ProjectConfig, load_project, secret
from connector.errors import ConfigError, SourceError, TransientKintoneError
from connector.kintone.client import KintoneClient, RetryPolicy
from connector.kintone.connect import connect
from connector.mapping.spec import load_mapping
from connector.runner import sync
from connector.source import create_engine_from_url, mask_password

from .conftest import write_mapping

TOKEN = "hostile-token-5e1f"


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def edit_project(project_dir: Path, **connection: Any) -> Path:
    path = project_dir / "kintone-sync.yaml"
    data = yaml.safe_load(path.read_text())
    data["connections"]["default"].update(connection)
    path.write_text(yaml.safe_dump(data))
    return path


# --- 1. credentials from the environment -----------------------------------------------------


@pytest.mark.parametrize("padded", [TOKEN + "\n", TOKEN + "\r\n", f"  {TOKEN}\t"])
def test_whitespace_around_a_credential_is_stripped(padded: str) -> None:
    assert secret("T", {"T": padded}) == TOKEN
    conn = ConnectionConfig.model_validate(
        {"base_url": "https://example.cybozu.com", "auth": {"api_token_env": "T"}}
    )
    with connect(conn, env={"T": padded}) as http:
        assert http.headers["X-Cybozu-API-Token"] == TOKEN


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("tok\nen", "a control character"),
        ("tok\x00en", "a control character"),
        ("tok\x1b[2Jen", "a control character"),
        ("tokén", "a non-ASCII character"),
        ("トークン", "a non-ASCII character"),
    ],
)
@pytest.mark.parametrize(
    ("auth", "extra", "variable"),
    [
        ({"api_token_env": "K_TOKEN"}, {}, "K_TOKEN"),
        ({"username_env": "K_USER", "password_env": "K_PASS"}, {}, "K_PASS"),
        (
            {"api_token_env": "K_TOKEN"},
            {"basic_auth": {"username_env": "B_USER", "password_env": "B_PASS"}},
            "B_PASS",
        ),
    ],
    ids=["token", "password", "basic"],
)
def test_a_credential_with_control_or_non_ascii_characters_is_named_not_shown(
    value: str, kind: str, auth: dict[str, Any], extra: dict[str, Any], variable: str
) -> None:
    env = {"K_TOKEN": TOKEN, "K_USER": "etl", "K_PASS": "pw", "B_USER": "u", "B_PASS": "pw"}
    env[variable] = value
    conn = ConnectionConfig.model_validate(
        {"base_url": "https://example.cybozu.com", "auth": auth, **extra}
    )
    with pytest.raises(ConfigError) as caught:
        connect(conn, env=env)
    assert f"environment variable {variable} holds {kind}" in str(caught.value)
    assert value.strip() not in str(caught.value)


def test_a_non_ascii_token_is_one_line_and_exit_2(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINTONE_API_TOKEN", "tökén-secret")
    result = run_cli("check", "customers", "--project", str(project_dir / "kintone-sync.yaml"))
    assert result.exit_code == EXIT_USAGE
    assert "KINTONE_API_TOKEN holds a non-ASCII character" in result.output
    assert "tökén" not in result.output
    assert "Traceback" not in result.output


# --- 4, 9, 10. base_url and proxy ------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:8080", "http://127.0.0.1:1", "http://127.8.9.10", "http://[::1]:8080"],
)
def test_plain_http_is_taken_for_loopback_hosts(base_url: str) -> None:
    conn = ConnectionConfig.model_validate({"base_url": base_url, "auth": {"api_token_env": "T"}})
    assert conn.base_url == base_url


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        ({"base_url": "http://example.cybozu.com"}, "plain http:// would send the credentials"),
        ({"base_url": "http://10.0.0.5:8080"}, "plain http:// would send the credentials"),
        ({"base_url": "http://localhost.example.com"}, "plain http:// would send"),
        ({"base_url": "example.cybozu.com"}, "base_url needs a scheme and a host"),
        ({"base_url": "https://example.cybozu.com:abc"}, "base_url is not a valid URL"),
        ({"base_url": "https://example.cybozu.com:70000"}, "past 65535"),
        ({"base_url": "ftp://example.cybozu.com"}, "must start with https://"),
        ({"base_url": "https://etl:pw-5e1f@example.cybozu.com"}, "must not hold a user"),
        ({"proxy": "proxy.internal:3128"}, "proxy needs a scheme and a host"),
        ({"proxy": "ftp://proxy.internal:3128"}, "proxy must start with http://"),
        ({"proxy": "http://proxy.internal:port"}, "proxy is not a valid URL"),
        ({"proxy": "not a url"}, "proxy"),
    ],
)
def test_a_bad_base_url_or_proxy_is_a_config_error_with_exit_2(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, connection: dict[str, str], expected: str
) -> None:
    path = edit_project(project_dir, **connection)
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert expected in str(caught.value)
    assert "pw-5e1f" not in str(caught.value)
    monkeypatch.setenv("KINTONE_API_TOKEN", TOKEN)
    result = run_cli("check", "customers", "--project", str(path))
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_names_the_host_and_port() -> None:
    port = closed_port()
    slept: list[float] = []
    retry = RetryPolicy(attempts=3, backoff_seconds=0, max_backoff_seconds=0)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        client = KintoneClient(http, retry=retry, sleep=slept.append)
        with pytest.raises(TransientKintoneError) as caught:
            client.call("POST", "records", {"app": 1}, idempotent=False)
    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)
    # Nothing reached Kintone, so even an insert is repeated, and not reported ambiguous.
    assert not caught.value.ambiguous
    assert client.calls["POST records"] == 3


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_v(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path) -> ProjectConfig:
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr("connector.config.load_project", broken)
    project = str(project_dir / "kintone-sync.yaml")
    quiet = run_cli("check", "customers", "--project", project)
    assert quiet.exit_code == EXIT_ERROR
    assert quiet.output == (
        "error: unexpected RuntimeError: something broke; run with -v for the traceback\n"
    )
    loud = run_cli("-v", "check", "customers", "--project", project)
    assert loud.exit_code == EXIT_ERROR
    assert "Traceback (most recent call last)" in loud.output
    assert loud.output.endswith("error: unexpected RuntimeError: something broke\n")


# --- 3. passwords in database URLs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://etl:hunter2@db/dw", "postgresql://etl:***@db/dw"),
        ("postgresql://etl:p@ss@w0rd@db/dw", "postgresql://etl:***@db/dw"),
        (
            "'postgresql+psycopg://etl:a/b@db:5432/dw' failed",
            "'postgresql+psycopg://etl:***@db:5432/dw' failed",
        ),
        (
            "postgresql://etl@db/dw?password=hunter2&sslmode=require",
            "postgresql://etl@db/dw?password=***&sslmode=require",
        ),
        ("postgresql://db/dw?sslpassword=hunter2", "postgresql://db/dw?sslpassword=***"),
        ("host=db user=etl password=hunter2 dbname=dw", "host=db user=etl password=*** dbname=dw"),
        ("host=db password = 'hun ter\\'2' dbname=dw", "host=db password = *** dbname=dw"),
        ("DRIVER={x};UID=etl;PWD={hun;ter2};", "DRIVER={x};UID=etl;PWD=***;"),
        (
            "mssql+pyodbc:///?odbc_connect=UID%3Detl%3BPWD%3Dhunter2%3B",
            "mssql+pyodbc:///?odbc_connect=UID%3Detl%3BPWD%3D***%3B",
        ),
        ("postgresql://etl@db:5432/dw", "postgresql://etl@db:5432/dw"),
    ],
)
def test_every_password_form_is_masked(text: str, masked: str) -> None:
    assert mask_password(text) == masked


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://etl:p@ss@db.invalid/dw", "unencoded '@'"),
        ("postgresql://etl:hunter2@db.invalid:abc/dw", "its port is not a number"),
        ("nosuchdb://etl@db/dw?password=hunter2", "unknown dialect"),
    ],
)
def test_database_url_errors_never_show_the_password(url: str, expected: str) -> None:
    with pytest.raises(SourceError) as caught:
        create_engine_from_url(url)
    assert expected in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "ss@db" not in str(caught.value)


# --- 8. a DuckDB file that does not exist -----------------------------------------------------


def test_a_missing_duckdb_file_is_named_and_not_created(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project_dir / "kintone-sync.yaml"
    data = yaml.safe_load(path.read_text())
    data["source"]["url"] = "duckdb:///typo.duckdb"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("KINTONE_API_TOKEN", TOKEN)
    result = run_cli("check", "customers", "--project", str(path))
    assert result.exit_code == EXIT_ERROR
    assert f"the DuckDB file {project_dir / 'typo.duckdb'} does not exist" in result.output
    assert not (project_dir / "typo.duckdb").exists()


def test_the_warehouse_is_opened_read_only(project: ProjectConfig) -> None:
    assert project.source_url.endswith("warehouse.duckdb?access_mode=read_only")
    engine = create_engine_from_url(project.source_url)
    try:
        with pytest.raises(Exception, match="read-only"), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE scribble (x INTEGER)")
    finally:
        engine.dispose()


# --- 7. strict YAML ---------------------------------------------------------------------------

MAPPING = """\
app: {app}
source:
  table: customers
  primary_key: [customer_id]
key: customer_id
fields:
  customer_id: customer_id
  name: full_name
"""


@pytest.mark.parametrize("app", ["ON", "true", "yes", "on", "1.0"])
def test_an_app_that_yaml_reads_as_a_boolean_or_float_is_refused(tmp_path: Path, app: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.format(app=app))
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(f"{path}: line 1, app")
    if app != "1.0":
        assert "quote the value" in str(caught.value)


def test_quoted_app_codes_and_ids_still_load(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.format(app='"ON"'))
    assert load_mapping(path).app == "ON"
    path.write_text(MAPPING.format(app="42"))
    assert load_mapping(path).app == 42


def test_a_duplicated_key_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.format(app=1) + "  name: email\n")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert str(caught.value) == (
        f"{path}: line 9: key 'name' is given twice (first on line 8); keep one"
    )


def test_project_file_errors_name_the_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "kintone-sync.yaml"
    path.write_text(
        "source:\n  url: duckdb:///w.duckdb\n  chunk_size: true\n"
        "connections:\n  default:\n    base_url: https://example.cybozu.com\n"
        "    auth: {api_token_env: T}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert str(caught.value).startswith(f"{path}: line 3, source.chunk_size: ")
    path.write_text(path.read_text() + "source: {}\n")
    with pytest.raises(ConfigError, match="line 8: key 'source' is given twice"):
        load_project(path)


# --- 5. Retry-After past the cap --------------------------------------------------------------


def answering(status: int, headers: dict[str, str]) -> httpx.Client:
    body = {"code": "GAIA_TO04", "id": "e1", "message": "Too many requests."}
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, json=body, headers=headers)
    )
    return httpx.Client(base_url="https://example.cybozu.com", transport=transport)


def test_a_retry_after_past_the_cap_gives_the_batch_up_without_sleeping() -> None:
    slept: list[float] = []
    retry = RetryPolicy(attempts=6, backoff_seconds=0.5, max_backoff_seconds=30)
    with answering(429, {"Retry-After": "100000"}) as http:
        client = KintoneClient(http, retry=retry, sleep=slept.append)
        with pytest.raises(TransientKintoneError) as caught:
            client.bulk([{"method": "POST", "api": "records", "payload": {"app": 1}}])
    assert slept == []
    assert client.calls["POST bulkRequest"] == 1
    message = str(caught.value)
    assert "Kintone asked to wait 100000 s (Retry-After)" in message
    assert "max_backoff_seconds (30 s)" in message
    assert (caught.value.status, caught.value.code) == (429, "GAIA_TO04")


@pytest.mark.parametrize("header", ["nan", "inf", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_retry_after_that_is_not_a_wait_falls_back_to_the_backoff(header: str) -> None:
    slept: list[float] = []
    retry = RetryPolicy(attempts=3, backoff_seconds=1, max_backoff_seconds=4)
    with answering(429, {"Retry-After": header}) as http:
        client = KintoneClient(http, retry=retry, sleep=slept.append)
        with pytest.raises(TransientKintoneError):
            client.app_info(1)
    assert len(slept) == 2
    assert all(0 <= s <= 4 for s in slept)


# --- 11. the rejects export -------------------------------------------------------------------

HOSTILE_ROWS = """
select
    case customer_id
        when 'C-0001' then '=HYPERLINK("http://evil.example")'
        when 'C-0002' then 'C-2' || chr(10) || '0 refused row(s) of job forged'
        else '@' || customer_id
    end as customer_id,
    full_name,
    'abc' as credit_limit,
    case customer_id when 'C-0003' then 'not a date' else '2024-01-01' end as signed_up
from customers
where customer_id <= 'C-0003'
"""


def test_rejects_csv_is_safe_text_and_counts_rows(
    project: ProjectConfig, project_dir: Path, kintone: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = {
        "app": "CUST",
        "source": {"query": HOSTILE_ROWS, "primary_key": ["customer_id"]},
        "key": "customer_id",
        "fields": {
            "customer_id": "customer_id",
            "name": "full_name",
            "credit_limit": "credit_limit",
            "signed_up": "signed_up",
        },
    }
    write_mapping(project_dir, "hostile", mapping)
    assert sync(project, "hostile", http=kintone).refused == 3
    monkeypatch.chdir(project_dir)

    text = run_cli("rejects", "hostile")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == "3 refused row(s), 6 reasons of job hostile"
    assert len(lines) == 7  # the line break in a key does not forge a line
    assert any("C-2\\n0 refused row(s) of job forged" in line for line in lines)

    exported = run_cli("rejects", "hostile", "--output", "csv")
    cells = [row for row in csv.reader(io.StringIO(exported.output))][1:]
    keys = {row[0] for row in cells}
    assert '\'=HYPERLINK("http://evil.example")' in keys
    assert "'@C-0003" in keys
    starts = ("=", "+", "-", "@", "\t", "\r")
    assert not [cell for row in cells for cell in row if cell.startswith(starts)]

    written = run_cli("rejects", "hostile", "--output", "csv", "--file", "out.csv")
    assert written.output == "wrote 3 refused row(s), 6 reasons to out.csv\n"


def test_a_client_certificate_that_cannot_be_loaded_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text("not a certificate")
    conn = ConnectionConfig.model_validate(
        {
            "base_url": "https://example.s.cybozu.com",
            "auth": {"api_token_env": "T"},
            "client_cert": {"cert_file": "client.pem"},
        }
    )
    with pytest.raises(ConfigError, match=r"client_cert: client certificate .* cannot be loaded"):
        connect(conn, root=tmp_path, env={"T": TOKEN})
