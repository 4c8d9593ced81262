"""The cybozu.com User API subset: users, their organizations and groups, password auth only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import same_secret
from .errors import ApiError, api_error, invalid, invalid_one
from .params import as_list, parse_json, parse_query_string
from .seed import Seed, UserSeed
from .store import Directory, Entity

if TYPE_CHECKING:
    from .auth import Authenticator

MAX_USERS_PER_CALL = 100
# Fields a User API answer shows for a user (API.md §9); the password never leaves.
_SHOWN = (
    "code",
    "name",
    "valid",
    "surName",
    "givenName",
    "email",
    "locale",
    "timezone",
    "description",
    "phone",
)


class UserStore:
    """The domain's users, organizations and groups; keeps the record-side `Directory` in step."""

    def __init__(self, seed: Seed, directory: Directory) -> None:
        self.directory = directory
        self.users: dict[str, UserSeed] = {}
        self.next_id = 1
        for user in seed.users:
            self._put(user)
        for org in seed.organizations:
            directory.organizations[org.code] = Entity(org.code, org.name)
        for group in seed.groups:
            directory.groups[group.code] = Entity(group.code, group.name)

    def _put(self, user: UserSeed) -> None:
        if user.id is None:
            user = user.model_copy(update={"id": self.next_id})
        self.next_id = max(self.next_id, (user.id or 0) + 1)
        self.users[user.code] = user
        self.directory.users[user.code] = Entity(user.code, user.name)

    def check_password(self, login: str, password: str) -> bool:
        """Whether a valid user has this password."""
        user = self.users.get(login)
        return (
            user is not None
            and user.valid
            and bool(user.password)
            and same_secret(password, user.password)
        )

    def first_valid(self) -> str:
        """The first valid user's code (the default OAuth approver)."""
        return next((u.code for u in self.users.values() if u.valid), "")

    def show(self, user: UserSeed) -> dict[str, Any]:
        """A user as `GET /v1/users.json` shows them."""
        out: dict[str, Any] = {"id": str(user.id)}
        out.update({key: getattr(user, key) for key in _SHOWN})
        return out


