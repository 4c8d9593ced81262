"""Hostile values: FILE paths that leave their directory, templates that format, and random
values against every converter (issue 10)."""

from __future__ import annotations

import contextlib
import os
import string
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.errors import ValueRejectedError
from connector.mapping.convert import _BUILDERS, ConvertOptions, FileUpload, converter
from connector.mapping.fields import FieldType
from connector.mapping.form import Form
from connector.mapping.mapper import Mapper, Outgoing, Refusal
from connector.mapping.spec import FieldMap, MappingSpec

T = FieldType
LONG = os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1"


def rejected(value: Any, options: ConvertOptions) -> str:
    with pytest.raises(ValueRejectedError) as info:
        converter(T.FILE, options)(value)
    return str(info.value)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with a file inside, and a secret file beside it."""
    (tmp_path / "project" / "docs").mkdir(parents=True)
    (tmp_path / "project" / "docs" / "a.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"CANARY-outside")
    return tmp_path / "project"


# --- FILE paths ------------------------------------------------------------------------------


def test_a_relative_path_inside_the_directory_is_read(project: Path) -> None:
    options = ConvertOptions(base_dir=project)
    expected = [FileUpload(name="a.txt", data=b"inside", content_type="text/plain")]
    assert converter(T.FILE, options)("docs/a.txt") == expected
    assert converter(T.FILE, options)("docs/../docs/a.txt") == expected  # stays inside


@pytest.mark.parametrize("path", ["/proc/self/environ", "/etc/hostname", "/etc/passwd"])
def test_an_absolute_path_is_refused(project: Path, path: str) -> None:
    message = rejected(path, ConvertOptions(base_dir=project))
    assert "is an absolute path" in message
    assert "files_dir" in message


def test_an_absolute_path_inside_the_directory_is_refused_too(project: Path) -> None:
    assert "absolute" in rejected(str(project / "docs" / "a.txt"), ConvertOptions(base_dir=project))


@pytest.mark.parametrize("path", ["../secret.txt", "docs/../../secret.txt", "../../etc/hostname"])
def test_a_dot_dot_escape_is_refused(project: Path, path: str) -> None:
    message = rejected(path, ConvertOptions(base_dir=project))
    assert "outside the files directory" in message
    assert "CANARY" not in message


def test_a_symlink_out_of_the_directory_is_refused(project: Path) -> None:
    (project / "docs" / "link.txt").symlink_to(project.parent / "secret.txt")
    (project / "etc").symlink_to("/etc")
    message = rejected("docs/link.txt", ConvertOptions(base_dir=project))
    assert "a symlink that leads outside the files directory" in message
    assert "outside" in rejected("etc/hostname", ConvertOptions(base_dir=project))


def test_a_symlink_that_stays_inside_is_followed(project: Path) -> None:
    (project / "alias.txt").symlink_to(project / "docs" / "a.txt")
    uploads = converter(T.FILE, ConvertOptions(base_dir=project))("alias.txt")
    assert [u.data for u in uploads] == [b"inside"]


def test_a_fifo_or_a_directory_is_refused_without_waiting(project: Path) -> None:
    os.mkfifo(project / "pipe")
    started = time.monotonic()
    assert "not a regular file" in rejected("pipe", ConvertOptions(base_dir=project))
    assert time.monotonic() - started < 5
    assert "not a regular file" in rejected("docs", ConvertOptions(base_dir=project))
    assert "not a regular file" in rejected(".", ConvertOptions(base_dir=project))


def test_a_nul_byte_or_nested_list_is_refused(project: Path) -> None:
    assert "not a usable path" in rejected("docs/a.txt\x00.png", ConvertOptions(base_dir=project))
    assert "is not a file" in rejected([["docs/a.txt"]], ConvertOptions(base_dir=project))


def test_every_path_of_a_list_is_checked(project: Path) -> None:
    assert "outside" in rejected(["docs/a.txt", "../secret.txt"], ConvertOptions(base_dir=project))


FILE_FORM = Form.from_properties(
    {
        "code": {"type": "SINGLE_LINE_TEXT", "code": "code", "unique": True},
        "scan": {"type": "FILE", "code": "scan"},
    }
)


def file_spec(**scan: Any) -> MappingSpec:
    return MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "t", "primary_key": ["id"]},
            "key": "code",
            "fields": {"code": "id", "scan": {"column": "path", **scan}},
        }
    )


def test_files_dir_moves_the_directory_and_a_row_that_leaves_it_is_refused(project: Path) -> None:
    mapper = Mapper(file_spec(files_dir="docs"), FILE_FORM, base_dir=project)
    out = mapper.map({"id": "K1", "path": "a.txt"}, {})
    assert isinstance(out, Outgoing)
    assert [u.data for u in out.record["scan"]["value"]] == [b"inside"]
    refused = mapper.map({"id": "K2", "path": "../docs/../../secret.txt"}, {})
    assert isinstance(refused, list)
    assert [(r.key.values, r.field, r.code) for r in refused] == [(("K2",), "scan", "VALUE")]
    assert "outside the files directory" in refused[0].message
    assert str(project / "docs") in refused[0].message


def test_the_project_directory_is_the_default(project: Path) -> None:
    mapper = Mapper(file_spec(), FILE_FORM, base_dir=project)
    out = mapper.map({"id": "K1", "path": "docs/a.txt"}, {})
    assert isinstance(out, Outgoing)
    refused = mapper.map({"id": "K2", "path": "/proc/self/environ"}, {})
    assert isinstance(refused, list)
    assert isinstance(refused[0], Refusal)
    assert "absolute path" in refused[0].message


# --- templates -------------------------------------------------------------------------------

TEMPLATE_FORM = Form.from_properties(
    {
        "code": {"type": "SINGLE_LINE_TEXT", "code": "code", "unique": True},
        "title": {"type": "SINGLE_LINE_TEXT", "code": "title"},
    }
)


@pytest.mark.parametrize(
    "template",
    [
        "{name:>999999999}",  # a width that fills the memory
        "{name:{width}}",  # a width taken from another column
        "{name!r}",
        "{name.__class__}",
        "{name[0]}",
        "{}",
        "{name",
        "name}",
    ],
)
def test_a_template_with_more_than_column_names_is_refused_when_loaded(template: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FieldMap.model_validate({"template": template})
    assert "template" in str(caught.value)


def test_a_template_substitutes_columns_only(project: Path) -> None:
    spec = MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "t", "primary_key": ["id"]},
            "key": "code",
            "fields": {"code": "id", "title": {"template": "{{{ first }}} {last} {{x}}"}},
        }
    )
    assert spec.fields["title"].columns() == ["first", "last"]
    row = {"id": "K1", "first": "{last:>99999}", "last": None}
    out = Mapper(spec, TEMPLATE_FORM).map(row, {})
    assert isinstance(out, Outgoing)
    # A value is never read as a template; {{ and }} are literal braces.
    assert out.record["title"]["value"] == "{{last:>99999}}  {x}"


# --- random values against every converter ---------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**5000, -(10**4301), 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(Decimal, st.from_regex(r"-?[0-9]{1,5}E[+-]?[0-9]{1,12}", fullmatch=True)),
    st.text(),
    st.text(alphabet=string.digits + ".eE+- ", max_size=60),
    st.text(alphabet="/.\x00abc", max_size=20),
    st.sampled_from(["1" * 20000 + "x", "9" * 5000, "." + "0" * 5000 + "e"]),
    st.binary(max_size=64),
    st.dates(),
    st.times(),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=14))])),
    st.timedeltas(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.tuples(scalars, scalars))
options_strategy = st.builds(
    ConvertOptions,
    timezone=st.sampled_from([ZoneInfo(z) for z in ("UTC", "Asia/Tokyo", "Pacific/Kiritimati")]),
    separator=st.sampled_from([None, ",", ";", "|"]),
    max_length=st.sampled_from([None, 0, 5, 64_000]),
    options=st.sampled_from([None, frozenset({"a", "b"})]),
)


@pytest.mark.parametrize("field_type", sorted(_BUILDERS), ids=str)
@settings(
    max_examples=2000 if LONG else 60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=values, options=options_strategy)
def test_every_converter_answers_a_value_or_a_refusal_in_bounded_time(
    field_type: FieldType, value: Any, options: ConvertOptions, tmp_path: Path
) -> None:
    # FILE paths resolve inside an empty directory: nothing outside it may be read.
    convert = converter(field_type, options if field_type is not T.FILE else _in(tmp_path, options))
    started = time.monotonic()
    with contextlib.suppress(ValueRejectedError):
        convert(value)
    assert time.monotonic() - started < 2.0, f"{field_type} took too long on a {type(value)}"


def _in(directory: Path, options: ConvertOptions) -> ConvertOptions:
    return ConvertOptions(
        timezone=options.timezone, separator=options.separator, base_dir=directory
    )


@pytest.mark.parametrize(
    ("field_type", "value"),
    [
        (T.NUMBER, "1" * 100_000 + "x"),  # a regex that backtracked quadratically
        (T.NUMBER, Decimal("1E+300000000")),  # 300 million digits once written out
        (T.SINGLE_LINE_TEXT, Decimal("-1E+300000000")),
        (T.NUMBER, 10**5000),  # past Python's 4,300-digit str() limit
        (T.SINGLE_LINE_TEXT, 10**5000),
        (T.DROP_DOWN, 10**5000),
        (T.CHECK_BOX, [10**5000]),
        (T.DATE, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))),
        (T.TIME, datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))),
    ],
    ids=[
        "number-regex",
        "decimal-exponent",
        "text-exponent",
        "huge-int",
        "text-huge-int",
        "choice-huge-int",
        "list-huge-int",
        "date-overflow",
        "time-overflow",
    ],
)
def test_values_found_by_the_fuzz_are_refused_quickly(field_type: FieldType, value: Any) -> None:
    options = ConvertOptions(timezone=ZoneInfo("Pacific/Kiritimati"))
    started = time.monotonic()
    with pytest.raises(ValueRejectedError):
        converter(field_type, options)(value)
    assert time.monotonic() - started < 2.0
