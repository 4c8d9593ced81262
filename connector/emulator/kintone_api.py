"""Kintone REST endpoints: one handler per (method, endpoint), shared by calls and bulkRequests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from . import comments, forms, messages, process
from .errors import LEGACY_520_CODES, ApiError, api_error, invalid, invalid_one
from .params import as_bool, as_id, as_int, as_list
from .reads import Cursors, get_record, get_records
from .records import Actor, RecordWriter
from .seed import Options, Right, Seed, SeedError
from .store import AppState, Directory, Domain, Entity

if TYPE_CHECKING:
    from .app import Call
    from .schema import AppSchema

MAX_RECORDS_PER_WRITE = 100
MAX_BULK_REQUESTS = 20
# bulkRequest runs only record writes (docs/kintone-api.md §2.8).
BULK_APIS = frozenset(
    {
        ("POST", "record"),
        ("PUT", "record"),
        ("POST", "records"),
        ("PUT", "records"),
        ("DELETE", "records"),
        ("PUT", "record/status"),
        ("PUT", "records/status"),
        ("PUT", "record/assignees"),
    }
)
ADMINISTRATOR = Entity("Administrator", "Administrator")
Handler = Callable[["KintoneApi", "Call"], tuple[Any, int]]


class SubRequestError(Exception):
    """A bulkRequest sub-request failed: its index and error."""

    def __init__(self, index: int, error: ApiError) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class KintoneApi:
    """The Kintone endpoints over one domain."""

    def __init__(self, seed: Seed, options: Options) -> None:
        from .auth import Authenticator
        from .faults import Faults, Stats
        from .users import UserStore

        self.seed = seed
        self.options = options
        directory = Directory()
        self.users = UserStore(seed, directory, options)
        self.auth = Authenticator(seed, self.users, options)
        self.faults = Faults(options)
        self.stats = Stats()
        self._build(directory)

    def _build(self, directory: Directory) -> None:
        self.domain = Domain(self.seed.apps, directory)
        self.writer = RecordWriter(self.domain, self.options)
        self.cursors = Cursors(self.domain, self.options)
        for position, app_seed in enumerate(self.seed.apps):
            if app_seed.records:
                self._seed_records(self.domain.app(app_seed.id), app_seed.records, position)

    def _seed_records(self, app: AppState, records: list[dict[str, Any]], position: int) -> None:
        """Add the seed's records through the normal write rules.

        Raises:
            SeedError: a record Kintone would refuse; names the record, the field and the problem.
        """
        actor = Actor(ADMINISTRATOR, can_manage=True)
        errors: dict[str, list[str]] = {}
        where = f"apps[{position}].records"
        with self.domain.transaction():
            for index, record in enumerate(records):
                try:
                    self.writer.add(app, record, f"records[{index}]", actor, errors)
                except ApiError as err:
                    raise SeedError(
                        f"{where}[{index}] (app {app.id}): {err.message} [{err.code}]"
                    ) from None
            if errors:
                problems = "; ".join(
                    f"apps[{position}].{key} (app {app.id}): {' '.join(messages)}"
                    for key, messages in errors.items()
                )
                raise SeedError(f"{problems} Fix the record or the form.")

    def reset(self) -> None:
        """Back to the seed: users, records, files, cursors, counters and faults."""
        self.users.reset()
        self._build(self.domain.directory)
        self.faults.clear()
        self.stats.reset()

    def status_of(self, err: ApiError) -> int:
        """The HTTP status for an error, 520 for the old codes when `legacy_520` is on."""
        if self.options.legacy_520 and err.code in LEGACY_520_CODES:
            return 520
        return err.status

    # --- auth ---------------------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> Any:
        """Who is calling.

        Raises:
            ApiError: CB_AU01, CB_WA01, GAIA_IA02, GAIA_DA03 and the Basic-auth errors.
        """
        return self.auth.authenticate(headers)

    def allow(self, call: Call, app: AppState, right: Right) -> None:
        """Check that the caller may use `right` on `app` through the call's path.

        Raises:
            ApiError: GAIA_NO01, CB_NO02, GAIA_IL23 or an OAuth scope error.
        """
        settings = call.api == "app" or call.api.startswith("app/")
        self.auth.authorize(
            call.principal, app.seed, right, guest_space=call.space, settings=settings
        )

    def allow_files(self, principal: Any, *, write: bool) -> None:
        """Check that the caller may upload or download files."""
        self.auth.authorize_files(principal, write=write)

    def actor(self, call: Call, app: AppState) -> Actor:
        """The CREATOR/MODIFIER a write records, and whether it may set them."""
        principal = call.principal

        def can_view(app_id: int) -> bool:
            source = self.domain.apps.get(app_id)
            if source is None:
                return False
            try:
                space = source.seed.guest_space
                self.auth.authorize(principal, source.seed, "view", guest_space=space)
            except ApiError:
                return False
            return True

        if principal.kind == "token":
            rights = [t for t in app.seed.tokens if t.token in principal.tokens]
            return Actor(ADMINISTRATOR, any(t.manage for t in rights), can_view)
        user = self.domain.directory.users.get(principal.user) or Entity(
            principal.user, principal.user
        )
        granted = app.seed.user_rights
        can_manage = granted is None or "manage" in granted.get(principal.user, [])
        return Actor(user, can_manage, can_view)

    # --- dispatch -----------------------------------------------------------------------------

    def call(self, call: Call) -> tuple[Any, int]:
        """Run one API call; the answer body and the number of records it wrote or read.

        Raises:
            ApiError: whatever the endpoint raises; writes are rolled back first.
        """
        if call.preview and not call.api.startswith("app"):
            raise api_error("CB_NF01")
        if (call.method, call.api) == ("POST", "bulkRequest"):
            return self._bulk(call)
        table = forms.PREVIEW_HANDLERS if call.preview else HANDLERS
        handler = table.get((call.method, call.api))
        if handler is None:
            raise api_error("CB_NF01")
        with self.domain.transaction():
            return handler(self, call)

    def _app(self, call: Call, right: Right, name: str = "app") -> AppState:
        app = self.domain.app(as_id(call.params, name) or 0)
        self.allow(call, app, right)
        self.stats.count(call.method, f"/k/v1/{call.api}.json", (app.id,), 0)
        return app

    def _bulk(self, call: Call) -> tuple[Any, int]:
        from .app import Call as SubCall
        from .app import split_api

        requests = call.params.get("requests")
        if not isinstance(requests, list) or not requests:
            raise invalid_one("requests", "Required field.")
        if len(requests) > MAX_BULK_REQUESTS:
            raise invalid_one(
                "requests", f"A maximum of {MAX_BULK_REQUESTS} requests can be sent at one time."
            )
        results: list[Any] = []
        total = 0
        try:
            with self.domain.transaction():
                for index, sub in enumerate(requests):
                    try:
                        if not isinstance(sub, Mapping):
                            raise invalid_one(f"requests[{index}]", "Enter an object.")
                        method = str(sub.get("method", ""))
                        space, preview, api = split_api(str(sub.get("api", "")))
                        if (method, api) not in BULK_APIS or preview:
                            raise invalid_one(
                                f"requests[{index}].api", "This API cannot be used in bulkRequest."
                            )
                        payload = sub.get("payload")
                        if not isinstance(payload, dict):
                            raise invalid_one(f"requests[{index}].payload", "Required field.")
                        subcall = SubCall(
                            method, api, payload, space, False, call.principal, locale=call.locale
                        )
                        handler = HANDLERS.get((method, api))
                        if handler is None:
                            raise api_error("CB_NF01")
                        result, records = handler(self, subcall)
                    except ApiError as err:
                        raise SubRequestError(index, err) from err
                    results.append(result)
                    total += records
        except SubRequestError as failure:
            # The failing index carries the error, every other index `{}` (docs/kintone-api.md
            # §2.8).
            failed: list[Any] = [{} for _ in requests]
            failed[failure.index] = messages.localize(failure.error, call.locale).body()
            status = self.status_of(failure.error)
            return _Failed({"results": failed}, status), 0
        self.stats.count("POST", "/k/v1/bulkRequest.json", (), total)
        return {"results": results}, total

    async def pause(self, records: int) -> None:
        """Per-record latency once a call knows how many records it moved."""
        await self.faults.record_latency(records)

    def extra_routes(self) -> list[Any]:
        """OAuth, User API and /_emulator routes of the other modules."""
        from .faults import routes as fault_routes
        from .userapi import routes as user_routes

        return [
            *self.auth.routes(),
            *user_routes(self.users, self.auth),
            *fault_routes(self.faults, self.stats),
        ]


class _Failed(Response):
    """A bulkRequest failure: the sub-request's status and Kintone's `results` body."""

    def __init__(self, body: dict[str, Any], status: int) -> None:
        import json

        super().__init__(
            json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json"
        )


# --- handlers ---------------------------------------------------------------------------------


def _get_record(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "view")
    return get_record(app, as_id(call.params, "id") or 0), 1


def _get_records(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "view")
    query = call.params.get("query")
    body, count = get_records(
        app,
        str(query) if query is not None else None,
        call.params.get("fields"),
        as_bool(call.params.get("totalCount")),
        getattr(call.principal, "user", None),
    )
    return body, count


def _add_record(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "add")
    errors: dict[str, list[str]] = {}
    record = api.writer.add(
        app, call.params.get("record") or {}, "record", api.actor(call, app), errors
    )
    if errors:
        raise invalid(errors)
    return {"id": str(record.id), "revision": str(record.revision)}, 1


def _add_records(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "add")
    records = call.params.get("records")
    if not isinstance(records, list):
        raise invalid_one("records", "Required field.")
    if len(records) > MAX_RECORDS_PER_WRITE:
        raise invalid_one("records", "A maximum of 100 records can be added at one time.")
    actor = api.actor(call, app)
    errors: dict[str, list[str]] = {}
    added = [api.writer.add(app, r, f"records[{i}]", actor, errors) for i, r in enumerate(records)]
    if errors:
        raise invalid(errors)
    return {
        "ids": [str(r.id) for r in added],
        "revisions": [str(r.revision) for r in added],
    }, len(added)


def _update_record(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "edit")
    errors: dict[str, list[str]] = {}
    record, _ = api.writer.update(
        app, call.params, "", api.actor(call, app), errors, record_prefix="record"
    )
    if errors:
        raise invalid(errors)
    return {"revision": str(record.revision)}, 1


def _update_records(api: KintoneApi, call: Call) -> tuple[Any, int]:
    upsert = as_bool(call.params.get("upsert"))
    app = api._app(call, "edit")
    if upsert:
        # An upsert may insert, so it needs the add right as well (docs/kintone-api.md §4.2).
        api.allow(call, app, "add")
    items = call.params.get("records")
    if not isinstance(items, list):
        raise invalid_one("records", "Required field.")
    if len(items) > MAX_RECORDS_PER_WRITE:
        raise invalid_one("records", "A maximum of 100 records can be updated at one time.")
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Mapping) and item.get("id") not in (None, ""):
            key = str(item["id"])
            if key in seen and not upsert:
                raise api_error("GAIA_RE09", id=key)
            seen.add(key)
    actor = api.actor(call, app)
    errors: dict[str, list[str]] = {}
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise invalid_one(f"records[{index}]", "Enter an object.")
        record, operation = api.writer.update(
            app, item, f"records[{index}]", actor, errors, upsert=upsert
        )
        entry = {"id": str(record.id), "revision": str(record.revision)}
        if upsert:
            entry["operation"] = operation
        out.append(entry)
    if errors:
        raise invalid(errors)
    return {"records": out}, len(out)


def _delete_records(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "delete")
    ids = as_list(call.params, "ids")
    if not 1 <= len(ids) <= MAX_RECORDS_PER_WRITE:
        raise invalid(
            {"ids": ["Between 1 and 100 records can be deleted at one time.", "Required field."]}
        )
    numbers = [as_id({"ids": v}, "ids") or 0 for v in ids]
    api.writer.delete(app, numbers, as_list(call.params, "revisions"))
    return {}, len(numbers)


def _create_cursor(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "view")
    query = call.params.get("query")
    body = api.cursors.create(
        app,
        str(query) if query is not None else None,
        call.params.get("fields"),
        call.params.get("size"),
        getattr(call.principal, "user", None),
    )
    return body, 0


def _get_cursor(api: KintoneApi, call: Call) -> tuple[Any, int]:
    cursor = api.domain.cursors.get(str(call.params.get("id", "")))
    if cursor is not None:
        api.allow(call, api.domain.app(cursor.app), "view")
        api.stats.count("GET", "/k/v1/records/cursor.json", (cursor.app,), 0)
    return api.cursors.fetch(call.params.get("id", ""))


def _delete_cursor(api: KintoneApi, call: Call) -> tuple[Any, int]:
    cursor = api.domain.cursors.get(str(call.params.get("id", "")))
    if cursor is not None:
        api.allow(call, api.domain.app(cursor.app), "view")
    return api.cursors.delete(call.params.get("id", "")), 0


def _get_app(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "view", name="id")
    return app_info(app), 0


def _get_apps(api: KintoneApi, call: Call) -> tuple[Any, int]:
    ids = {str(v) for v in as_list(call.params, "ids")}
    codes = {str(v) for v in as_list(call.params, "codes")}
    name = str(call.params.get("name") or "")
    spaces = {str(v) for v in as_list(call.params, "spaceIds")}
    limit = as_int(call.params, "limit", 100, 1, 100)
    offset = as_int(call.params, "offset", 0, 0, 2**31 - 1)
    found = []
    for app in api.domain.apps.values():
        if ids and str(app.id) not in ids:
            continue
        if codes and app.seed.code not in codes:
            continue
        if name and name.lower() not in app.seed.name.lower():
            continue
        if spaces and str(app.seed.guest_space or app.seed.space) not in spaces:
            continue
        try:
            api.allow(call, app, "view")
        except ApiError:
            continue
        found.append(app_info(app))
    return {"apps": found[offset : offset + limit]}, 0


def _get_fields(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "view")
    return {"properties": app.seed.properties, "revision": forms.live_revision(api.domain, app)}, 0


def _get_layout(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "view")
    layout = app.seed.layout or default_layout(app.schema)
    return {"layout": layout, "revision": forms.live_revision(api.domain, app)}, 0


def _download(api: KintoneApi, call: Call) -> tuple[Any, int]:
    api.allow_files(call.principal, write=False)
    key = str(call.params.get("fileKey") or "")
    if not key:
        # 400 CB_VA01, not 404 (SonicGarden/kintone-emulator, tests/api/required-params.test.ts).
        raise invalid_one("fileKey", "Required field.")
    stored = api.domain.files.get(key)
    if stored is None:
        raise api_error("GAIA_BL01", key=key)
    api.stats.count("GET", "/k/v1/file.json", (), 0)
    disposition = f"attachment; filename*=UTF-8''{_quote(stored.name)}"
    return Response(
        stored.data,
        media_type=stored.content_type,
        headers={"Content-Disposition": disposition},
    ), 0


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


def app_info(app: AppState) -> dict[str, Any]:
    """`GET app.json`'s answer for an app."""
    admin = {"code": ADMINISTRATOR.code, "name": ADMINISTRATOR.name}
    space = app.seed.guest_space or app.seed.space
    return {
        "appId": str(app.id),
        "code": app.seed.code,
        "name": app.seed.name,
        "description": app.seed.description,
        "spaceId": str(space) if space else None,
        "threadId": str(space) if space else None,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "creator": admin,
        "modifiedAt": "2024-01-01T00:00:00.000Z",
        "modifier": admin,
    }


