"""The cybozu.com User API over HTTP: password auth, admin rights, dispatch, parameter checks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import ApiError, api_error, invalid, invalid_one
from .params import as_list, is_integer_text, parse_json, parse_query_string

if TYPE_CHECKING:
    from .auth import Authenticator
    from .users import UserStore

log = logging.getLogger(__name__)

MAX_PER_CALL = 100
"""Users, organizations or groups per read or write call (cybozu.dev User API pages)."""
MAX_GROUPS_PER_USER = 1000
"""Group codes in one `PUT user/groups.json`, login names in one `PUT group/users.json`."""
CODE_LENGTH = 128

Handler = Callable[["UserStore", dict[str, Any]], dict[str, Any]]


class Problems:
    """CB_VA01 error keys and messages gathered over a whole request (all or nothing)."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def raise_any(self) -> None:
        if self.errors:
            raise invalid(self.errors)

    def text(
        self,
        key: str,
        value: Any,
        limit: int,
        *,
        required: bool = False,
        blank: bool = True,
    ) -> str | None:
        """A text parameter: `None` when absent, null or empty (unless required).

        `blank=False` refuses a value of spaces only, as the docs say for codes and names.
        """
        if value is None or value == "":
            if required:
                self.add(key, "Required field.")
            return None
        if not isinstance(value, str):
            self.add(key, "Enter a text value.")
            return None
        if not blank and not value.strip():
            self.add(key, "Enter a value other than spaces.")
            return None
        if len(value) > limit:
            self.add(key, f"Enter less than {limit + 1} characters.")
            return None
        return value

    def items(self, params: Mapping[str, Any], name: str, limit: int) -> list[Any]:
        """A required list parameter of at most `limit` entries."""
        value = params.get(name)
        if not isinstance(value, list) or not value:
            self.add(name, "Required field.")
        elif len(value) > limit:
            self.add(name, f"Specify at most {limit} items.")
        else:
            return value
        self.raise_any()
        return []

    def entry(self, key: str, item: Any, allowed: Iterable[str]) -> Mapping[str, Any] | None:
        """One object of a list; keys it may not carry are refused (docs/emulator.md)."""
        if not isinstance(item, Mapping):
            self.add(key, "Enter an object.")
            return None
        for extra in sorted(set(item) - set(allowed)):
            self.add(f"{key}.{extra}", "Unknown parameter.")
        return item


def codes_of(params: Mapping[str, Any], name: str) -> list[str]:
    """A list of codes; each must be text.

    Raises:
        ApiError: CB_VA01 keyed by the parameter.
    """
    values = as_list(params, name)
    if not all(isinstance(v, str) for v in values):
        raise invalid_one(name, "Enter an array of texts.")
    return values


def ids_of(params: Mapping[str, Any], name: str = "ids") -> set[int]:
    values = as_list(params, name)
    if not all(
        not isinstance(v, bool) and isinstance(v, int | str) and is_integer_text(str(v))
        for v in values
    ):
        raise invalid_one(name, "Enter an array of integer values.")
    return {int(v) for v in values}


def one_code(params: Mapping[str, Any], name: str = "code") -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_one(name, "Required field.")
    return value


def page(params: Mapping[str, Any], found: Iterable[Any]) -> Iterator[Any]:
    """`size` (1-100, default 100) entries after `offset` (0 or more) of `found`.

    Raises:
        ApiError: CB_VA01 keyed by `size` or `offset`.
    """
    size = _bounded(params, "size", 1, MAX_PER_CALL, MAX_PER_CALL)
    offset = _bounded(params, "offset", 0, 10**15, 0)
    return islice(found, offset, offset + size)


def _bounded(params: Mapping[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    plain = isinstance(value, int | str) and not isinstance(value, bool)
    if not plain or not is_integer_text(str(value).strip()):
        raise invalid_one(name, f"Enter a number between {low} and {high}.")
    number = int(str(value).strip())
    if not low <= number <= high:
        raise invalid_one(name, f"Enter a number between {low} and {high}.")
    return number


def selected(
    params: Mapping[str, Any], by_id: Mapping[int, Any], by_code: Mapping[str, Any]
) -> Iterator[Any]:
    """Entities chosen by `ids` or `codes` (not both), or all of them, in id order.

    Raises:
        ApiError: CB_VA01 when both are given or one is malformed.
    """
    ids = ids_of(params)
    codes = codes_of(params, "codes")
    if ids and codes:
        raise invalid_one("ids", "Specify either ids or codes.")
    if codes:
        wanted = {by_code[c].id for c in codes if c in by_code}
        return (item for item in by_id.values() if item.id in wanted)
    if ids:
        return (item for item in by_id.values() if item.id in ids)
    return iter(by_id.values())


def routes(store: UserStore, auth: Authenticator) -> list[Route]:
    """Every User API route, and a JSON 404 for other `/v1/` paths."""
    from . import userapi_groups, userapi_orgs, userapi_users

    endpoints: dict[str, dict[str, Handler]] = {
        **userapi_users.ENDPOINTS,
        **userapi_orgs.ENDPOINTS,
        **userapi_groups.ENDPOINTS,
    }
    api = _UserApi(store, auth)
    out = [
        Route(f"/v1/{name}.json", api.handler(methods), methods=list(methods))
        for name, methods in endpoints.items()
    ]
    out.append(Route("/v1/{rest:path}", api.unknown, methods=["GET", "POST", "PUT", "DELETE"]))
    return out


class _UserApi:
    def __init__(self, store: UserStore, auth: Authenticator) -> None:
        self.store = store
        self.auth = auth

    def handler(self, methods: Mapping[str, Handler]) -> Callable[[Request], Any]:
        async def serve(request: Request) -> Response:
            try:
                params = await self._call(request, admin=request.method != "GET")
                return JSONResponse(methods[request.method](self.store, params))
            except ApiError as err:
                return JSONResponse(err.body(), status_code=err.status)
            except Exception:  # a bug in the emulator must still answer in the API's shape
                log.exception("emulator error on %s %s", request.method, request.url.path)
                body = {"code": "CB_UN01", "id": "emulator", "message": "Unexpected error."}
                return JSONResponse(body, status_code=500)

        return serve

    async def unknown(self, request: Request) -> Response:
        err = api_error("CB_NF01")
        return JSONResponse(err.body(), status_code=err.status)

    async def _call(self, request: Request, *, admin: bool) -> dict[str, Any]:
        """The caller checked and the parameters (query string, then JSON body).

        Only password authentication opens the User API: an app's API token or an OAuth bearer
        token counts as no credentials (docs/user-api.md, Authentication).

        Raises:
            ApiError: CB_AU01 (no password header), CB_WA01 (wrong password), CB_NO02 (a write
                by a user who is not a cybozu.com administrator), CB_IJ01 (bad JSON).
        """
        header = request.headers.get("x-cybozu-authorization")
        if header is None:
            raise api_error("CB_AU01")
        login = self.auth.password_user(header)
        user = self.store.users.by_code.get(login)
        if admin and (user is None or not user.administrator):
            raise api_error("CB_NO02")
        params = parse_query_string(request.url.query)
        params.update(parse_json(await request.body()))
        return params
