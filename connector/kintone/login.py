"""`kintone-sync auth login`: the OAuth authorization-code flow through a local redirect."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from connector.config import ConnectionConfig, secret
from connector.errors import ConfigError, PermanentKintoneError
from connector.kintone.connect import client_options, save_token


def login(
    conn: ConnectionConfig,
    *,
    root: Path,
    open_browser: Callable[[str], object],
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """Send the user to Kintone's consent page, catch the redirect on localhost, store the
    refresh token (0600) and answer its path.

    Raises:
        ConfigError: the connection has no OAuth settings, or no answer came in time.
        PermanentKintoneError: Kintone refused the consent or the code.
    """
    oauth = conn.auth.oauth
    if oauth is None:
        raise ConfigError("this connection has no auth.oauth settings", key="auth.oauth")
    client_id = secret(oauth.client_id_env, env)
    client_secret = secret(oauth.client_secret_env, env)
    state = secrets.token_urlsafe(16)
    caught: dict[str, str] = {}
    done = threading.Event()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            caught.update(query)
            ok = query.get("state") == state and "code" in query
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            message = (
                "kintone-sync is signed in; you may close this page." if ok else "Sign-in failed."
            )
            self.wfile.write(message.encode())
            done.set()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return None

    server = HTTPServer(("127.0.0.1", oauth.redirect_port), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    redirect_uri = f"http://localhost:{oauth.redirect_port}/callback"
    base = conn.base_url.rstrip("/")
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": " ".join(oauth.scopes),
        }
    )
    try:
        open_browser(f"{base}/oauth2/authorization?{query}")
        if not done.wait(timeout):
            raise ConfigError(f"no sign-in came back to {redirect_uri} within {timeout:.0f} s")
    finally:
        server.shutdown()
        server.server_close()
    if caught.get("state") != state or "code" not in caught:
        reason = caught.get("error", "the answer did not carry this login's state")
        raise PermanentKintoneError(f"OAuth sign-in refused: {reason}")
    with httpx.Client(**client_options(conn, root=root, env=env, transport=transport)) as http:
        response = http.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": caught["code"],
                "redirect_uri": redirect_uri,
            },
            auth=(client_id, client_secret),
        )
    if response.status_code != 200:
        raise PermanentKintoneError(
            f"the OAuth code was refused ({response.status_code}); run the login again",
            status=response.status_code,
        )
    path = root / oauth.token_file
    save_token(path, {"refresh_token": response.json()["refresh_token"]})
    return path
