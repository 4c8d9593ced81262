"""Request parameters as Kintone reads them: `a[0]=` query strings, JSON bodies, integer ids."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .errors import api_error, invalid_one

_INDEXED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d*)\]$")
# A record payload nests about ten levels (bulkRequest > records > table rows > cells > users);
# anything far deeper is refused before a handler walks it. Kintone's own bound is undocumented.
MAX_JSON_DEPTH = 64


def parse_query_string(query: str) -> dict[str, Any]:
    """Parse a query string; `ids[0]=1&ids[1]=2`, `ids[]=1` and repeated keys become lists.

    The official JavaScript client encodes arrays as `name[i]=` (docs/official-clients.md §3).
    """
    out: dict[str, Any] = {}
    indexed: dict[str, dict[int, str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        match = _INDEXED.match(key)
        if match:
            name, index = match["name"], match["index"]
            slots = indexed.setdefault(name, {})
            slots[int(index) if index else len(slots)] = value
        elif key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    for name, slots in indexed.items():
        out[name] = [slots[i] for i in sorted(slots)]
    return out


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON request body as an object; an empty body is `{}`.

    Raises:
        ApiError: 400 CB_IJ01 when the body is not a JSON object, nests deeper than
            `MAX_JSON_DEPTH`, or holds a lone surrogate (`"\\ud800"`), which no UTF-8 text can
            carry and which would make every later read of the value fail.
    """
    if not body.strip():
        return {}
    try:
        # ValueError covers bad UTF-8, bad JSON, NaN/Infinity and integers past Python's
        # 4,300-digit conversion limit; RecursionError covers arrays nested thousands deep.
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise api_error("CB_IJ01") from None
    if not isinstance(data, dict) or not is_plain_json(data):
        raise api_error("CB_IJ01")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_plain_json(data: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests at most `max_depth` levels and every string is valid Unicode."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return False
        elif isinstance(value, dict | list):
            if depth > max_depth:
                return False
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _encodable(key):
                    return False
                stack.append((item, depth + 1))
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_integer_text(text: str, max_digits: int = 18) -> bool:
    """Whether `text` is a plain ASCII integer (`12`, `-3`) of at most `max_digits` digits.

    `str.isdigit` alone lets `"²"` through, which `int()` then refuses, and Python refuses to
    convert strings of more than 4,300 digits: both would end in a 500 instead of an answer.
    """
    digits = text[1:] if text.startswith("-") else text
    return 0 < len(digits) <= max_digits and digits.isascii() and digits.isdigit()


def as_id(params: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """An integer parameter (`app`, `id`) sent as a number or a string; at least 1.

    Raises:
        ApiError: CB_VA01 keyed by the parameter when missing or not a positive integer.
    """
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid_one(name, "Required field.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid_one(name, "Enter an integer value.")
    text = str(value).strip()
    if not is_integer_text(text):
        raise invalid_one(name, "Enter an integer value.")
    number = int(text)
    if number < 1:
        raise invalid_one(name, "must be greater than or equal to 1")
    return number


def as_int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """A bounded integer parameter (`limit`, `offset`) sent as a number or a string.

    Raises:
        ApiError: CB_VA01 keyed by the parameter when it is not an integer in [low, high].
    """
    value = params.get(name)
    if value is None or value == "":
        return default
    plain = isinstance(value, int | str) and not isinstance(value, bool)
    text = str(value).strip() if plain else ""
    if not is_integer_text(text):
        raise invalid_one(name, "Enter an integer value.")
    number = int(text)
    if not low <= number <= high:
        raise invalid_one(name, f"Enter a number between {low} and {high}.")
    return number


def as_list(params: Mapping[str, Any], name: str) -> list[Any]:
    """A list parameter; a lone value becomes a one-item list, a missing one an empty list.

    Raises:
        ApiError: CB_VA01 when the value is an object.
    """
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        raise invalid_one(name, "Enter an array.")
    return [value]


def as_bool(value: Any) -> bool:
    """A boolean parameter sent as JSON true/false or the strings "true"/"false"."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
