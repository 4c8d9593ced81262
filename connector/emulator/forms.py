"""Form settings: app creation, preview fields, layout and process management, and deploy.

A change to an app's settings lands in its preview; live reads (`app/form/fields.json`, records)
see it only after `preview/app/deploy.json`, as on a real domain (docs/emulator.md, "Form
settings").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import formula, process, properties
from .errors import api_error, invalid_one
from .params import as_bool, as_id, as_list
from .schema import AppSchema, FieldType
from .seed import AppSeed
from .store import AppState, Domain

if TYPE_CHECKING:
    from .app import Call
    from .kintone_api import KintoneApi

Handler = Callable[["KintoneApi", "Call"], tuple[Any, int]]

DISABLED_STATUS: dict[str, Any] = {"enable": False, "states": None, "actions": None}


@dataclass
class Settings:
    """An app's preview settings and the revisions of preview and live."""

    properties: dict[str, dict[str, Any]]
    layout: list[dict[str, Any]] | None
    status: dict[str, Any]
    revision: int
    live_revision: int


def settings_of(domain: Domain, app: AppState) -> Settings:
    """The app's settings state, made from its live form the first time it is asked for."""
    found = domain.settings.get(app.id)
    if found is None:
        found = Settings(
            copy.deepcopy(app.seed.properties),
            copy.deepcopy(app.seed.layout),
            copy.deepcopy(app.seed.status or DISABLED_STATUS),
            1,
            1,
        )
        domain.settings[app.id] = found
    assert isinstance(found, Settings)
    return found


# --- handlers ---------------------------------------------------------------------------------


def _bump(settings: Settings, given: Any) -> dict[str, str]:
    from .records import revision_ok

    if not revision_ok(given, settings.revision):
        raise api_error("GAIA_CO02")
    settings.revision += 1
    return {"revision": str(settings.revision)}


def _managed(api: KintoneApi, call: Call) -> tuple[AppState, Settings]:
    app = api._app(call, "manage")
    return app, settings_of(api.domain, app)


