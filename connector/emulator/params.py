"""Request parameters as Kintone reads them: `a[0]=` query strings, JSON bodies, integer ids."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .errors import api_error, invalid_one

_INDEXED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d*)\]$")


def parse_query_string(query: str) -> dict[str, Any]:
    """Parse a query string; `ids[0]=1&ids[1]=2`, `ids[]=1` and repeated keys become lists.

    The official JavaScript client encodes arrays as `name[i]=` (OFFICIAL-CLIENTS.md §3).
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
        ApiError: 400 CB_IJ01 when the body is not a JSON object.
    """
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise api_error("CB_IJ01") from None
    if not isinstance(data, dict):
        raise api_error("CB_IJ01")
    return data


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
    if not text.lstrip("-").isdigit():
        raise invalid_one(name, "Enter an integer value.")
    number = int(text)
    if number < 1:
        raise invalid_one(name, "must be greater than or equal to 1")
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
