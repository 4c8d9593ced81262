"""kintone-sync from Dagster: each job an asset, the assets' deps the jobs' `needs`.

The assets run the command line and keep its JSON report as metadata; a run that fails or
refuses rows raises, so Dagster shows the asset as failed.
"""

from __future__ import annotations

import json
import shlex
import subprocess

from dagster import AssetExecutionContext, Definitions, ScheduleDefinition, asset, define_asset_job

COMMAND = "kintone-sync run {job} --project /srv/kintone-sync/kintone-sync.yaml --output json"


def _sync(context: AssetExecutionContext, job: str) -> dict[str, object]:
    done = subprocess.run(
        shlex.split(COMMAND.format(job=job)), capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 3):
        raise RuntimeError(f"job {job}: kintone-sync exited {done.returncode}: {done.stderr}")
    report = json.loads(done.stdout)
    context.add_output_metadata(
        {k: report[k] for k in ("run_id", "inserted", "updated", "refused")}
    )
    if done.returncode == 3:
        raise RuntimeError(f"job {job}: {report['refused']} rows refused; see kintone-sync rejects")
    return report


@asset
def customers(context: AssetExecutionContext) -> None:
    _sync(context, "customers")


@asset(deps=[customers])
def orders(context: AssetExecutionContext) -> None:
    _sync(context, "orders")


nightly = ScheduleDefinition(
    job=define_asset_job("kintone_sync", selection="*"),
    cron_schedule="30 2 * * *",
    execution_timezone="Asia/Tokyo",
)

defs = Definitions(assets=[customers, orders], schedules=[nightly])
