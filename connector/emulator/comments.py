"""Record comments: add, read and delete, with mentions (cybozu.dev, "Add Comment" and kin)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import api_error, invalid_one
from .params import as_id
from .store import Domain

if TYPE_CHECKING:
    from .app import Call
    from .kintone_api import KintoneApi

Handler = Callable[["KintoneApi", "Call"], tuple[Any, int]]
MAX_TEXT = 65535
MAX_COMMENTS_PER_READ = 10
_MENTION_TYPES = ("USER", "GROUP", "ORGANIZATION")


@dataclass
class Thread:
    """The comments of one record, oldest first, and the next comment id."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1


def _thread(domain: Domain, app_id: int, record_id: int) -> Thread:
    found = domain.comments.get((app_id, record_id))
    if found is None:
        found = Thread()
        domain.comments[(app_id, record_id)] = found
    assert isinstance(found, Thread)
    return found


def _record(api: KintoneApi, call: Call, right: str) -> tuple[int, int]:
    app = api._app(call, right)  # type: ignore[arg-type]
    record_id = as_id(call.params, "record") or 0
    if record_id not in app.records:
        raise api_error("GAIA_RE01", id=record_id)
    return app.id, record_id


def _mentions(api: KintoneApi, raw: Any) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_one("comment.mentions", "Enter an array.")
    directory = api.domain.directory
    known = {
        "USER": directory.users,
        "GROUP": directory.groups,
        "ORGANIZATION": directory.organizations,
    }
    out = []
    for index, mention in enumerate(raw):
        if not isinstance(mention, Mapping):
            raise invalid_one(f"comment.mentions[{index}]", "Enter an object.")
        kind = str(mention.get("type") or "")
        code = str(mention.get("code") or "")
        if kind not in _MENTION_TYPES:
            raise invalid_one(f"comment.mentions[{index}].type", "must be one of the enum value")
        if code not in known[kind]:
            # A real domain refuses a mention of a user it does not have (SonicGarden/
            # kintone-emulator, record/comment.test.ts); the code is the emulator's choice.
            error = {"USER": "GAIA_IL26", "GROUP": "GAIA_IL27", "ORGANIZATION": "GAIA_IL28"}
            raise api_error(error[kind], code=code)
        out.append({"code": code, "type": kind})
    return out


def _add(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`POST record/comment.json`: `{"id": "N"}`."""
    app_id, record_id = _record(api, call, "view")
    comment = call.params.get("comment")
    if not isinstance(comment, Mapping):
        raise invalid_one("comment", "Required field.")
    text = comment.get("text")
    if not isinstance(text, str) or text == "":
        raise invalid_one("comment.text", "Required field.")
    if len(text) > MAX_TEXT:
        raise invalid_one("comment.text", f"Enter less than {MAX_TEXT + 1} characters.")
    mentions = _mentions(api, comment.get("mentions"))
    thread = _thread(api.domain, app_id, record_id)
    user = api.actor(call, api.domain.app(app_id)).user
    comment_id = thread.next_id
    thread.next_id += 1
    thread.comments.append(
        {
            "id": str(comment_id),
            "text": text,
            "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creator": {"code": user.code, "name": user.name},
            "mentions": mentions,
        }
    )
    api.domain.dirty = True
    return {"id": str(comment_id)}, 0


def _delete(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`DELETE record/comment.json`; an unknown comment is 400 GAIA_RE02 (behavior-notes §1)."""
    app_id, record_id = _record(api, call, "view")
    comment_id = as_id(call.params, "comment") or 0
    thread = _thread(api.domain, app_id, record_id)
    kept = [c for c in thread.comments if c["id"] != str(comment_id)]
    if len(kept) == len(thread.comments):
        raise api_error("GAIA_RE02")
    thread.comments = kept
    api.domain.dirty = True
    return {}, 0


def _get(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`GET record/comments.json`: newest first by default, 10 at most, with older/newer."""
    app_id, record_id = _record(api, call, "view")
    order = call.params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_one("order", "must be one of the enum value")
    offset = _bounded(call.params.get("offset"), "offset", 0, None, 0)
    limit = _bounded(call.params.get("limit"), "limit", 1, MAX_COMMENTS_PER_READ, 10)
    every = list(_thread(api.domain, app_id, record_id).comments)
    if order == "desc":
        every.reverse()
    page = every[offset : offset + limit]
    return {
        "comments": page,
        "older": offset + limit < len(every),
        "newer": offset > 0,
    }, 0


def _bounded(value: Any, name: str, low: int, high: int | None, default: int) -> int:
    if value in (None, ""):
        return default
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise invalid_one(name, "Enter an integer value.")
    number = int(text)
    if number < low:
        raise invalid_one(name, f"must be greater than or equal to {low}")
    if high is not None and number > high:
        raise invalid_one(name, f"must be less than or equal to {high}")
    return number


HANDLERS: dict[tuple[str, str], Handler] = {
    ("POST", "record/comment"): _add,
    ("DELETE", "record/comment"): _delete,
    ("GET", "record/comments"): _get,
}
