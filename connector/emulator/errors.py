"""Kintone error responses: the catalog of codes, statuses and messages the emulator answers with.

Every emulator module raises `ApiError`; only `app.py` turns it into an HTTP response. Statuses and
messages follow docs/kintone-api.md §7-§8; codes whose status Kintone leaves undocumented are
marked in docs/emulator.md.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

# code -> (current HTTP status, English message template)
CATALOG: dict[str, tuple[int, str]] = {
    "CB_VA01": (400, "Missing or invalid input."),
    "CB_IJ01": (400, "Invalid JSON string."),
    "CB_AU01": (401, "Please login."),
    "CB_WA01": (
        401,
        "Password authentication failed. "
        "The value in http header of X-Cybozu-Authorization is not valid.",
    ),
    "CB_NO02": (403, "No privilege to proceed."),
    "CB_NF01": (404, "The specified API does not exist."),
    "CB_BA01": (401, "Basic authentication failed."),
    "CB_OA01": (401, "The OAuth access token is not valid."),
    "CB_OA02": (403, "The OAuth access token does not carry the scope this API needs."),
    "GAIA_IA02": (
        400,
        "The specified API token does not match the API token generated via an app.",
    ),
    "GAIA_DA03": (400, "You cannot specify a duplicate API token for the same app."),
    "GAIA_NO01": (403, "Using this API token, you cannot run the specified API."),
    "GAIA_AP01": (404, "The app (ID: {app}) not found. The app may have been deleted."),
    "GAIA_RE01": (404, "The specified record (ID: {id}) is not found."),
    "GAIA_RE09": (400, "The record (id: {id}) is specified more than once."),
    "GAIA_RE20": (404, 'No records match the conditions specified in the "updateKey" field.'),
    "GAIA_CO02": (409, "The revision is not the latest. Someone may update a record."),
    "GAIA_IQ11": (400, "Specified field ({field}) not found."),
    "GAIA_IQ27": (
        400,
        'Failed to update record. The field (code: {field}) set as "updateKey" must be set to '
        '"Prohibit duplicate values".',
    ),
    "GAIA_UN10": (400, "Cannot update field whose type is {type}."),
    "GA_UO01": (400, "The following operation is not allowed through the API: editing categories."),
    "GAIA_LO04": (
        400,
        "A value {value} in the field {field} does not exist in the datasource app for lookup, or "
        "you do not have permission to view the app or the field.",
    ),
    "GAIA_IL23": (
        400,
        "When you operate an app in a guest space, please send the request to "
        "'/k/guest/(guest space ID)/v1/...'.",
    ),
    # Statuses of GAIA_IL26/27/28 are undocumented (docs/kintone-api.md §5.1); 400 is the emulator's
    # choice, and GAIA_IL27 for groups follows the numbering of the other two.
    "GAIA_IL26": (400, "The specified user (code：{code}) not found."),
    "GAIA_IL27": (400, "The specified group (code：{code}) not found."),
    "GAIA_IL28": (400, "The specified organization (code：{code}) not found."),
    "GAIA_IQ03": (400, "The operator ({operator}) cannot be used with the field ({field})."),
    "GAIA_SI01": (400, "Row ID (code: {field}) in a table is duplicated."),
    "GAIA_BL01": (404, "The specified file (id: {key}) not found."),
    "GAIA_QU01": (400, "limit must be 500 or less."),
    "GAIA_TM12": (
        429,
        "The cursor cannot be created because the number of cursors that can be created has "
        "reached its limit.",
    ),
    "GAIA_CN01": (404, "The specified cursor does not exist or has already expired."),
    "GAIA_TO04": (429, "The number of concurrent API requests exceeds the limit."),
    "GAIA_DA02": (409, "Failed to save the changes because the database could not be locked."),
    "GAIA_RE18": (409, "Failed to update the record because the database is locked."),
    "GAIA_BF02": (
        400,
        "App permissions are required to add records with specifying a value in the "
        '"{field}" field.',
    ),
    # Form settings, process management and comments: codes and statuses observed on a real
    # domain (SonicGarden/kintone-emulator, doc/kintone-behavior-notes.md, doc/kintone-calc-
    # behavior.md and its dual tests); the English wording of the first four is the emulator's.
    "GAIA_IL01": (400, 'The formula of the field "{label}" is invalid. ({reason})'),
    "GAIA_FC01": (400, "The specified field (code: {field}) is not found."),
    "GAIA_IL03": (
        400,
        "Failed to update the status. The status or its settings may have been changed by "
        "another user.",
    ),
    "GAIA_ST02": (400, "Your request failed. Process management is disabled for the app."),
    "GAIA_QU02": (400, "offset must be 10000 or less."),
    "GAIA_IQ07": (
        400,
        "The operator ({operator}) cannot be used with the field ({field}) in a table.",
    ),
    "GAIA_IQ10": (400, 'The field "{field}" has no option "{value}".'),
    "GAIA_RE02": (
        400,
        "The specified comment does not exist. The comment may have been deleted.",
    ),
}

# Kintone answered these with HTTP 520 before the "standard HTTP status codes" update option
# (docs/kintone-api.md §8, cli-kintone PR #892 and #356). `legacy_520` brings the old statuses back.
LEGACY_520_CODES = frozenset({"GAIA_IA02", "GAIA_IL23", "GAIA_SI01", "GAIA_LO04"})


def new_error_id() -> str:
    """A random id in the shape Kintone puts in every error body."""
    return secrets.token_hex(10)


@dataclass
class ApiError(Exception):
    """One Kintone error answer: status, code, message and, for CB_VA01, the `errors` map.

    `errors` maps a Kintone error key (``records[3].email.value``) to its messages.
    """

    code: str
    message: str
    status: int
    errors: dict[str, list[str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"[{self.status}] [{self.code}] {self.message}"

    def body(self, error_id: str | None = None) -> dict[str, Any]:
        """The JSON body Kintone sends for this error."""
        out: dict[str, Any] = {
            "code": self.code,
            "id": error_id or new_error_id(),
            "message": self.message,
        }
        if self.errors is not None:
            out["errors"] = {key: {"messages": msgs} for key, msgs in self.errors.items()}
        return out


def api_error(code: str, /, **values: Any) -> ApiError:
    """The catalogued error `code`, its message filled in from `values`."""
    status, template = CATALOG[code]
    return ApiError(code=code, message=template.format(**values), status=status)


def invalid(errors: dict[str, list[str]]) -> ApiError:
    """A 400 CB_VA01 with the given error keys and messages."""
    status, message = CATALOG["CB_VA01"]
    return ApiError(code="CB_VA01", message=message, status=status, errors=errors)


def invalid_one(key: str, message: str) -> ApiError:
    """A 400 CB_VA01 with one error key."""
    return invalid({key: [message]})
