"""Converters from warehouse column values to Kintone write values, one per field type."""

from __future__ import annotations

import functools
import math
import mimetypes
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.errors import ValueRejectedError
from connector.mapping.fields import INSERT_ONLY, NOT_WRITABLE, WRITABLE, FieldType

Converter = Callable[[Any], Any]

OCTET_STREAM = "application/octet-stream"
# docs/kintone-api.md §5.1: half-width digits, a sign, a point and an exponent. [0-9], not \d: \d
# also matches full-width digits, which Kintone refuses. No two digit runs side by side:
# `[0-9]+\.?[0-9]*` backtracked quadratically on long text.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_DIGITS = 1000
"""A number written out longer than this is refused; Kintone's NUMBER holds at most 30 digits."""
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(:[0-9]{2})?")
_LISTED_OPTIONS = 10
# Kintone's entry limits (docs/mappings.md, "Limits checked before any request").
MIN_YEAR = 1000
"""DATE and DATETIME (in UTC) take the years 1000 to 9999."""
MAX_FILE_BYTES = 1024**3
"""One attached file: at most 1 GB."""


@dataclass(frozen=True)
class FileUpload:
    """A file to upload through file.json before the record is written."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class ConvertOptions:
    """How to read values that need context: naive datetimes, delimited lists, paths, limits."""

    timezone: ZoneInfo = ZoneInfo("UTC")
    separator: str | None = None
    base_dir: Path | None = None
    """The directory FILE paths resolve inside (the working directory when None)."""
    max_length: int | None = None
    options: frozenset[str] | None = None
    min_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    integer_digits: int | None = None
    """NUMBER: the most digits before the point (the app's precision setting)."""
    required: bool = False
    """An empty value is refused: Kintone refuses it for a required field."""


def converter(field_type: FieldType, options: ConvertOptions = ConvertOptions()) -> Converter:
    """Return the function that turns one column value into the Kintone value for `field_type`.

    The function raises `ValueRejectedError` for a value Kintone would refuse.

    Raises:
        ValueError: the field type cannot be written from a column (CALC, SUBTABLE, ...).
    """
    build = _BUILDERS.get(field_type)
    if build is None or field_type not in WRITABLE | INSERT_ONLY:
        why = NOT_WRITABLE.get(field_type, "subtables are built from child rows, not one column")
        raise ValueError(f"{field_type} fields cannot be written from a column: {why}")
    if not options.required:
        # A partial is called without a Python frame of its own: one layer less per value.
        # It binds the options positionally: a partial holding a keyword copies it into a new
        # dict on every call.
        return functools.partial(build, options)

    def required(value: Any) -> Any:
        out = build(options, value)
        if out in (None, "", []):
            raise _reject(
                value,
                "leaves the field empty, but the field is required; give the row a value "
                "in the source, or map the field from another column",
            )
        return out

    return required


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's 4,300-digit str() limit
        return f"an {type(value).__name__} of thousands of digits"
    return text if len(text) <= 60 else text[:57] + "..."


def _reject(value: Any, problem: str) -> ValueRejectedError:
    return ValueRejectedError(f"{_show(value)} {problem}")


def _is_empty(value: Any) -> bool:
    # NaN is how pandas and some drivers spell NULL; Decimal NaN is PostgreSQL's numeric NaN.
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    return value is None


def _plain(number: Decimal) -> str:
    text = str(number)
    # str() writes a number out unless its exponent is above 0 or it is tiny; written out in
    # under 500 characters, it holds under 1,000 digits, and is what format() would give.
    if "E" not in text and len(text) <= _PLAIN_DIGITS // 2:
        return text
    return _written_out(number)


def _written_out(number: Decimal) -> str:
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and len(number.as_tuple().digits) + abs(exponent) > _PLAIN_DIGITS:
        raise _reject(number, f"has more than {_PLAIN_DIGITS:,} digits written out")
    return format(number, "f")


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # past Python's 4,300-digit str() limit
        raise _reject(value, f"has more than {_PLAIN_DIGITS:,} digits written out") from None


def _float_text(value: float) -> str:
    # repr is the shortest text that reads back as the same float; only its exponent form is undone.
    text = repr(value)
    return _plain(Decimal(text)) if "e" in text else text


# Text -----------------------------------------------------------------------------------------


def _text(options: ConvertOptions, value: Any) -> str:
    if type(value) is str:  # the common case first: a str is never an empty NaN
        return value
    if _is_empty(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, date | time):
        return value.isoformat()
    raise _reject(value, "is not text; cast the column to a string type in the query")


def _single_line(options: ConvertOptions, value: Any) -> str:
    text = value if type(value) is str else _text(options, value)
    if "\n" in text or "\r" in text:
        raise _reject(
            value,
            "has a line break, which a SINGLE_LINE_TEXT field cannot hold; "
            "replace the line breaks or map the column to a MULTI_LINE_TEXT field",
        )
    if options.max_length is None and options.min_length is None:
        return text
    return _check_length(value, text, options)


def _link(options: ConvertOptions, value: Any) -> str:
    return _check_length(value, _text(options, value), options)


def _check_length(value: Any, text: str, options: ConvertOptions) -> str:
    # An empty value skips the length checks, as in Kintone (docs/kintone-api.md §5.2).
    if not text or (options.max_length is None and options.min_length is None):
        return text
    limit = options.max_length
    if text and limit is not None and len(text) > limit:
        raise _reject(
            value,
            f"has {len(text)} characters, over the field's limit of {limit}; "
            "shorten it or raise the field's maximum length",
        )
    least = options.min_length
    if text and least is not None and len(text) < least:
        raise _reject(
            value,
            f"has {len(text)} characters, under the field's minimum of {least}; "
            "lengthen it or lower the field's minimum length",
        )
    return text


# Number ---------------------------------------------------------------------------------------


def _number(options: ConvertOptions, value: Any) -> str:
    # What INTEGER and NUMERIC columns read as, without the checks other types need.
    kind = type(value)
    if kind is int:
        return _check_number(value, _int_text(value), options)
    if kind is Decimal and value.is_finite():
        return _check_number(value, _plain(value), options)
    return _any_number(options, value)


def _any_number(options: ConvertOptions, value: Any) -> str:
    # Never through float arithmetic: a NUMERIC(38, 9) must arrive digit for digit.
    if _is_empty(value):
        return ""
    if isinstance(value, bool):
        raise _reject(value, "is a boolean; cast it to 1/0 in the query for a NUMBER field")
    if isinstance(value, int):
        text = _int_text(value)
    elif isinstance(value, Decimal | float):
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
        if not number.is_finite():
            raise _reject(value, "is not a finite number; NUMBER fields take finite numbers only")
        text = _plain(number)
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = canonical_number(value)
    elif isinstance(value, str) and value.strip() == "":
        return ""
    else:
        raise _reject(
            value, "is not a number; NUMBER fields take digits, a sign, a point and an exponent"
        )
    return _check_number(value, text, options)


def canonical_number(text: str) -> str:
    """A number written as Kintone stores it: spaces and a leading `+` dropped, an exponent
    written out (`+3` -> `3`, `1e2` -> `100`, `1.5e1` -> `15`); other text kept as written.

    kintone-api.md §5.1 (observed on a real domain): `"1.5e1"` is stored `"15"`, `" 42 "` `"42"`.
    """
    text = text.strip().removeprefix("+")
    if "e" not in text and "E" not in text:
        return text
    plain = _plain(Decimal(text))
    if "." in plain:
        plain = plain.rstrip("0").removesuffix(".")
    return plain


def _check_number(value: Any, text: str, options: ConvertOptions) -> str:
    # Without a range, a text (written out, no exponent) no longer than the digit limit meets
    # it: it has at least as many characters as digits before the point.
    limit = options.integer_digits
    if (
        options.min_value is None
        and options.max_value is None
        and (limit is None or len(text) <= limit)
    ):
        return text
    return _check_range(value, text, options)


def _check_range(value: Any, text: str, options: ConvertOptions) -> str:
    number = Decimal(text)
    if options.min_value is not None and number < options.min_value:
        raise _reject(
            value,
            f"is under the field's minimum of {_plain(options.min_value)}; "
            "fix the value or lower the field's minimum",
        )
    if options.max_value is not None and number > options.max_value:
        raise _reject(
            value,
            f"is over the field's maximum of {_plain(options.max_value)}; "
            "fix the value or raise the field's maximum",
        )
    limit = options.integer_digits
    if limit is not None:
        # adjusted() is exact; abs() and int() would round to the context's 28 digits.
        whole = number.adjusted() + 1 if number.copy_abs() >= 1 else 0
        if whole > limit:
            raise _reject(
                value,
                f"has {whole} digits before the point, over the app's limit of {limit} "
                "(total digits minus decimal places, in the app's Misc settings); "
                "fix the value or raise the app's number precision",
            )
    return text


# Dates and times ------------------------------------------------------------------------------


def _local(value: datetime, options: ConvertOptions) -> datetime:
    """The wall-clock time in options.timezone; naive values are already in it."""
    try:
        return value.astimezone(options.timezone) if value.tzinfo else value
    except OverflowError:
        raise _reject(value, "falls outside the years 1-9999 in the mapping's timezone") from None


def _date(options: ConvertOptions, value: Any) -> str | None:
    if type(value) is date and value.year >= MIN_YEAR:  # what a DATE column reads as
        return value.isoformat()
    return _any_date(options, value)


def _any_date(options: ConvertOptions, value: Any) -> str | None:
    if _is_empty(value) or value == "":
        return None
    day: date | None = None
    if isinstance(value, datetime):
        day = _local(value, options).date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            day = None
    if day is None:
        raise _reject(value, "is not a date; DATE fields take a real date written YYYY-MM-DD")
    if day.year < MIN_YEAR:
        raise _reject(value, f"is before the year {MIN_YEAR}; Kintone takes dates 1000-9999")
    return day.isoformat()


def _time(options: ConvertOptions, value: Any) -> str | None:
    # Kintone stores minutes (docs/kintone-api.md §1); the seconds are dropped here so the diff sees
    # the same.
    if _is_empty(value) or value == "":
        return None
    if isinstance(value, datetime):
        return _local(value, options).strftime("%H:%M")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, str) and _TIME.fullmatch(value.strip()):
        try:
            return time.fromisoformat(value.strip()).strftime("%H:%M")
        except ValueError:
            pass
    raise _reject(value, "is not a time of day; TIME fields take HH:MM or HH:MM:SS")


