"""Connections end to end: each auth scheme through connect() to a served emulator, guest spaces,
and a PostgreSQL warehouse."""

from __future__ import annotations

import gc
import secrets
import shutil
import socket
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
import yaml
from starlette.testclient import TestClient

from connector.config import ProjectConfig
from connector.demo import serve_app
from connector.emulator import Seed, create_app, load_seed
from connector.errors import ConfigError, KintoneError, PermanentKintoneError
from connector.kintone.connect import OAuthRefresh, connect, save_token
from connector.runner import sync
from tests.pg import fresh_database

from .conftest import REPO

AUTH_SEED = Path(__file__).with_name("auth-seed.yaml")
TOKEN = "sample-token"
GUEST_TOKEN = "guest-token"
CLIENT_ID = "sync-client"
CLIENT_SECRET = "sync-client-secret"
REDIRECT_URI = "http://localhost:8765/callback"
SCOPES = "k:app_record:read k:app_record:write k:app_settings:read"
BASIC_PASSWORD = "basic-pw-4711"

# The first three sample customers, as build_sample writes them.
FIRST_THREE = {"C-0001": "Bob Suzuki", "C-0002": "Chika Tanaka", "C-0003": "Daisuke Smith"}
FEW = {
    "app": "CUST",
    "source": {
        "query": "select * from customers where customer_id <= 'C-0003'",
        "primary_key": ["customer_id"],
    },
    "mode": "upsert",
    "key": "customer_id",
    "fields": {"customer_id": "customer_id", "name": "full_name"},
}


# --- the emulator on a real socket -----------------------------------------------------------


@contextmanager
def serve(seed: Seed, **options: Any) -> Iterator[str]:
    """The emulator served by uvicorn in a thread."""
    app = create_app(seed, options=seed.options.model_copy(update=options))
    with serve_app(app) as port:
        yield f"http://localhost:{port}"


@pytest.fixture(scope="module")
def auth_seed() -> Seed:
    return load_seed(AUTH_SEED)


@pytest.fixture(scope="module")
def served(auth_seed: Seed) -> Iterator[str]:
    with serve(auth_seed) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def served_basic(auth_seed: Seed) -> Iterator[str]:
    with serve(auth_seed, basic_auth=f"u:{BASIC_PASSWORD}") as base_url:
        yield base_url


@pytest.fixture
def live(served: str) -> Iterator[httpx.Client]:
    """A plain client on the served emulator for inspection; the domain starts from the seed."""
    with httpx.Client(base_url=served) as http:
        assert http.post("/_emulator/reset").is_success
        yield http


@pytest.fixture
def live_basic(served_basic: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served_basic) as http:
        assert http.post("/_emulator/reset").is_success
        yield http


def make_project(
    root: Path, base_url: str, auth: dict[str, Any], **connection: Any
) -> ProjectConfig:
    """A project on a copy of the sample warehouse with the `few` and guest mappings."""
    shutil.copy(root.parent / "warehouse.duckdb", root / "warehouse.duckdb")
    mappings = root / "mappings"
    mappings.mkdir()
    guest = {**FEW, "app": 2}
    jobs = {"few": FEW, "guest": {**guest, "guest_space": 5}, "guest_no_space": guest}
    for name, mapping in jobs.items():
        (mappings / f"{name}.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return ProjectConfig.model_validate(
        {
            "source": {"url": "duckdb:///warehouse.duckdb"},
            "connections": {"default": {"base_url": base_url, "auth": auth, **connection}},
            "root": root,
        }
    )


@pytest.fixture
def root(tmp_path: Path, sample_warehouse: Path) -> Path:
    shutil.copy(sample_warehouse, tmp_path / "warehouse.duckdb")
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


def stored(http: httpx.Client, app: int = 1) -> list[dict[str, Any]]:
    """Every record of an app, read through the emulator's inspection endpoint."""
    return list(http.get("/_emulator/records", params={"app": app}).json()["records"])


def names(http: httpx.Client, app: int = 1) -> dict[str, str]:
    records = stored(http, app)
    return {r["customer_id"]["value"]: r["name"]["value"] for r in records}


def creators(http: httpx.Client, app: int = 1) -> set[tuple[str, str]]:
    return {
        (r["Created_by"]["value"]["code"], r["Created_by"]["value"]["name"])
        for r in stored(http, app)
    }


# --- API tokens and passwords ----------------------------------------------------------------


