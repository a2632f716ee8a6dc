"""Reconciling a big day: `make bench-reconcile`.

    .venv/bin/python bench/reconcile.py [--records 100000] [--small 10000]

A generated NicePay day: `--records` SUCCESS payments approved that day in the database
(MariaDB database `bench_reconcile`, or DATABASE_URL), and the PG's settlement file of
the same day with one APPROVAL row per payment. `manage.py reconcile`'s service runs in
this process over the file (validated, then matched, then our side looked for). The same
is done with `--small` records first, in the same run, so the report can give ratios:

- records per second (the whole run: file check, matching, the reverse look, books);
  measured without tracemalloc, which is on only for a second run of the same day;
- peak memory of the process (tracemalloc: Python allocations while reconciling), how
  it grows from the small day to the big one, and, for scale, what merely holding the
  day's records in a list would take;
- queries per record (every SQL statement, counted with an execute wrapper).

Every payment matches, so no PG is called: this measures the run's own cost.
Writes bench/results/reconcile.md and .json.
"""

import argparse
import csv
import json
import os
import sys
import time
import tracemalloc
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/bench_reconcile")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.stack import machine_speed_ms  # noqa: E402
from gateways.sandbox.settlement import fee_of, payout_date  # noqa: E402
from gateways.settlement_file import HEADER, read  # noqa: E402
from members.models import Member  # noqa: E402
from payments.models import Discrepancy, PaymentEvent, ReconciliationRun  # noqa: E402
from payments.services.reconcile import reconcile_day  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KST = ZoneInfo("Asia/Seoul")
AMOUNT = 12_000
GATEWAY = "nicepay"


def _database() -> None:
    if connection.vendor == "mysql":
        # Made from a connection to no database in particular: this one may not exist yet.
        name = connection.settings_dict["NAME"]
        server = connection.get_new_connection({**connection.get_connection_params(), "db": ""})
        with server.cursor() as cursor:
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        server.close()
    call_command("migrate", verbosity=0)


def seed(prefix: str, records: int, day, directory: Path) -> Path:
    """`records` SUCCESS payments of `day` and the PG's file listing each one."""
    buyer, _ = Member.objects.get_or_create(email="reconcile@bench.test", defaults={"name": "r"})
    # Every earlier bench payment goes, not only this prefix's: one left approved today
    # and absent from this file would be looked up at a PG that is not running.
    PaymentEvent.objects.filter(buyer=buyer).delete()
    approved = datetime(day.year, day.month, day.day, 12, tzinfo=KST)
    merchant = settings.PAYMENT_GATEWAYS[GATEWAY]["CLIENT_KEY"]
    fee = fee_of(GATEWAY, "card", AMOUNT)
    path = directory / f"{prefix}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for start in range(0, records, 5000):
            batch = range(start, min(records, start + 5000))
            PaymentEvent.objects.bulk_create(
                PaymentEvent(
                    order_id=f"{prefix}-{i:07d}",
                    buyer=buyer,
                    gateway=GATEWAY,
                    order_name="bench",
                    total_amount=AMOUNT,
                    payment_key=f"{prefix}tid{i:07d}",
                    status="SUCCESS",
                    approved_at=approved,
                    pg_idempotency_key=f"{prefix}-k-{i:07d}",
                )
                for i in batch
            )
            for i in batch:
                writer.writerow(
                    (
                        merchant,
                        day.isoformat(),
                        f"{prefix}tid{i:07d}",
                        f"{prefix}tid{i:07d}",
                        f"{prefix}-{i:07d}",
                        "APPROVAL",
                        AMOUNT,
                        fee,
                        AMOUNT - fee,
                        payout_date(day).isoformat(),
                    )
                )
    return path


def measure(prefix: str, records: int, day, directory: Path) -> dict:
    path = seed(prefix, records, day, directory)
    ReconciliationRun.objects.filter(gateway=GATEWAY, day=day).delete()
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        report = reconcile_day(gateway=GATEWAY, day=day, path=path)
    seconds = time.perf_counter() - started
    assert report.records == report.matched == records, (report.records, report.matched)
    assert not report.new
    # Memory on a second run of the day (the same comparisons; tracemalloc slows Python
    # down a few times over, so it is kept out of the timed run).
    tracemalloc.start()
    again = reconcile_day(gateway=GATEWAY, day=day, path=path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert again.records == again.matched == records and not again.new
    # For scale: what holding the day's records at once would take (the file's rows only,
    # before any payment or refund is loaded to compare them with).
    tracemalloc.start()
    merchant = settings.PAYMENT_GATEWAYS[GATEWAY]["CLIENT_KEY"]
    whole_day = list(read(path, merchant_id=merchant, day=day))
    _, loaded = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del whole_day
    return {
        "records": records,
        "seconds": round(seconds, 2),
        "records_per_second": round(records / seconds),
        "peak_mib": round(peak / 2**20, 1),
        "whole_day_mib": round(loaded / 2**20, 1),
        "queries": queries[0],
        "queries_per_record": round(queries[0] / records, 4),
        "file_mib": round(path.stat().st_size / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()
    _database()
    directory = RESULTS / "reconcile-files"
    directory.mkdir(parents=True, exist_ok=True)
    day = timezone.now().astimezone(KST).date()
    speed = machine_speed_ms()
    Discrepancy.objects.filter(run__gateway=GATEWAY, run__day=day).delete()
    small = measure("rs", args.small, day, directory)
    print(f"small day: {small}", flush=True)
    Discrepancy.objects.filter(run__gateway=GATEWAY, run__day=day).delete()
    big = measure("rb", args.records, day, directory)
    print(f"big day:   {big}", flush=True)
    growth = {
        "records": round(big["records"] / small["records"], 1),
        "peak_memory": round(big["peak_mib"] / small["peak_mib"], 2),
        "seconds": round(big["seconds"] / small["seconds"], 2),
    }
    result = {"machine_speed_ms": speed, "small": small, "big": big, "growth": growth}
    (RESULTS / "reconcile.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "reconcile.md").write_text(_markdown(result, connection.vendor))
    print(f"growth, big over small: {growth}")


def _markdown(r: dict, vendor: str) -> str:
    rows = "\n".join(
        f"| {d['records']:,} | {d['seconds']} | {d['records_per_second']:,} | {d['peak_mib']} "
        f"| {d['whole_day_mib']} | {d['queries_per_record']} | {d['file_mib']} |"
        for d in (r["small"], r["big"])
    )
    g = r["growth"]
    return (
        "# Reconciling a day (bench/reconcile.py)\n\n"
        f"Database: {vendor}; machine speed {r['machine_speed_ms']:.0f} ms "
        "(bench/stack.py, lower is faster).\n\n"
        "| records | seconds | records/s | peak MiB (Python) | the day's records held at once, "
        "MiB | queries/record | file MiB |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        f"{rows}\n\n"
        f"Big day over small: {g['records']}x the records, {g['seconds']}x the time, "
        f"{g['peak_memory']}x the peak memory.\n"
    )


if __name__ == "__main__":
    main()