def _datetime(options: ConvertOptions, value: Any) -> str | None:
    if type(value) is datetime and value.tzinfo is None:
        # What a TIMESTAMP column reads as, moved to UTC by the offset its wall time has in the
        # zone: the arithmetic `astimezone` does, without the two objects `replace` builds.
        offset = options.timezone.utcoffset(value)
        if offset is not None:
            try:
                utc = value - offset
            except OverflowError:
                utc = None
            if utc is not None and utc.year >= MIN_YEAR:
                return utc.isoformat(timespec="seconds") + "Z"
    return _any_datetime(options, value)


def _any_datetime(options: ConvertOptions, value: Any) -> str | None:
    if _is_empty(value) or value == "":
        return None
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        raise _reject(
            value,
            "is not a date and time; DATETIME fields take ISO 8601 such as "
            "2024-05-01T09:30:00+09:00 (without an offset the configured timezone applies)",
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=options.timezone)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise _reject(value, "falls outside the years 1-9999 once moved to UTC") from None
    if utc.year < MIN_YEAR:
        raise _reject(
            value, f"is before the year {MIN_YEAR} in UTC; Kintone takes datetimes 1000-9999"
        )
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


# Choices and entities -------------------------------------------------------------------------


def _labels(value: Any, options: ConvertOptions) -> list[str]:
    if isinstance(value, str):  # first: a str is never an empty NaN
        parts = value.split(options.separator or ",")
        return [part for part in map(str.strip, parts) if part]
    if _is_empty(value):
        return []
    if isinstance(value, list | tuple):
        return [_label(item) for item in value if not _is_empty(item)]
    raise _reject(value, "is not a list; give a list or delimited text such as 'A,B'")


