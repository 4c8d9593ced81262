"""`state show`, `state reset`, `unlock` and `rejects --clear`: each shows, asks, then changes."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import sqlalchemy as sa

from connector.cli import EXIT_REFUSED, EXIT_USAGE
from connector.state import StateStore, locks

from .conftest import invoke, json_out


def _lock(project_dir: Path, host: str, pid: int, age: float) -> None:
    store = StateStore.open(None, project_dir)
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(locks).values(
                job="customers", host=host, pid=pid, heartbeat=time.time() - age, token="t"
            )
        )
    store.close()


def _show(job: str = "customers") -> dict[str, object]:
    result = invoke("state", "show", job, "--output", "json")
    assert result.exit_code == 0, result.output
    shown = json_out(result)
    assert isinstance(shown, list)
    return dict(shown[0])


def test_state_show_before_and_after_a_run(project_dir: Path) -> None:
    before = _show()
    assert (before["targets"], before["last_run"], before["lock"]) == ([], None, None)
    assert invoke("run", "customers").exit_code == 0
    after = _show()
    [target] = after["targets"]  # type: ignore[misc]
    assert target["rows"] == {"synced": 1000}
    assert target["current"] is True
    assert after["last_run"]["status"] == "succeeded"  # type: ignore[index]
    text = invoke("state", "show")
    assert "1,000 synced" in text.output
    assert "lock: free" in text.output


def test_state_reset_asks_then_forgets_and_the_next_run_links_by_key(project_dir: Path) -> None:
    assert invoke("run", "customers").exit_code == 0
    refused = invoke("state", "reset", "customers")  # no terminal, no --yes
    assert refused.exit_code == EXIT_USAGE
    assert "state reset forgets everything kept of job customers" in refused.stdout
    assert "1,000 synced" in refused.stdout
    assert "pass --yes" in refused.stderr
    assert _show()["targets"] != []
    done = invoke("state", "reset", "customers", "--yes")
    assert done.exit_code == 0, done.output
    assert "the next run matches records by key again" in done.output
    assert _show()["targets"] == []
    again = json_out(invoke("run", "customers", "--output", "json"))
    # Upsert matched every record by its key: none inserted twice.
    assert (again["inserted"], again["updated"] + again["linked"]) == (0, 1000), again
    assert _show()["targets"][0]["rows"] == {"synced": 1000}  # type: ignore[index]


def test_unlock_refuses_a_fresh_lock_without_force(project_dir: Path) -> None:
    _lock(project_dir, "other-host", 4242, age=5)
    refused = invoke("unlock", "customers", "--yes")
    assert refused.exit_code == EXIT_USAGE
    assert "held by host other-host, process 4242, last heard from 5 s ago" in refused.stderr
    assert "pass --force" in refused.stderr
    assert _show()["lock"] is not None
    forced = invoke("unlock", "customers", "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    assert _show()["lock"] is None


def test_unlock_shows_a_stale_lock_then_removes_it(project_dir: Path) -> None:
    _lock(project_dir, "gone-host", 99, age=3600)
    asked = invoke("unlock", "customers")
    assert asked.exit_code == EXIT_USAGE
    assert "held by host gone-host, process 99, last heard from 3600 s ago" in asked.stdout
    assert _show()["lock"] is not None
    done = invoke("unlock", "customers", "--yes", "--output", "json")
    assert done.exit_code == 0, done.output
    assert json_out(done)["lock"]["host"] == "gone-host"
    assert _show()["lock"] is None
    assert invoke("run", "customers").exit_code == 0


def test_state_reset_refuses_while_a_run_holds_the_lock(project_dir: Path) -> None:
    _lock(project_dir, "other-host", 4242, age=1)
    result = invoke("state", "reset", "customers", "--yes")
    assert result.exit_code == 1
    assert "job customers is running (held by host other-host" in result.stderr


def test_rejects_clear_forgets_them_until_the_row_is_refused_again(project_dir: Path) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET credit_limit = -1 WHERE customer_id = 'C-0042'")
    assert invoke("run", "customers").exit_code == EXIT_REFUSED
    assert len(json_out(invoke("rejects", "customers", "--output", "json"))) == 1
    asked = invoke("rejects", "customers", "--clear")
    assert asked.exit_code == EXIT_USAGE
    assert "forgets 1 refused row(s) of job customers" in asked.stdout
    cleared = invoke("rejects", "customers", "--clear", "--yes", "--output", "json")
    assert json_out(cleared) == {"job": "customers", "cleared": 1}
    assert json_out(invoke("rejects", "customers", "--output", "json")) == []
    assert invoke("run", "customers").exit_code == EXIT_REFUSED
    assert len(json_out(invoke("rejects", "customers", "--output", "json"))) == 1


def test_rejects_format_is_the_old_name_of_output(project_dir: Path) -> None:
    old = invoke("rejects", "customers", "--format", "csv")
    new = invoke("rejects", "customers", "--output", "csv")
    assert old.exit_code == new.exit_code == 0
    assert old.stdout == new.stdout == "key,field,code,message,error_id,run,at\n"