def test_api_token_from_env_lands_records(live: httpx.Client, served: str, root: Path) -> None:
    project = make_project(root, served, {"api_token_env": "KINTONE_API_TOKEN"})
    report = sync(project, "few", env={"KINTONE_API_TOKEN": TOKEN})
    assert (report.inserted, report.updated) == (3, 0)
    assert names(live) == FIRST_THREE


def test_two_token_variables_are_joined(live: httpx.Client, served: str, root: Path) -> None:
    # The guest app's token rides along, as a lookup source app's token would.
    project = make_project(root, served, {"api_token_env": ["CUSTOMERS_TOKEN", "LOOKUP_TOKEN"]})
    env = {"CUSTOMERS_TOKEN": TOKEN, "LOOKUP_TOKEN": GUEST_TOKEN}
    with connect(project.connections["default"], root=root, env=env) as http:
        assert http.headers["X-Cybozu-API-Token"] == f"{TOKEN},{GUEST_TOKEN}"
    report = sync(project, "few", env=env)
    assert report.inserted == 3
    assert names(live) == FIRST_THREE


def test_password_auth_writes_as_the_user(live: httpx.Client, served: str, root: Path) -> None:
    project = make_project(root, served, {"username_env": "K_USER", "password_env": "K_PASS"})
    report = sync(project, "few", env={"K_USER": "etl", "K_PASS": "etl-password"})
    assert report.inserted == 3
    assert names(live) == FIRST_THREE
    assert creators(live) == {("etl", "ETL Robot")}


def test_bad_token_is_refused_without_echoing_it(
    live: httpx.Client, served: str, root: Path
) -> None:
    bad = "not-a-token-" + secrets.token_hex(8)
    project = make_project(root, served, {"api_token_env": "KINTONE_API_TOKEN"})
    with pytest.raises(KintoneError) as caught:
        sync(project, "few", env={"KINTONE_API_TOKEN": bad})
    assert caught.value.code == "GAIA_IA02"
    assert "GAIA_IA02" in str(caught.value)
    assert bad not in str(caught.value)
    assert stored(live) == []


def test_wrong_password_is_refused_without_echoing_it(
    live: httpx.Client, served: str, root: Path
) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    project = make_project(root, served, {"username_env": "K_USER", "password_env": "K_PASS"})
    with pytest.raises(PermanentKintoneError) as caught:
        sync(project, "few", env={"K_USER": "etl", "K_PASS": wrong})
    assert caught.value.code == "CB_WA01"
    assert wrong not in str(caught.value)
    assert stored(live) == []


@pytest.mark.parametrize(
    ("auth", "connection", "env", "missing"),
    [
        ({"api_token_env": "KINTONE_API_TOKEN"}, {}, {}, "KINTONE_API_TOKEN"),
        ({"api_token_env": ["TOKEN_A", "TOKEN_B"]}, {}, {"TOKEN_A": TOKEN}, "TOKEN_B"),
        ({"username_env": "K_USER", "password_env": "K_PASS"}, {}, {"K_USER": "etl"}, "K_PASS"),
        (
            {"oauth": {"client_id_env": "OAUTH_ID", "client_secret_env": "OAUTH_SECRET"}},
            {},
            {"OAUTH_ID": CLIENT_ID},
            "OAUTH_SECRET",
        ),
        (
            {"api_token_env": "KINTONE_API_TOKEN"},
            {"basic_auth": {"username_env": "BA_USER", "password_env": "BA_PASS"}},
            {"KINTONE_API_TOKEN": TOKEN, "BA_USER": "u", "BA_PASS": ""},
            "BA_PASS",
        ),
    ],
    ids=["token", "second-token", "password", "oauth-secret", "basic-empty"],
)
def test_missing_env_var_is_a_config_error_naming_it(
    live: httpx.Client,
    served: str,
    root: Path,
    auth: dict[str, Any],
    connection: dict[str, Any],
    env: dict[str, str],
    missing: str,
) -> None:
    project = make_project(root, served, auth, **connection)
    with pytest.raises(ConfigError, match=rf"\b{missing}\b is not set"):
        sync(project, "few", env=env)
    assert stored(live) == []


def test_sync_closes_the_client_it_connected(live: httpx.Client, served: str, root: Path) -> None:
    # sync() without `http` connects itself; the pool it opened must be closed when it returns.
    project = make_project(root, served, {"api_token_env": "KINTONE_API_TOKEN"})
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert sync(project, "few", env={"KINTONE_API_TOKEN": TOKEN}).inserted == 3
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


# --- OAuth -----------------------------------------------------------------------------------


