"""cli-kintone (@kintone/cli 1.19.2) against the emulator: record import, export and delete.

Each test runs the real `cli-kintone` binary, then checks through /_emulator/records what
actually landed in the emulator (or, for export, that the CSV matches the emulator's records).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from .conftest import Emulator

pytestmark = pytest.mark.official


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def lines_of(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (row["value"]["item"]["value"], row["value"]["amount"]["value"])
        for row in record["lines"]["value"]
    ]


def import_csv(emulator: Emulator, path: Path, *extra: str) -> None:
    emulator.cli_ok("record", "import", "--file-path", str(path), *extra, cwd=path.parent)


def test_import_inserts_records(emulator: Emulator, tmp_path: Path) -> None:
    rows = [[f"C{i:05d}", f"name {i}", str(i), f"2024/03/{i % 28 + 1:02d}"] for i in range(1, 2051)]
    rows[1][1] = 'quoted, "comma"\nand newline'
    path = write_csv(tmp_path / "orders.csv", ["code", "name", "qty", "due"], rows)

    import_csv(emulator, path)

    by_code = emulator.by_code()
    assert len(by_code) == 2050
    for i in (1, 3, 1000, 2000, 2001, 2050):
        landed = by_code[f"C{i:05d}"]
        assert landed["name"]["value"] == f"name {i}"
        assert landed["qty"]["value"] == str(i)
        # cli-kintone turns 2024/03/05 into 2024-03-05
        assert landed["due"]["value"] == f"2024-03-{i % 28 + 1:02d}"
        assert landed["lines"]["value"] == []
    assert by_code["C00002"]["name"]["value"] == 'quoted, "comma"\nand newline'
    # CSV order is insertion order
    ids = [int(by_code[f"C{i:05d}"]["$id"]["value"]) for i in range(1, 2051)]
    assert ids == sorted(ids)


def test_import_with_update_key_upserts(emulator: Emulator, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "first.csv",
        ["code", "name", "qty"],
        [["A1", "Alice", "1"], ["B2", "Bob", "2"], ["C3", "Carol", "3"]],
    )
    import_csv(emulator, first)
    before = emulator.by_code()
    assert sorted(before) == ["A1", "B2", "C3"]

    second = write_csv(
        tmp_path / "second.csv",
        ["code", "name", "qty"],
        [["B2", "Bob updated", "20"], ["D4", "Dave", "4"], ["A1", "Alice updated", "10"]],
    )
    import_csv(emulator, second, "--update-key", "code")

    after = emulator.by_code()
    assert sorted(after) == ["A1", "B2", "C3", "D4"]
    assert (after["A1"]["name"]["value"], after["A1"]["qty"]["value"]) == ("Alice updated", "10")
    assert (after["B2"]["name"]["value"], after["B2"]["qty"]["value"]) == ("Bob updated", "20")
    assert (after["C3"]["name"]["value"], after["C3"]["qty"]["value"]) == ("Carol", "3")
    assert (after["D4"]["name"]["value"], after["D4"]["qty"]["value"]) == ("Dave", "4")
    # updates keep their ids; the insert gets a fresh one
    for code in ("A1", "B2", "C3"):
        assert after[code]["$id"]["value"] == before[code]["$id"]["value"]
    assert after["A1"]["$revision"]["value"] == "2"
    assert after["C3"]["$revision"]["value"] == "1"
    assert after["D4"]["$revision"]["value"] == "1"
    assert int(after["D4"]["$id"]["value"]) > max(int(r["$id"]["value"]) for r in before.values())


def test_import_with_subtable_rows(emulator: Emulator, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "tables.csv",
        ["*", "code", "name", "qty", "lines", "item", "amount"],
        [
            ["*", "T1", "two rows", "10", "", "apple", "1"],
            ["", "T1", "two rows", "10", "", "banana", "2"],
            ["*", "T2", "one row", "20", "", "cherry", "3"],
            ["*", "T3", "no rows", "30", "", "", ""],
            ["*", "T4", "three rows", "40", "", "x", "7"],
            ["", "T4", "three rows", "40", "", "y", ""],
            ["", "T4", "three rows", "40", "", "z", "9"],
        ],
    )

    import_csv(emulator, path)

    by_code = emulator.by_code()
    assert sorted(by_code) == ["T1", "T2", "T3", "T4"]
    assert lines_of(by_code["T1"]) == [("apple", "1"), ("banana", "2")]
    assert lines_of(by_code["T2"]) == [("cherry", "3")]
    assert lines_of(by_code["T3"]) == []
    assert lines_of(by_code["T4"]) == [("x", "7"), ("y", ""), ("z", "9")]
    assert by_code["T4"]["qty"]["value"] == "40"
    row_ids = [row["id"] for r in by_code.values() for row in r["lines"]["value"]]
    assert all(row_ids)
    assert len(set(row_ids)) == len(row_ids) == 6
    assert by_code["T1"]["lines"]["type"] == "SUBTABLE"
    assert by_code["T1"]["lines"]["value"][0]["value"]["amount"]["type"] == "NUMBER"


def parse_export(stdout: str) -> list[dict[str, Any]]:
    """cli-kintone's CSV (with a subtable) → [{fields..., "lines": [(row id, item, amount)]}]."""
    reader = csv.DictReader(io.StringIO(stdout))
    assert reader.fieldnames is not None
    assert reader.fieldnames[0] == "*"
    out: list[dict[str, Any]] = []
    for row in reader:
        if row["*"] == "*":
            out.append({**row, "lines": []})
        else:
            assert row["*"] == ""
            assert row["code"] == out[-1]["code"]
        if row["lines"] or row["item"] or row["amount"]:
            out[-1]["lines"].append((row["lines"], row["item"], row["amount"]))
    return out


