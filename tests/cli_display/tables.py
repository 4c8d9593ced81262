"""Reading the summary table a command printed back into numbers, for assertions."""

from __future__ import annotations

import re


def table_rows(output: str) -> dict[str, dict[str, int | float]]:
    """The summary table in `output` by job: `{"customers": {"inserted": 1000, ...}}`."""
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("job ") and "inserted" in line)
    names = re.split(r"\s{2,}", lines[at].strip())[2:]
    rows: dict[str, dict[str, int | float]] = {}
    for line in lines[at + 1 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) < len(names) + 1:
            break
        values = cells[-len(names) :]
        rows[cells[0]] = {
            name: float(v) if name == "seconds" else int(v.replace(",", ""))
            for name, v in zip(names, values, strict=True)
        }
    return rows