def routes(users: UserStore, auth: Authenticator) -> list[Route]:
    """The User API routes."""
    api = _UserApi(users, auth)
    return [
        Route("/v1/users.json", api.users, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/v1/user/organizations.json", api.user_organizations, methods=["GET"]),
        Route("/v1/userOrganizations.json", api.put_user_organizations, methods=["PUT"]),
        Route("/v1/user/groups.json", api.user_groups, methods=["GET", "PUT"]),
    ]


class _UserApi:
    def __init__(self, store: UserStore, auth: Authenticator) -> None:
        self.store = store
        self.auth = auth

    async def _call(self, request: Request, *, admin: bool) -> tuple[str, dict[str, Any]]:
        # Password authentication only: app API tokens do not open the User API (API.md §9).
        header = request.headers.get("x-cybozu-authorization")
        if header is None:
            raise api_error("CB_AU01")
        login = self.auth.password_user(header)
        if admin and not self.store.users[login].administrator:
            raise api_error("CB_NO02")
        params = parse_query_string(request.url.query)
        params.update(parse_json(await request.body()))
        return login, params

    async def users(self, request: Request) -> Response:
        try:
            write = request.method != "GET"
            _, params = await self._call(request, admin=write)
            if request.method == "GET":
                return JSONResponse(self._get(params))
            if request.method == "DELETE":
                self._delete(params)
            else:
                self._write(params, update=request.method == "PUT")
            return JSONResponse({})
        except ApiError as err:
            return JSONResponse(err.body(), status_code=err.status)

    def _get(self, params: Mapping[str, Any]) -> dict[str, Any]:
        ids = {str(v) for v in as_list(params, "ids")}
        codes = {str(v) for v in as_list(params, "codes")}
        if ids and codes:
            raise invalid_one("ids", "Specify either ids or codes.")
        size = _bounded(params.get("size"), "size", 1, MAX_USERS_PER_CALL, MAX_USERS_PER_CALL)
        offset = _bounded(params.get("offset"), "offset", 0, 10**9, 0)
        found = sorted(self.store.users.values(), key=lambda u: u.id or 0)
        if ids:
            found = [u for u in found if str(u.id) in ids]
        if codes:
            found = [u for u in found if u.code in codes]
        return {"users": [self.store.show(u) for u in found[offset : offset + size]]}

    def _write(self, params: Mapping[str, Any], *, update: bool) -> None:
        items = params.get("users")
        if not isinstance(items, list) or not items:
            raise invalid_one("users", "Required field.")
        if len(items) > MAX_USERS_PER_CALL:
            raise invalid_one("users", f"A maximum of {MAX_USERS_PER_CALL} users per call.")
        staged: list[UserSeed] = []
        seen: set[str] = set()
        errors: dict[str, list[str]] = {}
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or not item.get("code"):
                errors.setdefault(f"users[{index}].code", []).append("Required field.")
                continue
            code = str(item["code"])
            current = self.store.users.get(code)
            if update and current is None:
                raise api_error("CB_NF01")  # no documented code; see docs/emulator.md
            if not update and (current is not None or code in seen):
                errors.setdefault(f"users[{index}].code", []).append("Already in use.")
                continue
            seen.add(code)
            data = dict(item)
            if update:
                assert current is not None
                # An omitted `valid` becomes true on update (API.md §9); other omitted fields
                # are left as they are.
                data.setdefault("valid", True)
                data = {**current.model_dump(), **data}
            else:
                for key in ("password", "name"):
                    if not item.get(key):
                        errors.setdefault(f"users[{index}].{key}", []).append("Required field.")
            try:
                staged.append(UserSeed.model_validate(data))
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in err["loc"])
                    errors.setdefault(f"users[{index}].{where}", []).append(err["msg"])
        if errors:
            raise invalid(errors)
        for user in staged:
            self.store._put(user)

    def _delete(self, params: Mapping[str, Any]) -> None:
        codes = [str(c) for c in as_list(params, "codes")]
        if not 1 <= len(codes) <= MAX_USERS_PER_CALL:
            raise invalid_one("codes", f"Between 1 and {MAX_USERS_PER_CALL} codes.")
        for code in codes:
            if code not in self.store.users:
                raise api_error("CB_NF01")
        for code in codes:
            del self.store.users[code]
            self.store.directory.users.pop(code, None)

    async def user_organizations(self, request: Request) -> Response:
        try:
            _, params = await self._call(request, admin=False)
            user = self._user(params.get("code"))
            orgs = self.store.directory.organizations
            titles = [
                {"organization": {"code": c, "name": orgs[c].name}, "title": None}
                for c in user.organizations
                if c in orgs
            ]
            return JSONResponse({"organizationTitles": titles})
        except ApiError as err:
            return JSONResponse(err.body(), status_code=err.status)

    async def put_user_organizations(self, request: Request) -> Response:
        try:
            _, params = await self._call(request, admin=True)
            entries = params.get("userOrganizations")
            if not isinstance(entries, list) or len(entries) > MAX_USERS_PER_CALL:
                raise invalid_one("userOrganizations", "Required field.")
            staged: list[UserSeed] = []
            for entry in entries:
                user = self._user(entry.get("code") if isinstance(entry, Mapping) else None)
                codes = [str(o.get("orgCode")) for o in entry.get("organizations") or []]
                unknown = [c for c in codes if c not in self.store.directory.organizations]
                if unknown:
                    raise api_error("GAIA_IL28", code=unknown[0])
                # Full replacement: organizations left out are removed (API.md §9).
                staged.append(user.model_copy(update={"organizations": codes}))
            # All or nothing: nothing changes until every entry has been checked.
            for user in staged:
                self.store._put(user)
            return JSONResponse({})
        except ApiError as err:
            return JSONResponse(err.body(), status_code=err.status)

    async def user_groups(self, request: Request) -> Response:
        try:
            _, params = await self._call(request, admin=request.method == "PUT")
            user = self._user(params.get("code"))
            groups = self.store.directory.groups
            if request.method == "PUT":
                codes = [str(c) for c in as_list(params, "groups")]
                unknown = [c for c in codes if c not in groups]
                if unknown:
                    raise api_error("GAIA_IL27", code=unknown[0])
                self.store._put(user.model_copy(update={"groups": codes}))
                return JSONResponse({})
            shown = [{"code": c, "name": groups[c].name} for c in user.groups if c in groups]
            return JSONResponse({"groups": shown})
        except ApiError as err:
            return JSONResponse(err.body(), status_code=err.status)

    def _user(self, code: Any) -> UserSeed:
        if not code:
            raise invalid_one("code", "Required field.")
        user = self.store.users.get(str(code))
        if user is None:
            raise api_error("GAIA_IL26", code=code)
        return user


def _bounded(value: Any, name: str, low: int, high: int, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if not low <= number <= high:
        raise invalid_one(name, f"Enter a number between {low} and {high}.")
    return number
