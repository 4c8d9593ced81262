"""Who is calling and what they may do: API tokens, passwords, OAuth, Basic auth, guest spaces."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .errors import api_error
from .seed import AppSeed, OAuthClientSeed, Options, Right, Seed

if TYPE_CHECKING:
    from .users import UserStore

MAX_TOKENS_PER_REQUEST = 9
ACCESS_TOKEN_SECONDS = 3600
# OAuth scopes per kind of API (docs/kintone-api.md §7).
_READ_SCOPE = {"record": "k:app_record:read", "settings": "k:app_settings:read"}
_WRITE_SCOPE = "k:app_record:write"


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    kind: Literal["token", "password", "oauth"]
    tokens: frozenset[str] = frozenset()
    user: str | None = None
    scopes: frozenset[str] = frozenset()


@dataclass
class _Grant:
    client_id: str
    user: str
    scopes: frozenset[str]
    redirect_uri: str = ""
    expires: float = field(default_factory=lambda: time.time() + ACCESS_TOKEN_SECONDS)


class Authenticator:
    """Reads credentials from headers and checks rights against the seed's tokens and users."""

    def __init__(self, seed: Seed, users: UserStore, options: Options) -> None:
        self.options = options
        self.users = users
        self.clients: dict[str, OAuthClientSeed] = {c.client_id: c for c in seed.oauth_clients}
        self.token_apps: dict[str, list[AppSeed]] = {}
        for app in seed.apps:
            for token in app.tokens:
                self.token_apps.setdefault(token.token, []).append(app)
        self.codes: dict[str, _Grant] = {}
        self.access: dict[str, _Grant] = {}
        self.refresh: dict[str, _Grant] = {}

    # --- authentication -----------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller named by the request headers.

        Raises:
            ApiError: CB_BA01 (Basic layer), CB_AU01 (nothing given), CB_WA01 (bad password),
                GAIA_IA02 (unknown token), GAIA_DA03 (two tokens of one app), CB_OA01 (bad bearer).
        """
        authorization = headers.get("authorization", "")
        if self.options.basic_auth is not None:
            self._check_basic(authorization)
            authorization = ""
        password = headers.get("x-cybozu-authorization")
        tokens = _api_tokens(headers)
        if password is not None and (tokens is None or self.options.auth_precedence == "password"):
            return Principal("password", user=self.password_user(password))
        if tokens is not None:
            return self._tokens(tokens)
        if authorization.lower().startswith("bearer "):
            return self._bearer(authorization[7:].strip())
        raise api_error("CB_AU01")

    def _check_basic(self, authorization: str) -> None:
        if not authorization.lower().startswith("basic "):
            raise api_error("CB_BA01")
        try:
            given = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except ValueError:  # bad base64, non-ASCII header text or bytes that are not UTF-8
            raise api_error("CB_BA01") from None
        if not same_secret(given, self.options.basic_auth or ""):
            raise api_error("CB_BA01")

    def password_user(self, header: str) -> str:
        """The user code an `X-Cybozu-Authorization` value names.

        Raises:
            ApiError: 401 CB_WA01 for a malformed value, an unknown user or a wrong password.
        """
        try:
            login, _, password = base64.b64decode(header, validate=True).decode().partition(":")
        except ValueError:  # bad base64, non-ASCII header text or bytes that are not UTF-8
            raise api_error("CB_WA01") from None
        if not self.users.check_password(login, password):
            raise api_error("CB_WA01")
        return login

    def _tokens(self, header: str) -> Principal:
        # Several tokens come comma-separated; an invalid one fails the request (docs/kintone-api.md
        # §7).
        given = [t.strip() for t in header.split(",") if t.strip()]
        if not given or len(given) > MAX_TOKENS_PER_REQUEST:
            raise api_error("GAIA_IA02")
        apps: set[int] = set()
        for token in given:
            owners = self.token_apps.get(token)
            if not owners:
                raise api_error("GAIA_IA02")
            for app in owners:
                if app.id in apps:
                    raise api_error("GAIA_DA03")
                apps.add(app.id)
        return Principal("token", tokens=frozenset(given))

    def _bearer(self, token: str) -> Principal:
        grant = self.access.get(token)
        if grant is None or grant.expires < time.time():
            raise api_error("CB_OA01")
        return Principal("oauth", user=grant.user, scopes=grant.scopes)

    # --- authorization ------------------------------------------------------------------------

    def authorize(
        self,
        principal: Principal,
        app: AppSeed,
        right: Right,
        *,
        guest_space: int | None,
        settings: bool = False,
    ) -> None:
        """Check that the caller may use `right` on `app` through a path of `guest_space`.

        `settings` marks app-settings APIs (app, form fields, layout) for OAuth scopes.

        Raises:
            ApiError: GAIA_IL23 (guest app on a normal path), CB_NO02 (wrong space or user
                right), GAIA_NO01 (token right), CB_OA02 (OAuth scope).
        """
        if app.guest_space is not None and guest_space is None:
            raise api_error("GAIA_IL23")
        if app.guest_space != guest_space:
            raise api_error("CB_NO02")
        if principal.kind == "token":
            rights = [t for t in app.tokens if t.token in principal.tokens]
            if not any(getattr(t, right) for t in rights):
                raise api_error("GAIA_NO01")
            return
        if principal.kind == "oauth":
            scope = _READ_SCOPE["settings" if settings else "record"]
            if right != "view":
                scope = _WRITE_SCOPE
            if scope not in principal.scopes:
                raise api_error("CB_OA02")
        granted = app.user_rights
        if granted is not None and right not in granted.get(principal.user or "", []):
            raise api_error("CB_NO02")

    def authorize_files(self, principal: Principal, *, write: bool) -> None:
        """Check file upload (`write`) or download rights.

        Raises:
            ApiError: GAIA_NO01 for tokens without add/edit (upload) or view (download),
                CB_OA02 for OAuth without the file scope.
        """
        if principal.kind == "token":
            tokens = [
                t
                for apps in (self.token_apps.get(tok, []) for tok in principal.tokens)
                for app in apps
                for t in app.tokens
                if t.token in principal.tokens
            ]
            allowed = any((t.add or t.edit) if write else t.view for t in tokens)
            if not allowed:
                raise api_error("GAIA_NO01")
        elif principal.kind == "oauth":
            scope = "k:file:write" if write else "k:file:read"
            if scope not in principal.scopes:
                raise api_error("CB_OA02")

    # --- OAuth endpoints ----------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """`/oauth2/authorization` (consent given at once) and `/oauth2/token`."""
        return [
            Route("/oauth2/authorization", self.authorization, methods=["GET"]),
            Route("/oauth2/token", self.token, methods=["POST"]),
            Route("/_emulator/oauth/expire", self.expire, methods=["POST"]),
        ]

    async def authorization(self, request: Request) -> Response:
        """The consent screen: approves at once and redirects back with a code."""
        q = request.query_params
        client = self.clients.get(q.get("client_id", ""))
        redirect = q.get("redirect_uri", "")
        if client is None or redirect not in client.redirect_uris:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("response_type") != "code":
            return _redirect(redirect, error="unsupported_response_type", state=q.get("state"))
        user = client.user or self.users.first_valid()
        code = secrets.token_urlsafe(24)
        scopes = frozenset(q.get("scope", "").split())
        self.codes[code] = _Grant(client.client_id, user, scopes, redirect, time.time() + 600)
        return _redirect(redirect, code=code, state=q.get("state"))

    async def token(self, request: Request) -> Response:
        """Exchange a code or a refresh token for an access token (RFC 6749 §4.1.3, §6)."""
        try:
            async with request.form(max_files=0) as sent:
                # Text fields only; `async with` closes any uploaded file a client slipped in.
                form = {k: v for k, v in sent.items() if isinstance(v, str)}
        except HTTPException:  # starlette's answer to a malformed form body
            return _oauth_error("invalid_request", 400)
        client_id, secret = _client_credentials(request.headers.get("authorization", ""), form)
        client = self.clients.get(client_id)
        if client is None or not same_secret(secret, client.client_secret):
            return _oauth_error("invalid_client", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.pop(str(form.get("code", "")), None)
            if (
                grant is None
                or grant.client_id != client_id
                or grant.expires < time.time()
                or grant.redirect_uri != form.get("redirect_uri", grant.redirect_uri)
            ):
                return _oauth_error("invalid_grant", 400)
            refresh = secrets.token_urlsafe(32)
            self.refresh[refresh] = grant
        elif grant_type == "refresh_token":
            refresh = str(form.get("refresh_token", ""))
            grant = self.refresh.get(refresh)
            if grant is None or grant.client_id != client_id:
                return _oauth_error("invalid_grant", 400)
        else:
            return _oauth_error("unsupported_grant_type", 400)
        access = secrets.token_urlsafe(32)
        self.access[access] = _Grant(client_id, grant.user, grant.scopes)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "refresh_token": refresh,
            "scope": " ".join(sorted(grant.scopes)),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def expire(self, request: Request) -> Response:
        """`POST /_emulator/oauth/expire`: every access token expires now (refresh tests)."""
        for grant in self.access.values():
            grant.expires = 0.0
        return JSONResponse({})


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes non-ASCII text (compare_digest refuses str)."""
    return secrets.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _api_tokens(headers: Mapping[str, str]) -> str | None:
    """The `X-Cybozu-API-Token` value; repeated headers join like a comma list.

    Source: docs/kintone-api.md §7.
    """
    if isinstance(headers, Headers):
        repeated = headers.getlist("x-cybozu-api-token")
        return ",".join(repeated) if repeated else None
    return headers.get("x-cybozu-api-token")


def _redirect(uri: str, **params: str | None) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{query}", status_code=302)


def _oauth_error(error: str, status: int) -> Response:
    return JSONResponse({"error": error}, status_code=status)


def _client_credentials(authorization: str, form: Mapping[str, Any]) -> tuple[str, str]:
    """Client id and secret from HTTP Basic (preferred by RFC 6749 §2.3.1) or the form body."""
    if authorization.lower().startswith("basic "):
        try:
            raw = base64.b64decode(authorization[6:].strip()).decode()
        except ValueError:
            return "", ""
        client_id, _, secret = raw.partition(":")
        return client_id, secret
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))