def _label(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, int):
        return _int_text(item)
    return str(item)


def _check_options(value: Any, labels: list[str], options: ConvertOptions) -> None:
    if options.options is None or options.options.issuperset(labels):
        return
    unknown = [label for label in labels if label not in options.options]
    if unknown:
        allowed = sorted(options.options)
        shown = ", ".join(repr(a) for a in allowed[:_LISTED_OPTIONS])
        more = (
            f" and {len(allowed) - _LISTED_OPTIONS} more" if len(allowed) > _LISTED_OPTIONS else ""
        )
        raise _reject(
            value,
            f"holds {', '.join(repr(u) for u in unknown)}, not an option of the field; "
            f"use one of {shown}{more}, or add the option in the app",
        )


def _multi_choice(options: ConvertOptions, value: Any) -> list[str]:
    labels = _labels(value, options)
    _check_options(value, labels, options)
    return labels


def _single_choice(options: ConvertOptions, value: Any) -> str | None:
    if type(value) is str and value:
        if options.options is not None and value not in options.options:
            _check_options(value, [value], options)
        return value
    if _is_empty(value) or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _reject(value, "is not an option label; cast the column to text in the query")
    label = _label(value)
    _check_options(value, [label], options)
    return label


def _entities(options: ConvertOptions, value: Any) -> list[dict[str, str]]:
    return [{"code": code} for code in _labels(value, options)]


