"""Fixtures that drive the official Kintone npm clients against the emulator on a real socket.

The clients are installed from tests/official/package.json (`npm ci --prefix tests/official`).
Every test here is skipped when `node` or those node_modules are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
SEED = HERE / "seed.yaml"
NODE_MODULES = HERE / "node_modules"
CLI_BIN = NODE_MODULES / ".bin" / "cli-kintone"
CLIENT_SCRIPT = HERE / "client.mjs"

APP = 1
TOKEN = "official-token"
NODE_TIMEOUT = 60.0

_NODE = shutil.which("node")
_SKIP_REASON: str | None = None
if _NODE is None:
    _SKIP_REASON = "node is not installed; the official Kintone clients need Node.js >= 18"
elif not (NODE_MODULES / "@kintone" / "rest-api-client").is_dir() or not CLI_BIN.exists():
    _SKIP_REASON = (
        "the official Kintone clients are not installed: run `npm ci --prefix tests/official`"
    )


@pytest.fixture(autouse=True, scope="session")
def _require_official_clients() -> None:
    if _SKIP_REASON is not None:
        pytest.skip(_SKIP_REASON)


def _node_env(base_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # Proxies would intercept requests to localhost; password auth would beat the API token.
    for key in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "KINTONE_USERNAME",
        "KINTONE_PASSWORD",
        "KINTONE_BASIC_AUTH_USERNAME",
        "KINTONE_BASIC_AUTH_PASSWORD",
        "KINTONE_GUEST_SPACE_ID",
    ):
        env.pop(key, None)
    env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1"
    env["KINTONE_BASE_URL"] = base_url
    env["KINTONE_API_TOKEN"] = TOKEN
    env["KINTONE_APP"] = str(APP)
    env["NO_COLOR"] = "1"
    return env


@dataclass
class NodeResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        return (
            f"exit {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


@dataclass
class Emulator:
    """A running emulator plus helpers to drive the official clients against it."""

    port: int
    http: httpx.Client

    @property
    def base_url(self) -> str:
        # The clients accept plain http only for the host name `localhost`.
        return f"http://localhost:{self.port}"

    def reset(self) -> None:
        resp = self.http.post("/_emulator/reset")
        assert resp.status_code < 300, resp.text

    def records(self, app: int = APP) -> list[dict[str, Any]]:
        """Every record of the app, in GET record.json shape, sorted by $id."""
        resp = self.http.get("/_emulator/records", params={"app": app})
        assert resp.status_code == 200, resp.text
        recs = resp.json()["records"]
        return sorted(recs, key=lambda r: int(r["$id"]["value"]))

    def by_code(self, app: int = APP) -> dict[str, dict[str, Any]]:
        """Records keyed by their `code` value; fails on duplicate codes."""
        recs = self.records(app)
        out = {r["code"]["value"]: r for r in recs}
        assert len(out) == len(recs), "duplicate `code` values landed"
        return out

    def _run(self, argv: list[str], stdin: str | None, cwd: Path) -> NodeResult:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
            env=_node_env(self.base_url),
            cwd=cwd,
            check=False,
        )
        return NodeResult(proc.returncode, proc.stdout, proc.stderr)

    def client(self, action: str, **args: Any) -> NodeResult:
        """Run one @kintone/rest-api-client action through client.mjs."""
        assert _NODE is not None
        return self._run([_NODE, str(CLIENT_SCRIPT), action], json.dumps(args), HERE)

    def client_ok(self, action: str, **args: Any) -> Any:
        res = self.client(action, **args)
        assert res.returncode == 0, res.describe()
        return res.json()

    def cli(self, *args: str, cwd: Path | None = None) -> NodeResult:
        """Run `cli-kintone ARGS --base-url ... --api-token ... --app 1`."""
        argv = [
            str(CLI_BIN),
            *args,
            "--base-url",
            self.base_url,
            "--api-token",
            TOKEN,
            "--app",
            str(APP),
        ]
        return self._run(argv, None, cwd or HERE)

    def cli_ok(self, *args: str, cwd: Path | None = None) -> NodeResult:
        res = self.cli(*args, cwd=cwd)
        assert res.returncode == 0, res.describe()
        return res


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[int]:
    from connector.demo import serve_app
    from connector.emulator import create_app, load_seed

    with serve_app(create_app(load_seed(SEED))) as port:
        yield port


@pytest.fixture
def emulator(_emulator_server: int) -> Iterator[Emulator]:
    with httpx.Client(base_url=f"http://127.0.0.1:{_emulator_server}", timeout=30) as http:
        emu = Emulator(port=_emulator_server, http=http)
        emu.reset()
        yield emu