def compare_export(exported: list[dict[str, Any]], landed: dict[str, dict[str, Any]]) -> None:
    assert len(exported) == len(landed)
    for rec in exported:
        emu = landed[rec["code"]]
        assert rec["Record_number"] == emu["Record_number"]["value"]
        assert rec["name"] == emu["name"]["value"]
        assert rec["qty"] == (emu["qty"]["value"] or "")
        assert rec["due"] == (emu["due"]["value"] or "")
        assert rec["Created_datetime"] == emu["Created_datetime"]["value"]
        assert rec["Created_by"] == emu["Created_by"]["value"]["code"]
        assert rec["lines"] == [
            (row["id"], row["value"]["item"]["value"], row["value"]["amount"]["value"] or "")
            for row in emu["lines"]["value"]
        ]


def test_export_matches_emulator(emulator: Emulator, tmp_path: Path) -> None:
    rows = [
        ["*", "T1", "with lines", "5", "2024/01/31", "", "apple", "1"],
        ["", "T1", "with lines", "5", "2024/01/31", "", "pear", "2"],
    ]
    rows += [["*", f"E{i:04d}", f"name {i}", str(i), "", "", "", ""] for i in range(1, 611)]
    path = write_csv(
        tmp_path / "seed.csv", ["*", "code", "name", "qty", "due", "lines", "item", "amount"], rows
    )
    import_csv(emulator, path)
    landed = emulator.by_code()
    assert len(landed) == 611

    # no --order-by: $id paging, 500 per page
    plain = parse_export(emulator.cli_ok("record", "export").stdout)
    compare_export(plain, landed)
    assert [r["code"] for r in plain] == [
        r["code"]["value"] for r in sorted(landed.values(), key=lambda r: int(r["$id"]["value"]))
    ]
    t1 = next(r for r in plain if r["code"] == "T1")
    assert [(item, amount) for _, item, amount in t1["lines"]] == [("apple", "1"), ("pear", "2")]
    assert t1["due"] == "2024-01-31"

    # --order-by: the cursor API with the server's default page size
    ordered = parse_export(
        emulator.cli_ok(
            "record", "export", "--order-by", "qty desc", "--condition", "qty >= 5"
        ).stdout
    )
    assert [int(r["qty"]) for r in ordered] == [*range(610, 4, -1), 5]
    assert len(ordered) == 607  # E0005..E0610 and T1
    compare_export(ordered, {r["code"]: landed[r["code"]] for r in ordered})


def test_delete_all_records(emulator: Emulator, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv", ["code", "name"], [[f"D{i:03d}", f"n{i}"] for i in range(1, 131)]
    )
    import_csv(emulator, path)
    assert len(emulator.records()) == 130

    emulator.cli_ok("record", "delete", "--yes")

    assert emulator.records() == []


def test_delete_by_record_number_file(emulator: Emulator, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv", ["code", "name"], [[f"D{i:03d}", f"n{i}"] for i in range(1, 11)]
    )
    import_csv(emulator, path)
    landed = emulator.by_code()
    doomed = ["D002", "D005", "D009"]
    numbers = write_csv(
        tmp_path / "delete.csv",
        ["Record_number"],
        [[landed[code]["Record_number"]["value"]] for code in doomed],
    )

    emulator.cli_ok("record", "delete", "--yes", "--file-path", str(numbers))

    assert sorted(emulator.by_code()) == sorted(set(landed) - set(doomed))


def test_import_error_is_reported_and_nothing_lands(emulator: Emulator, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dup.csv",
        ["code", "name"],
        [["X1", "first"], ["X2", "second"], ["X1", "duplicate"], ["X3", "third"]],
    )

    res = emulator.cli("record", "import", "--file-path", str(path))

    assert res.returncode == 1, res.describe()
    assert "CB_VA01" in res.stderr, res.describe()
    assert "An error occurred on code at row 4." in res.stderr, res.describe()
    assert emulator.records() == []