def authorization_code_login(base_url: str) -> str:
    """The authorization-code flow against the emulator, as `auth login` does; the refresh token."""
    with httpx.Client(base_url=base_url, follow_redirects=False) as http:
        consent = http.get(
            "/oauth2/authorization",
            params={
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "scope": SCOPES,
                "state": "xyz",
            },
        )
        assert consent.status_code == 302
        location = urlsplit(consent.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
        query = parse_qs(location.query)
        assert query["state"] == ["xyz"]
        token = http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": REDIRECT_URI,
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        assert token.status_code == 200, token.text
        return str(token.json()["refresh_token"])


OAUTH_AUTH = {"oauth": {"client_id_env": "OAUTH_ID", "client_secret_env": "OAUTH_SECRET"}}
OAUTH_ENV = {"OAUTH_ID": CLIENT_ID, "OAUTH_SECRET": CLIENT_SECRET}


def test_oauth_refresh_token_syncs_and_survives_expiry(
    live: httpx.Client, served: str, root: Path
) -> None:
    token_file = root / ".kintone-sync" / "oauth-token.json"
    save_token(token_file, {"refresh_token": authorization_code_login(served)})
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    project = make_project(root, served, OAUTH_AUTH)

    report = sync(project, "few", env=OAUTH_ENV)
    assert report.inserted == 3
    assert names(live) == FIRST_THREE
    assert creators(live) == {("hana", "Hana Sato")}  # the user who approved the client
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    # One client across the expiry, so the second run meets a 401 and must refresh.
    with connect(project.connections["default"], root=root, env=OAUTH_ENV) as http:
        auth = http.auth
        assert isinstance(auth, OAuthRefresh)
        first = sync(project, "few", env=OAUTH_ENV, http=http, full_refresh=True)
        assert first.updated == 3
        before = auth.access
        assert live.post("/_emulator/oauth/expire").is_success
        second = sync(project, "few", env=OAUTH_ENV, http=http, full_refresh=True)
        assert (second.inserted, second.updated) == (0, 3)
        assert auth.access is not None
        assert auth.access != before  # refreshed on the 401, not ahead of the hour
    assert names(live) == FIRST_THREE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_oauth_without_stored_login_is_a_config_error(
    live: httpx.Client, served: str, root: Path
) -> None:
    project = make_project(root, served, OAUTH_AUTH)
    with pytest.raises(ConfigError, match="auth login"):
        sync(project, "few", env=OAUTH_ENV)
    assert stored(live) == []


def test_oauth_refused_refresh_token_is_permanent(
    live: httpx.Client, served: str, root: Path
) -> None:
    stale = "stale-" + secrets.token_hex(8)
    save_token(root / ".kintone-sync" / "oauth-token.json", {"refresh_token": stale})
    project = make_project(root, served, OAUTH_AUTH)
    with pytest.raises(PermanentKintoneError) as caught:
        sync(project, "few", env=OAUTH_ENV)
    assert caught.value.status == 400
    assert stale not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)
    assert stored(live) == []


