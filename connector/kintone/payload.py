"""Record payloads made ready to send: files uploaded, merged table rows given their row ids."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from connector.kintone.client import KintoneClient
from connector.mapping.convert import FileUpload
from connector.mapping.mapper import Outgoing


def replace_files(record: dict[str, Any], client: KintoneClient) -> dict[str, Any]:
    """The record with every FileUpload uploaded and replaced by its file key."""
    if not any(_has_files(entry.get("value")) for entry in record.values()):
        return record
    out: dict[str, Any] = {}
    for code, entry in record.items():
        out[code] = {"value": _upload_value(entry.get("value"), client)}
    return out


def _has_files(value: Any) -> bool:
    if isinstance(value, list):
        return any(
            isinstance(v, FileUpload)
            or (isinstance(v, dict) and any(_has_files(c.get("value")) for c in _cells(v)))
            for v in value
        )
    return False


def _cells(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cells = row.get("value")
    if isinstance(cells, dict):
        yield from (c for c in cells.values() if isinstance(c, dict))


def _upload_value(value: Any, client: KintoneClient) -> Any:
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, FileUpload):
            out.append({"fileKey": client.upload(item.name, item.data, item.content_type)})
        elif isinstance(item, dict) and isinstance(item.get("value"), dict):
            cells = {
                code: {"value": _upload_value(cell.get("value"), client)}
                for code, cell in item["value"].items()
            }
            out.append({**item, "value": cells})
        else:
            out.append(item)
    return out


def merge_tables(out: Outgoing, stored: Mapping[str, Any]) -> Outgoing:
    """Give merged table rows the ids and unmapped subfields of the stored rows they match."""
    record = dict(out.record)
    for table, row_key in out.merge_tables.items():
        current = {
            str(row["value"].get(row_key, {}).get("value")): row
            for row in stored.get(table, {}).get("value", [])
        }
        rows = []
        for row in record[table]["value"]:
            match = current.get(str(row["value"].get(row_key, {}).get("value")))
            if match is None:
                rows.append(row)
                continue
            cells = {
                code: {"value": cell.get("value")}
                for code, cell in match["value"].items()
                if code not in row["value"] and _writable_cell(cell)
            }
            rows.append({"id": match["id"], "value": {**cells, **row["value"]}})
        record[table] = {"value": rows}
    return replace(out, record=record)


def _writable_cell(cell: Mapping[str, Any]) -> bool:
    # Stored files come back as download keys, which a write cannot take; CALC is computed.
    return cell.get("type") not in ("CALC", "FILE")