def _create_app(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`POST preview/app.json`: a new app with its system fields, in preview until deployed."""
    if call.principal.kind == "token":
        # An API token belongs to one app; creating apps needs a user (cybozu.dev: Add App).
        raise api_error("CB_NO02")
    name = call.params.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid_one("name", "Required field.")
    space = as_id(call.params, "space", required=False)
    app_id = max(api.domain.apps, default=0) + 1
    seed = AppSeed(
        id=app_id,
        name=name,
        guest_space=call.space,
        space=space if call.space is None else None,
        properties=properties.system_properties(call.locale),
    )
    state = AppState(seed)
    api.domain.apps[app_id] = state
    settings = settings_of(api.domain, state)
    settings.revision = 2
    return {"app": str(app_id), "revision": str(settings.revision)}, 0


def _get_preview_fields(api: KintoneApi, call: Call) -> tuple[Any, int]:
    _, settings = _managed(api, call)
    return {"properties": settings.properties, "revision": str(settings.revision)}, 0


def _add_fields(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`POST preview/app/form/fields.json`: add fields to the preview form."""
    _, settings = _managed(api, call)
    props = properties.properties_param(call)
    existing = properties.all_codes(settings.properties)
    added: dict[str, dict[str, Any]] = {}
    for key, prop in props.items():
        if key in existing or key in added:
            raise invalid_one(f"properties[{key}].code", "The field code is already in use.")
        added[key] = properties.normalize(key, prop, existing | set(added))
    properties.check_lookups(added, existing | properties.all_codes(added))
    result = _bump(settings, call.params.get("revision"))
    settings.properties.update(added)
    return result, 0


def _update_fields(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`PUT preview/app/form/fields.json`: change fields; a new `code` renames the field."""
    _, settings = _managed(api, call)
    props = properties.properties_param(call)
    updated = dict(settings.properties)
    for key, change in props.items():
        old = updated.get(key)
        if old is None:
            raise api_error("GAIA_FC01", field=key)
        if "type" in change and change["type"] != old["type"]:
            raise invalid_one(f"properties[{key}].type", "The field type cannot be changed.")
        merged = {**old, **change, "type": old["type"]}
        if old["type"] == FieldType.SUBTABLE and isinstance(change.get("fields"), Mapping):
            inner = dict(old.get("fields") or {})
            for inner_key, inner_change in change["fields"].items():
                if not isinstance(inner_change, Mapping):
                    raise invalid_one(f"properties[{key}].fields[{inner_key}]", "Enter an object.")
                base = inner.get(inner_key, {})
                inner[inner_key] = properties.normalize(inner_key, {**base, **inner_change}, set())
            merged["fields"] = inner
        new_code = str(merged.get("code", key))
        others = properties.all_codes({k: v for k, v in updated.items() if k != key})
        merged = properties.normalize(new_code, {**merged, "code": new_code}, others)
        updated = {
            (new_code if k == key else k): (merged if k == key else v) for k, v in updated.items()
        }
    properties.check_lookups(updated, properties.all_codes(updated))
    result = _bump(settings, call.params.get("revision"))
    settings.properties = updated
    return result, 0


def _delete_fields(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`DELETE preview/app/form/fields.json`: remove top-level fields from the preview form."""
    _, settings = _managed(api, call)
    codes = [str(c) for c in as_list(call.params, "fields")]
    if not codes:
        raise invalid_one("fields", "Required field.")
    for index, code in enumerate(codes):
        prop = settings.properties.get(code)
        if prop is None:
            raise api_error("GAIA_FC01", field=code)
        if FieldType(prop["type"]) in properties.SYSTEM_TYPES:
            raise invalid_one(f"fields[{index}]", "This field cannot be deleted.")
    result = _bump(settings, call.params.get("revision"))
    settings.properties = {k: v for k, v in settings.properties.items() if k not in codes}
    if settings.layout is not None:
        settings.layout = properties.drop_from_layout(settings.layout, set(codes))
    return result, 0


def _get_preview_layout(api: KintoneApi, call: Call) -> tuple[Any, int]:
    from .kintone_api import default_layout

    _, settings = _managed(api, call)
    layout = settings.layout
    if layout is None:
        layout = default_layout(AppSchema.from_properties(settings.properties))
    return {"layout": layout, "revision": str(settings.revision)}, 0


def _put_layout(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`PUT preview/app/form/layout.json`: replace the preview layout."""
    _, settings = _managed(api, call)
    layout = call.params.get("layout")
    if not isinstance(layout, list):
        raise invalid_one("layout", "Required field.")
    codes = properties.all_codes(settings.properties)
    seen: set[str] = set()
    for index, row in enumerate(layout):
        if not isinstance(row, Mapping) or row.get("type") not in ("ROW", "SUBTABLE", "GROUP"):
            raise invalid_one(f"layout[{index}].type", properties.ENUM_MESSAGE)
        for code in properties.layout_codes(row):
            if code not in codes:
                raise api_error("GAIA_FC01", field=code)
            if code in seen:
                raise invalid_one(f"layout[{index}]", f"The field {code} is placed twice.")
            seen.add(code)
    result = _bump(settings, call.params.get("revision"))
    settings.layout = copy.deepcopy(layout)
    return result, 0


def _get_preview_status(api: KintoneApi, call: Call) -> tuple[Any, int]:
    _, settings = _managed(api, call)
    return process.status_body(settings.status, settings.revision), 0


def _get_live_status(api: KintoneApi, call: Call) -> tuple[Any, int]:
    app = api._app(call, "view")
    settings = settings_of(api.domain, app)
    return process.status_body(app.seed.status or DISABLED_STATUS, settings.live_revision), 0


def _put_status(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`PUT preview/app/status.json`: process management settings, checked before they land."""
    _, settings = _managed(api, call)
    status = process.merge_settings(settings.status, call.params)
    result = _bump(settings, call.params.get("revision"))
    settings.status = status
    return result, 0


def _deploy(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`POST preview/app/deploy.json`: check every listed app, then make previews live.

    Formulas are checked here, not when fields are added (GAIA_IL01; SonicGarden/
    kintone-emulator, doc/kintone-calc-behavior.md §7).
    """
    items = call.params.get("apps")
    if not isinstance(items, list) or not items:
        raise invalid_one("apps", "Required field.")
    revert = as_bool(call.params.get("revert"))
    targets: list[tuple[AppState, Settings]] = []
    from .records import revision_ok

    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise invalid_one(f"apps[{index}]", "Enter an object.")
        app = api.domain.app(as_id(dict(item), "app") or 0)
        api.allow(call, app, "manage")
        settings = settings_of(api.domain, app)
        if not revision_ok(item.get("revision"), settings.revision):
            raise api_error("GAIA_CO02")
        if not revert:
            formula.validate_form(settings.properties)
        targets.append((app, settings))
    for app, settings in targets:
        if revert:
            settings.properties = copy.deepcopy(app.seed.properties)
            settings.layout = copy.deepcopy(app.seed.layout)
            settings.status = copy.deepcopy(app.seed.status or DISABLED_STATUS)
            settings.revision = settings.live_revision
        else:
            make_live(api.domain, app, settings)
    return {}, 0


def _deploy_status(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`GET preview/app/deploy.json`: deploys run at once here, so each is SUCCESS."""
    out = []
    for value in as_list(call.params, "apps"):
        app = api.domain.app(as_id({"apps": value}, "apps") or 0)
        api.allow(call, app, "manage")
        out.append({"app": str(app.id), "status": "SUCCESS"})
    return {"apps": out}, 0


def make_live(domain: Domain, app: AppState, settings: Settings) -> None:
    """Deploy: the preview becomes the live form, layout and process management."""
    props = copy.deepcopy(settings.properties)
    enabled = bool(settings.status.get("enable"))
    for prop in props.values():
        if prop.get("type") in (FieldType.STATUS, FieldType.STATUS_ASSIGNEE):
            prop["enabled"] = enabled
    was_enabled = bool((app.seed.status or {}).get("enable"))
    app.seed = app.seed.model_copy(
        update={
            "properties": props,
            "layout": copy.deepcopy(settings.layout),
            "status": copy.deepcopy(settings.status),
        }
    )
    app.schema = AppSchema.from_properties(props)
    app.unique = {f.code: {} for f in app.schema.fields.values() if f.unique}
    for record in app.records.values():
        app._index(record)
    settings.live_revision = settings.revision
    if enabled and not was_enabled:
        process.start_all(domain, app)
    domain.dirty = True


PREVIEW_HANDLERS: dict[tuple[str, str], Handler] = {
    ("POST", "app"): _create_app,
    ("GET", "app/form/fields"): _get_preview_fields,
    ("POST", "app/form/fields"): _add_fields,
    ("PUT", "app/form/fields"): _update_fields,
    ("DELETE", "app/form/fields"): _delete_fields,
    ("GET", "app/form/layout"): _get_preview_layout,
    ("PUT", "app/form/layout"): _put_layout,
    ("GET", "app/status"): _get_preview_status,
    ("PUT", "app/status"): _put_status,
    ("POST", "app/deploy"): _deploy,
    ("GET", "app/deploy"): _deploy_status,
}
LIVE_HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "app/status"): _get_live_status,
}


def live_revision(domain: Domain, app: AppState) -> str:
    """The revision live reads of the app's settings answer."""
    return str(settings_of(domain, app).live_revision)