def _entity(options: ConvertOptions, value: Any) -> dict[str, str] | None:
    if _is_empty(value) or value == "":
        return None
    if not isinstance(value, str):
        raise _reject(value, "is not a user code; CREATOR and MODIFIER take one login name")
    return {"code": value}


# Files ----------------------------------------------------------------------------------------


def _files(options: ConvertOptions, value: Any) -> list[FileUpload]:
    uploads = _uploads(value, options)
    for upload in uploads:
        if len(upload.data) > MAX_FILE_BYTES:
            raise _reject(
                value,
                f"holds {upload.name!r} of {len(upload.data):,} bytes; Kintone takes files of "
                "at most 1 GB",
            )
    return uploads


def _uploads(value: Any, options: ConvertOptions) -> list[FileUpload]:
    if _is_empty(value) or value == "":
        return []
    if isinstance(value, list | tuple):
        # One level only: the items are the files.
        return [_file(item, options) for item in value if not _is_empty(item) and item != ""]
    return [_file(value, options)]


def _file(value: Any, options: ConvertOptions) -> FileUpload:
    if isinstance(value, bytes | bytearray | memoryview):
        return FileUpload(name="file", data=bytes(value), content_type=OCTET_STREAM)
    if isinstance(value, str | os.PathLike):
        return _read_file(value, options)
    raise _reject(value, "is not a file; FILE fields take bytes, a path or a list of paths")


def _read_file(value: str | os.PathLike[str], options: ConvertOptions) -> FileUpload:
    """The file at a path inside the files directory; anything that leaves it is refused.

    The path is resolved (symlinks followed) and must stay inside the directory; the file is
    opened without following a last symlink and without blocking (a FIFO), and must be a
    regular file: `/proc/self/environ`, `../secrets` and links out of the directory are never
    read.
    """
    root = (options.base_dir or Path.cwd()).resolve()
    where = f"the files directory {str(root)!r}"
    text = os.fspath(value)
    if not isinstance(text, str) or "\x00" in text:
        raise _reject(value, "is not a usable path")
    path = Path(text)
    if path.is_absolute():
        raise _reject(
            value,
            f"is an absolute path; FILE paths are relative to {where} "
            "(set files_dir in the mapping to read from another directory)",
        )
    try:
        # Containment first, so a path out of the directory is refused whether it exists or not.
        full = (root / path).resolve()
        if full.is_relative_to(root):
            full = full.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        reason = getattr(exc, "strerror", None) or "a symlink loop"
        shown = str(root / path)
        raise _reject(value, f"cannot be read from {shown!r} ({reason}); check the path") from None
    if not full.is_relative_to(root):
        how = "a symlink that leads" if ".." not in path.parts else "a path that leads"
        raise _reject(
            value,
            f"is {how} outside {where}; FILE paths must stay inside it "
            "(set files_dir in the mapping to read from another directory)",
        )
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise _reject(value, f"cannot be read ({exc.strerror}); check the path") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _reject(value, "is not a regular file; FILE fields upload files only")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise _reject(value, f"cannot be read ({exc.strerror}); check the path") from None
    finally:
        os.close(fd)
    content_type = mimetypes.guess_type(full.name)[0] or OCTET_STREAM
    return FileUpload(name=full.name, data=data, content_type=content_type)


_BUILDERS: dict[FieldType, Callable[[ConvertOptions, Any], Any]] = {
    FieldType.SINGLE_LINE_TEXT: _single_line,
    FieldType.MULTI_LINE_TEXT: _text,
    FieldType.RICH_TEXT: _text,
    FieldType.LINK: _link,
    FieldType.NUMBER: _number,
    FieldType.DATE: _date,
    FieldType.TIME: _time,
    FieldType.DATETIME: _datetime,
    FieldType.CREATED_TIME: _datetime,
    FieldType.UPDATED_TIME: _datetime,
    FieldType.CHECK_BOX: _multi_choice,
    FieldType.MULTI_SELECT: _multi_choice,
    FieldType.RADIO_BUTTON: _single_choice,
    FieldType.DROP_DOWN: _single_choice,
    FieldType.USER_SELECT: _entities,
    FieldType.ORGANIZATION_SELECT: _entities,
    FieldType.GROUP_SELECT: _entities,
    FieldType.CREATOR: _entity,
    FieldType.MODIFIER: _entity,
    FieldType.FILE: _files,
}