def default_layout(schema: AppSchema) -> list[dict[str, Any]]:
    """A layout with one row per field, for apps whose seed gives none."""
    from .schema import FieldType

    layout: list[dict[str, Any]] = []
    for f in schema.fields.values():
        if f.type is FieldType.SUBTABLE:
            inner: list[dict[str, Any]] = [
                {"type": s.type.value, "code": s.code, "size": {}} for s in f.fields.values()
            ]
            layout.append({"type": "SUBTABLE", "code": f.code, "fields": inner})
        elif f.type not in (
            FieldType.STATUS,
            FieldType.STATUS_ASSIGNEE,
            FieldType.CATEGORY,
            FieldType.CREATOR,
            FieldType.MODIFIER,
            FieldType.CREATED_TIME,
            FieldType.UPDATED_TIME,
            FieldType.RECORD_NUMBER,
        ):
            layout.append(
                {"type": "ROW", "fields": [{"type": f.type.value, "code": f.code, "size": {}}]}
            )
    return layout


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "record"): _get_record,
    ("POST", "record"): _add_record,
    ("PUT", "record"): _update_record,
    ("GET", "records"): _get_records,
    ("POST", "records"): _add_records,
    ("PUT", "records"): _update_records,
    ("DELETE", "records"): _delete_records,
    ("POST", "records/cursor"): _create_cursor,
    ("GET", "records/cursor"): _get_cursor,
    ("DELETE", "records/cursor"): _delete_cursor,
    ("GET", "app"): _get_app,
    ("GET", "apps"): _get_apps,
    ("GET", "app/form/fields"): _get_fields,
    ("GET", "app/form/layout"): _get_layout,
    ("GET", "file"): _download,
    **process.HANDLERS,
    **comments.HANDLERS,
    **forms.LIVE_HANDLERS,
}
