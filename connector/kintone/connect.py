"""An httpx.Client for one Kintone connection: auth headers, Basic, OAuth, certificate, proxy."""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import httpx

from connector.config import ConnectionConfig, OAuthConfig, secret
from connector.errors import ConfigError, PermanentKintoneError
from connector.logs import redact

USER_AGENT = "kintone-sync"


def connect(
    conn: ConnectionConfig,
    *,
    root: Path = Path("."),
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The client for a connection; secrets come from the environment named in the config.

    Raises:
        ConfigError: a variable is not set, a file is missing, or OAuth has no stored login.
    """
    reach = client_options(conn, root=root, env=env, transport=transport)
    headers = {"User-Agent": USER_AGENT}
    auth: httpx.Auth | None = None
    a = conn.auth
    if a.api_token_env is not None:
        names = [a.api_token_env] if isinstance(a.api_token_env, str) else a.api_token_env
        headers["X-Cybozu-API-Token"] = ",".join(secret(n, env) for n in names)
    elif a.username_env is not None and a.password_env is not None:
        login = f"{secret(a.username_env, env)}:{secret(a.password_env, env)}"
        headers["X-Cybozu-Authorization"] = base64.b64encode(login.encode()).decode()
    elif a.oauth is not None:
        auth = OAuthRefresh(conn.base_url, a.oauth, root=root, env=env, client_options=reach)
    if conn.basic_auth is not None:
        basic = conn.basic_auth
        pair = f"{secret(basic.username_env, env)}:{secret(basic.password_env, env)}"
        if auth is not None:
            raise ConfigError(
                "Basic auth and OAuth both need the Authorization header; a domain with Basic "
                "auth needs API tokens or a password",
                key="basic_auth",
            )
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    for name in ("X-Cybozu-Authorization", "Authorization"):
        if name in headers:  # base64 of "user:password" hides the password from a plain search
            redact(headers[name].removeprefix("Basic "))
    return httpx.Client(base_url=conn.base_url.rstrip("/"), headers=headers, auth=auth, **reach)


def client_options(
    conn: ConnectionConfig,
    *,
    root: Path,
    env: Mapping[str, str] | None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """How to reach the domain: timeout, TLS, client certificate, proxy. The OAuth endpoints
    are on the same domain, so token requests use them too.

    Raises:
        ConfigError: the certificate file is missing or cannot be loaded, or its password
            variable is not set.
    """
    cert: Any = None
    if conn.client_cert is not None:
        cert_file = root / conn.client_cert.cert_file
        if not cert_file.exists():
            raise ConfigError(f"client certificate {cert_file} does not exist", key="client_cert")
        key_file = str(root / conn.client_cert.key_file) if conn.client_cert.key_file else None
        password = (
            secret(conn.client_cert.password_env, env) if conn.client_cert.password_env else None
        )
        try:
            # Loaded once here so that a bad file is a one-line error, not an SSLError later.
            ssl.create_default_context().load_cert_chain(str(cert_file), key_file, password)
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "unreadable"
            raise ConfigError(
                f"client certificate {cert_file} cannot be loaded ({reason}); give a PEM file "
                "with its key (or key_file), and the right password_env",
                key="client_cert",
            ) from None
        cert = (str(cert_file), key_file, password)
    return {
        "timeout": conn.timeout_seconds,
        "verify": conn.verify_tls,
        "cert": cert,
        "proxy": conn.proxy,
        "transport": transport,
    }


class OAuthRefresh(httpx.Auth):
    """Bearer auth from a stored refresh token; a fresh access token when the old one expires."""

    def __init__(
        self,
        base_url: str,
        config: OAuthConfig,
        *,
        root: Path,
        env: Mapping[str, str] | None,
        client_options: Mapping[str, Any],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config
        self.token_file = root / config.token_file
        self.client_id = secret(config.client_id_env, env)
        self.client_secret = secret(config.client_secret_env, env)
        self.client_options = dict(client_options)
        """What the token request is sent with: the connection's timeout, TLS, proxy, transport."""
        if not self.token_file.exists():
            raise ConfigError(
                f"no OAuth login stored in {self.token_file}; run `kintone-sync auth login` once",
                key="auth.oauth",
            )
        self.access: str | None = None
        self.expires = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.access is None or time.time() > self.expires - 60:
            self.refresh()
        request.headers["Authorization"] = f"Bearer {self.access}"
        response = yield request
        if response.status_code == 401:
            # The access token expired early or was revoked: refresh once and send again.
            self.refresh()
            request.headers["Authorization"] = f"Bearer {self.access}"
            yield request

    def refresh(self) -> None:
        """Exchange the stored refresh token for an access token.

        Raises:
            PermanentKintoneError: the refresh token was refused (log in again).
        """
        stored = json.loads(self.token_file.read_text(encoding="utf-8"))
        with httpx.Client(**self.client_options) as http:
            response = http.post(
                f"{self.base_url}/oauth2/token",
                data={"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]},
                auth=(self.client_id, self.client_secret),
            )
        if response.status_code != 200:
            raise PermanentKintoneError(
                "the stored OAuth refresh token was refused; run `kintone-sync auth login` again",
                status=response.status_code,
            )
        body = response.json()
        self.access = str(body["access_token"])
        self.expires = time.time() + float(body.get("expires_in", 3600))
        if body.get("refresh_token") and body["refresh_token"] != stored["refresh_token"]:
            save_token(self.token_file, {"refresh_token": body["refresh_token"]})


def save_token(path: Path, token: Mapping[str, Any]) -> None:
    """Write a token file readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(token), handle)
    os.replace(tmp, path)
    path.chmod(0o600)