def test_oauth_refresh_goes_through_the_connection_proxy(served: str, root: Path) -> None:
    # Fixed in connect.py: the token request used a bare httpx.Client, bypassing the proxy (and
    # the certificate, TLS setting and timeout) that the API calls of the connection use.
    save_token(root / ".kintone-sync" / "oauth-token.json", {"refresh_token": "unused"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = int(probe.getsockname()[1])  # closed again before use: nothing listens
    project = make_project(root, served, OAUTH_AUTH, proxy=f"http://127.0.0.1:{dead}")
    with connect(project.connections["default"], root=root, env=OAUTH_ENV) as http:
        auth = http.auth
        assert isinstance(auth, OAuthRefresh)
        with pytest.raises(httpx.ConnectError):
            http.get("/k/v1/apps.json")
        assert auth.access is None  # the token endpoint was never reached around the proxy


# --- Basic auth in front of Kintone ----------------------------------------------------------

BASIC = {"basic_auth": {"username_env": "BA_USER", "password_env": "BA_PASS"}}


def test_basic_auth_layer_with_token_lands_records(
    live_basic: httpx.Client, served_basic: str, root: Path
) -> None:
    project = make_project(root, served_basic, {"api_token_env": "KINTONE_API_TOKEN"}, **BASIC)
    env = {"KINTONE_API_TOKEN": TOKEN, "BA_USER": "u", "BA_PASS": BASIC_PASSWORD}
    report = sync(project, "few", env=env)
    assert report.inserted == 3
    assert names(live_basic) == FIRST_THREE


def test_basic_auth_layer_with_password_lands_records(
    live_basic: httpx.Client, served_basic: str, root: Path
) -> None:
    auth = {"username_env": "K_USER", "password_env": "K_PASS"}
    project = make_project(root, served_basic, auth, **BASIC)
    env = {"K_USER": "etl", "K_PASS": "etl-password", "BA_USER": "u", "BA_PASS": BASIC_PASSWORD}
    assert sync(project, "few", env=env).inserted == 3
    assert creators(live_basic) == {("etl", "ETL Robot")}


def test_wrong_basic_password_is_cb_ba01_without_echoing_it(
    live_basic: httpx.Client, served_basic: str, root: Path
) -> None:
    wrong = "basic-wrong-" + secrets.token_hex(8)
    project = make_project(root, served_basic, {"api_token_env": "KINTONE_API_TOKEN"}, **BASIC)
    env = {"KINTONE_API_TOKEN": TOKEN, "BA_USER": "u", "BA_PASS": wrong}
    with pytest.raises(PermanentKintoneError) as caught:
        sync(project, "few", env=env)
    assert caught.value.code == "CB_BA01"
    assert "CB_BA01" in str(caught.value)
    assert wrong not in str(caught.value)
    assert BASIC_PASSWORD not in str(caught.value)
    assert stored(live_basic) == []


def test_basic_auth_with_oauth_is_refused_before_any_request(
    live_basic: httpx.Client, served_basic: str, root: Path
) -> None:
    save_token(root / ".kintone-sync" / "oauth-token.json", {"refresh_token": "unused"})
    project = make_project(root, served_basic, OAUTH_AUTH, **BASIC)
    env = {**OAUTH_ENV, "BA_USER": "u", "BA_PASS": BASIC_PASSWORD}
    with pytest.raises(ConfigError, match="basic_auth"):
        sync(project, "few", env=env)
    assert stored(live_basic) == []


# --- guest spaces ----------------------------------------------------------------------------


def test_guest_space_mapping_writes_into_the_guest_app(
    live: httpx.Client, served: str, root: Path
) -> None:
    project = make_project(root, served, {"api_token_env": "KINTONE_API_TOKEN"})
    report = sync(project, "guest", env={"KINTONE_API_TOKEN": GUEST_TOKEN})
    assert (report.app, report.inserted) == (2, 3)
    assert names(live, app=2) == FIRST_THREE
    assert stored(live, app=1) == []


def test_guest_app_without_guest_space_is_gaia_il23(
    live: httpx.Client, served: str, root: Path
) -> None:
    project = make_project(root, served, {"api_token_env": "KINTONE_API_TOKEN"})
    with pytest.raises(PermanentKintoneError) as caught:
        sync(project, "guest_no_space", env={"KINTONE_API_TOKEN": GUEST_TOKEN})
    assert caught.value.code == "GAIA_IL23"
    assert stored(live, app=2) == []


# --- PostgreSQL warehouse --------------------------------------------------------------------

PG = "127.0.0.1:5432"

PG_SCHEMA = """
CREATE TABLE customers (
    customer_id  TEXT PRIMARY KEY,
    full_name    TEXT,
    email        TEXT,
    segment      TEXT,
    credit_limit NUMERIC(30, 10),
    signed_up    DATE,
    last_seen    TIMESTAMP,
    tags         TEXT,
    notes        TEXT
);
CREATE TABLE orders (
    order_id    TEXT PRIMARY KEY,
    customer_id TEXT,
    ordered_on  DATE,
    amount      NUMERIC(10, 2),
    status      TEXT
);
INSERT INTO customers VALUES
    ('P-1', '陽菜 García', 'hina@example.com', 'enterprise',
     12345678901234567890.1234567891, '2020-02-29', '2024-06-01 09:34:00', 'vip,newsletter',
     'Zoë 🚀 first'),
    ('P-2', 'Ünal Øster', 'unal@example.com', 'smb', 0.5, '2021-12-31', '2024-01-01 05:00:00',
     '', NULL),
    ('P-3', 'Bob Sato', NULL, NULL, NULL, NULL, NULL, 'trial', 'plain');
-- Inserted out of order: the mapping orders rows by ordered_on, then order_id.
INSERT INTO orders VALUES
    ('O-1-c', 'P-1', '2024-03-01', 30.00, 'cancelled'),
    ('O-1-a', 'P-1', '2024-01-15', 10.50, 'open'),
    ('O-1-b', 'P-1', '2024-01-15', 20.25, 'shipped'),
    ('O-2-a', 'P-2', '2024-02-02', 99.99, 'open');
"""


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database holding the customers and orders tables, dropped afterwards."""
    with fresh_database() as url:
        filler = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with filler.begin() as con:
            con.exec_driver_sql(PG_SCHEMA)
        filler.dispose()
        yield url


def pg_project(pg_url: str, root: Path) -> ProjectConfig:
    """The repository's mappings over the PostgreSQL warehouse, two rows a chunk."""
    shutil.copytree(REPO / "mappings", root / "mappings")
    return ProjectConfig.model_validate(
        {
            "source": {"url": pg_url, "chunk_size": 2},
            "connections": {
                "default": {
                    "base_url": "https://example.cybozu.com",
                    "auth": {"api_token_env": "KINTONE_API_TOKEN"},
                }
            },
            "root": root,
        }
    )


def test_postgresql_source_lands_exact_values(
    pg_url: str, tmp_path: Path, kintone: TestClient
) -> None:
    project = pg_project(pg_url, tmp_path)
    report = sync(project, "customers", http=kintone)
    assert (report.rows_read, report.inserted, report.refused) == (3, 3, 0), report.refusals
    records = {r["customer_id"]["value"]: r for r in stored(kintone)}
    assert set(records) == {"P-1", "P-2", "P-3"}

    p1 = records["P-1"]
    assert p1["name"]["value"] == "陽菜 García"
    assert p1["email"]["value"] == "hina@example.com"
    assert p1["segment"]["value"] == "enterprise"
    assert p1["credit_limit"]["value"] == "12345678901234567890.1234567891"
    assert p1["signed_up"]["value"] == "2020-02-29"
    assert p1["last_seen"]["value"] == "2024-06-01T00:34:00Z"  # 09:34 Tokyo
    assert p1["tags"]["value"] == ["vip", "newsletter"]
    assert p1["notes"]["value"] == "Zoë 🚀 first"
    orders = [row["value"] for row in p1["orders"]["value"]]
    assert [o["order_id"]["value"] for o in orders] == ["O-1-a", "O-1-b", "O-1-c"]
    assert [o["ordered_on"]["value"] for o in orders] == ["2024-01-15", "2024-01-15", "2024-03-01"]
    assert [Decimal(o["amount"]["value"]) for o in orders] == [
        Decimal("10.50"),
        Decimal("20.25"),
        Decimal("30.00"),
    ]
    assert [o["status"]["value"] for o in orders] == ["open", "shipped", "cancelled"]

    p2 = records["P-2"]
    assert p2["name"]["value"] == "Ünal Øster"
    assert Decimal(p2["credit_limit"]["value"]) == Decimal("0.5")
    assert p2["last_seen"]["value"] == "2023-12-31T20:00:00Z"  # crosses the date line back
    assert p2["signed_up"]["value"] == "2021-12-31"
    assert p2["tags"]["value"] == []
    assert p2["notes"]["value"] == ""
    assert [row["value"]["order_id"]["value"] for row in p2["orders"]["value"]] == ["O-2-a"]

    p3 = records["P-3"]
    assert p3["email"]["value"] == ""
    assert p3["segment"]["value"] is None
    assert p3["credit_limit"]["value"] == ""
    assert p3["last_seen"]["value"] is None  # empty DATE/DATETIME read back as null
    assert p3["signed_up"]["value"] is None
    assert p3["tags"]["value"] == ["trial"]
    assert p3["orders"]["value"] == []


def test_postgresql_rows_are_skimmed_by_their_digests(
    pg_url: str, tmp_path: Path, kintone: TestClient
) -> None:
    project = pg_project(pg_url, tmp_path)
    assert sync(project, "customers", http=kintone).inserted == 3
    again = sync(project, "customers", http=kintone)
    assert (again.unchanged, again.skimmed) == (3, 3)
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as con:
        con.exec_driver_sql("UPDATE orders SET amount = 20.26 WHERE order_id = 'O-1-b'")
        con.exec_driver_sql("UPDATE customers SET notes = 'NULL' WHERE notes IS NULL")
    engine.dispose()
    changed = sync(project, "customers", http=kintone)
    # P-1's order, and P-2's NULL note that became the text NULL; P-3 is skimmed.
    assert (changed.updated, changed.skimmed, changed.rows_read) == (2, 1, 3)
    records = {r["customer_id"]["value"]: r for r in stored(kintone)}
    assert records["P-2"]["notes"]["value"] == "NULL"
    amounts = [row["value"]["amount"]["value"] for row in records["P-1"]["orders"]["value"]]
    assert Decimal(amounts[1]) == Decimal("20.26")
