"""Seed mistakes give one line naming the file, the place and the fix; the command exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from connector.cli import EXIT_USAGE, main
from connector.emulator import create_app, load_seed
from connector.emulator.seed import SeedError

GOOD = {
    "apps": [
        {
            "id": 1,
            "name": "Customers",
            "properties": {
                "code": {"type": "SINGLE_LINE_TEXT", "code": "code", "unique": True},
                "qty": {"type": "NUMBER", "code": "qty"},
            },
        }
    ]
}


def write(tmp_path: Path, data: object, name: str = "seed.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def with_property(code: str, prop: object) -> dict[str, object]:
    app = {**GOOD["apps"][0], "properties": {**GOOD["apps"][0]["properties"], code: prop}}
    return {"apps": [app]}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["emulator", *args])
    return result.exit_code, result.output


CASES = [
    (
        with_property("qty", {"type": "NUMBER"}),
        "apps[0].properties: property 'qty' has no code; add `code: qty`",
    ),
    (
        with_property("qty", {"type": "NUMBR", "code": "qty"}),
        "unknown type 'NUMBR'; did you mean NUMBER?",
    ),
    (with_property("qty", {"type": "BLOB", "code": "qty"}), "use one of SINGLE_LINE_TEXT"),
    (with_property("qty", {"code": "qty"}), "property 'qty' has no type"),
    (with_property("qty", {"type": "NUMBER", "code": "q"}), "code must be its key"),
    (
        with_property("qty", {"type": "SINGLE_LINE_TEXT", "code": "qty", "maxLength": "ten"}),
        "maxLength 'ten'",
    ),
    (with_property("qty", {"type": "NUMBER", "code": "qty", "minValue": "low"}), "minValue 'low'"),
    (
        with_property("qty", {"type": "CHECK_BOX", "code": "qty", "options": ["a"]}),
        "options must map",
    ),
    (with_property("qty", {"type": "SUBTABLE", "code": "qty"}), "needs `fields:`"),
    (
        with_property("t", {"type": "SUBTABLE", "code": "t", "fields": {"x": {"type": "NUMBER"}}}),
        "property 't.fields.x' has no code",
    ),
    (
        with_property(
            "t",
            {
                "type": "SUBTABLE",
                "code": "t",
                "fields": {"code": {"type": "NUMBER", "code": "code"}},
            },
        ),
        "field code 'code' is used twice",
    ),
    (
        with_property("qty", {"type": "NUMBER", "code": "qty", "lookup": {"x": 1}}),
        "lookup needs relatedApp",
    ),
    (
        with_property(
            "qty",
            {
                "type": "NUMBER",
                "code": "qty",
                "lookup": {"relatedApp": {"app": "x"}, "relatedKeyField": "k", "fieldMappings": []},
            },
        ),
        "relatedApp.app must be an app id",
    ),
    (
        with_property(
            "qty",
            {
                "type": "NUMBER",
                "code": "qty",
                "lookup": {
                    "relatedApp": {"app": "1"},
                    "relatedKeyField": "k",
                    "fieldMappings": [{"field": "code"}],
                },
            },
        ),
        "fieldMappings is a list of {field, relatedField}",
    ),
    (with_property("qty", "NUMBER"), "apps[0].properties.qty: Input should be a valid dictionary"),
    (
        {"apps": [{"id": 1, "name": "x", "properties": {}, "colour": "red"}]},
        "apps[0].colour: Extra inputs",
    ),
    ([1, 2], "(top): Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("data", "words"), CASES)
def test_load_seed_names_the_file_the_place_and_the_fix(
    tmp_path: Path, data: object, words: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(SeedError) as caught:
        load_seed(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize(("data", "words"), CASES[:3])
def test_the_command_exits_2_with_one_line(tmp_path: Path, data: object, words: str) -> None:
    code, output = run("--seed", str(write(tmp_path, data)))
    assert code == EXIT_USAGE
    assert words in output
    assert "Traceback" not in output
    assert output.count("\n") == 1


@pytest.mark.parametrize(
    ("records", "words"),
    [
        (
            [{"qty": {"value": "1"}, "code": {"value": "x" * 65}}],
            "apps[0].records[0].code.value (app 1): Enter less than 65",
        ),
        (
            [{"code": {"value": "a"}}, {"code": {"value": "a"}}],
            "records[1].code.value (app 1): This value already exists",
        ),
        (
            [{"code": {"value": "a"}, "qty": {"value": "abc"}}],
            "records[0].qty.value (app 1): Required.",
        ),
    ],
)
def test_seed_records_kintone_would_refuse_name_the_record(
    tmp_path: Path, records: list[object], words: str
) -> None:
    data = {"apps": [{**GOOD["apps"][0], "records": records}]}
    path = write(tmp_path, data)
    with pytest.raises(SeedError, match="Fix the record or the form"):
        create_app(load_seed(path))
    code, output = run("--seed", str(path))
    assert code == EXIT_USAGE
    assert f"{path}: " in output
    assert words in output
    assert "Traceback" not in output


def test_a_seed_record_naming_an_unknown_user_names_the_record(tmp_path: Path) -> None:
    prop = {"type": "USER_SELECT", "code": "owner"}
    data = with_property("owner", prop)
    data["apps"][0]["records"] = [{"code": {"value": "a"}, "owner": {"value": [{"code": "zed"}]}}]  # type: ignore[index]
    code, output = run("--seed", str(write(tmp_path, data)))
    assert code == EXIT_USAGE
    assert (
        "apps[0].records[0] (app 1): The specified user (code：zed) not found. [GAIA_IL26]"
        in output
    )


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"apps: [\n  {id: 1,\n", "not valid YAML: line"),
        (b"\xff\xfe\x00garbage", "not a text file"),
        (b'apps: [{id: 1, name: "a\\ud800", properties: {}}]', "lone surrogate"),
    ],
)
def test_unreadable_seeds_give_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "seed.yaml"
    path.write_bytes(content)
    code, output = run("--seed", str(path))
    assert code == EXIT_USAGE
    assert words in output
    assert output.count("\n") == 1


def test_a_bad_data_file_exits_2(tmp_path: Path) -> None:
    data = tmp_path / "emulator.data"
    data.write_bytes(b"\x80\x04garbage")
    code, output = run("--seed", str(write(tmp_path, GOOD)), "--data", str(data))
    assert code == EXIT_USAGE
    assert "pickle format of an older emulator" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fault", "path=*,status=99"], "status must be an HTTP error status"),
        (["--fault", "path=*,status=²"], "status must be a whole number"),
        (["--fault", "path=*,method=FETCH,status=503"], "method must be one of"),
        (["--fault-rate", "5"], "fault_rate: Input should be less than or equal to 1"),
    ],
)
def test_bad_switches_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    code, output = run("--seed", str(write(tmp_path, GOOD)), *args)
    assert code == EXIT_USAGE
    assert words in output
    assert "Traceback" not in output
