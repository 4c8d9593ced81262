"""The rights a job needs, the rights its credentials hold (probed, changing nothing), the gap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from connector.config import AuthConfig
from connector.errors import KintoneError
from connector.kintone.client import KintoneClient
from connector.mapping.fields import INSERT_ONLY, FieldType
from connector.mapping.form import Form
from connector.mapping.spec import MappingSpec

LABELS = {
    "view": "view records",
    "add": "add records",
    "edit": "edit records",
    "delete": "delete records",
    "upload": "upload files",
    "manage": "manage the app",
}
"""Each right Kintone grants an API token (or a user, per app), in the order they are listed."""
_NO_RIGHT = frozenset({"GAIA_NO01", "CB_NO02", "CB_OA02"})
# An id no record has: Kintone's record ids stay far below it (docs/official-clients.md §1).
_NO_SUCH_RECORD = 9007199254740991


@dataclass(frozen=True)
class Held:
    """What a probe found of one right."""

    held: bool | None
    """None when the answer told neither (an error that is not about rights)."""
    code: str | None = None
    """Kintone's error code, when it answered one."""


@dataclass(frozen=True)
class Rights:
    """The rights a job needs, those its credentials hold, and what is missing or in excess."""

    needed: dict[str, str]
    """Right -> what needs it (`mode upsert`)."""
    held: dict[str, Held]
    missing: list[str]
    """Problems: a run would fail without these."""
    excess: list[str]
    """Warnings: rights the job never uses, each with why."""


def needed(spec: MappingSpec, form: Form) -> dict[str, str]:
    """Right -> what in the mapping needs it: view always; add for insert and upsert; edit for
    update and upsert; delete with on_delete: delete; file upload for FILE fields; managing
    the app to set CREATOR, MODIFIER, CREATED_TIME or UPDATED_TIME on insert."""
    out = {"view": "every run"}
    if spec.mode in ("insert", "upsert"):
        out["add"] = f"mode {spec.mode}"
    if spec.mode in ("update", "upsert"):
        out["edit"] = f"mode {spec.mode}"
    if spec.on_delete == "delete":
        out["delete"] = "on_delete: delete"
    codes = [*spec.fields, *(c for t in spec.subtables.values() for c in t.fields)]
    files = [c for c in codes if _type(form, c) is FieldType.FILE]
    if files:
        out["upload"] = f"the FILE field(s) {', '.join(files)}"
    stamped = [c for c in spec.fields if _type(form, c) in INSERT_ONLY]
    if stamped and spec.mode == "insert":
        out["manage"] = f"setting {', '.join(stamped)} on insert"
    return out


def probe(client: KintoneClient, app: int) -> dict[str, Held]:
    """The rights the credentials hold in the app, each found with a request that changes
    nothing and uses no record number.

    Kintone has no API that lists a token's rights. Adding and editing are probed with an
    empty list of records (`records: []`, answered `200` with nothing written, docs/kintone-api.md
    §2.4,
    §2.5), deleting with an id no record has (404 GAIA_RE01, nothing deleted, §2.6), managing
    with a read of the preview form, which only app managers may read. A caller without the
    right is refused first: GAIA_NO01 (tokens), CB_NO02 (users), CB_OA02 (OAuth scopes). View
    is held: the form and a record were read before. File upload rides on add or edit.
    """
    calls: dict[str, Callable[[], object]] = {
        "add": lambda: client.call("POST", "records", {"app": app, "records": []}, app=app),
        "edit": lambda: client.call("PUT", "records", {"app": app, "records": []}, app=app),
        "delete": lambda: client.call(
            "DELETE", "records", {"app": app, "ids": [_NO_SUCH_RECORD]}, app=app
        ),
        "manage": lambda: client.call("GET", "preview/app/form/fields", {"app": app}, app=app),
    }
    held = {"view": Held(True)}
    for right, call in calls.items():
        held[right] = _answer(call, "GAIA_RE01" if right == "delete" else None)
    add, edit = held["add"].held, held["edit"].held
    upload = True if add or edit else None if None in (add, edit) else False
    held["upload"] = Held(upload, None if upload else held["add"].code)
    return held


def _answer(call: Callable[[], object], holding: str | None) -> Held:
    try:
        call()
    except KintoneError as exc:
        if exc.code in _NO_RIGHT:
            return Held(False, exc.code)
        return Held(True if exc.code == holding else None, exc.code)
    return Held(True)


def assess(spec: MappingSpec, need: Mapping[str, str], held: Mapping[str, Held]) -> Rights:
    """The rights a job needs and holds, with what is missing and what is in excess."""
    return Rights(dict(need), dict(held), missing(need, held), excess(spec, need, held))


def missing(need: Mapping[str, str], held: Mapping[str, Held]) -> list[str]:
    """A problem for each needed right the credentials lack."""
    return [
        f"rights: these credentials may not {label}, which {need[right]} needs "
        f"[{held[right].code}]; grant it to the API token or user in the app's settings"
        for right, label in LABELS.items()
        if right in need and right in held and held[right].held is False
    ]


def excess(spec: MappingSpec, need: Mapping[str, str], held: Mapping[str, Held]) -> list[str]:
    """A warning for each right held that the job never uses, saying why; and for each needed
    right a probe could not tell."""
    out: list[str] = []
    for right, label in LABELS.items():
        found = held.get(right)
        if found is None:
            continue
        if right in need and found.held is None:
            out.append(
                f"rights: could not tell whether these credentials may {label}, which "
                f"{need[right]} needs (Kintone answered {found.code})"
            )
        why = _unneeded(spec, right) if right not in need and found.held else None
        if why is not None:
            out.append(
                f"rights: these credentials may {label}, which this job never needs "
                f"({why}); take the right off the API token or user (least privilege)"
            )
    return out


def _unneeded(spec: MappingSpec, right: str) -> str | None:
    """Why the job does not need a right it was given; None for rights not worth a warning."""
    if right == "add":
        return "mode update only changes records that exist"
    if right == "edit":
        return "mode insert only adds records"
    if right == "delete":
        return f"on_delete is {spec.on_delete}: it never deletes records"
    if right == "manage":
        return "it never changes the app's settings"
    return None  # view is always needed; file upload comes with add or edit


def reach(name: str, auth: AuthConfig, app: int, form: Form, spec: MappingSpec) -> list[str]:
    """Warnings for credentials that reach further than the one app the job writes."""
    if auth.username_env is not None or auth.oauth is not None:
        how = "a user's password" if auth.username_env is not None else "OAuth"
        return [
            f"rights: connection {name!r} signs in with {how}, which reaches every app the "
            f"user may use; an API token of app {app} with the rights above would do"
        ]
    tokens = auth.api_token_env
    if isinstance(tokens, list) and len(tokens) > 1:
        lookups = [c for c in spec.fields if (f := form.get(c)) is not None and f.lookup]
        if lookups:
            return []  # Kintone asks for the lookup source apps' tokens too
        return [
            f"rights: connection {name!r} joins {len(tokens)} API tokens, which reach other "
            f"apps than app {app}; the mapping writes no lookup field, so one token of app "
            f"{app} would do"
        ]
    return []


def _type(form: Form, code: str) -> FieldType | None:
    f = form.get(code)
    if f is None:
        table = form.table_of(code)
        parent = form.get(table) if table is not None else None
        f = parent.fields.get(code) if parent is not None else None
    return FieldType(f.type) if f is not None else None
