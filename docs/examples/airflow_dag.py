"""kintone-sync from Airflow: one task per job, the tasks ordered as the jobs' `needs`.

Each task runs the command line, so Airflow needs nothing of kintone-sync but the command on
its workers. A task fails when the run exits non-zero: 1 an error, 2 a configuration problem,
3 rows refused (the rest written; `kintone-sync rejects JOB` lists them).
"""

from __future__ import annotations

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

PROJECT = "/srv/kintone-sync/kintone-sync.yaml"

with DAG(
    dag_id="kintone_sync",
    schedule="30 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,  # a missed night runs once, as `kintone-sync schedule` does
    max_active_runs=1,  # never beside itself; the state's job lock would refuse it anyway
    tags=["kintone"],
) as dag:
    customers = BashOperator(
        task_id="customers",
        bash_command=f"kintone-sync run customers --project {PROJECT} --output json",
        # Exit 3 (rows refused) as "skipped" rather than "failed"; delete to fail the task.
        skip_on_exit_code=3,
    )
    orders = BashOperator(
        task_id="orders",
        bash_command=f"kintone-sync run orders --project {PROJECT} --output json",
        skip_on_exit_code=3,
    )
    customers >> orders  # orders' lookups read customers: `needs: [customers]`
