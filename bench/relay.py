"""The outbox relay's cost: `make bench-relay`.

    .venv/bin/python bench/relay.py [--rows 10000] [--rate 40] [--seconds 20] [--rounds 2]

1. Relay throughput: `--rows` SUCCESS payments (one line each, ten sellers, 10 %
   commission) with their LEDGER outbox rows PENDING; beat and 1, then 2, Celery workers
   (threads pool, 8 threads each) book them all. Reported: rows per second from the first
   scan until none is PENDING, CPU per row (workers, beat and MariaDB), and whether
   `manage.py ledger_check` passes at the end. The relay's own ceiling is
   OUTBOX_BATCH_SIZE rows per OUTBOX_RELAY_INTERVAL_SECONDS (500 per 2 s by default);
   here it is raised to 5,000 per second so the workers, not the schedule, are measured.
2. What the relay costs the shop: checkout + confirm (sync, PG 0.1-0.3 s) at `--rate`
   for `--seconds`, with the relay booking every SUCCESS as it lands, against the same
   with the relay's schedule pushed out of the run (OUTBOX_RELAY_INTERVAL_SECONDS
   100000); beat and a worker run in both. The runs alternate `--rounds` times and the
   report gives each pair's ratio (CPU per payment, confirm p95), so the machine's drift
   between runs does not pass for a difference.

Writes bench/results/relay.md and .json.
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.confirm_load import LOW, Result, Scenario, Shop, offer
from bench.stack import Stack, machine_speed_ms

RESULTS = Path(__file__).resolve().parent / "results"
THREADS = 8

SEED_ROWS = """
import json
from django.utils import timezone
from members.models import Member
from payments.models import OutboxMessage, PaymentEvent, PaymentOrder
from products.models import Product, Seller
rows = {rows}
sellers = Seller.objects.bulk_create([Seller(name=f"s{{i}}") for i in range(10)])
products = Product.objects.bulk_create(
    [Product(seller=s, name=f"p{{s.pk}}", price=10000, stock=10**9) for s in sellers]
)
buyers = Member.objects.bulk_create(
    [Member(email=f"r{{i}}@bench.test", name="r", password="!") for i in range(100)]
)
now = timezone.now()
for start in range(0, rows, 2000):
    events = PaymentEvent.objects.bulk_create([
        PaymentEvent(order_id=f"relay-{{i:07d}}", buyer=buyers[i % 100], gateway="toss",
                     order_name="bench", total_amount=10000, payment_key=f"pk-{{i:07d}}",
                     status="SUCCESS", approved_at=now, pg_idempotency_key=f"rk-{{i:07d}}")
        for i in range(start, min(rows, start + 2000))
    ])
    PaymentOrder.objects.bulk_create([
        PaymentOrder(event=e, product=products[n % 10], seller=sellers[n % 10], quantity=1,
                     amount=10000, commission=1000) for n, e in enumerate(events)
    ])
    OutboxMessage.objects.bulk_create([OutboxMessage(event=e, kind="LEDGER") for e in events])
print(json.dumps({{"rows": OutboxMessage.objects.filter(status="PENDING").count()}}))
"""


def pending(stack: Stack) -> int:
    return stack.sql(
        "SELECT COUNT(*) FROM payments_outboxmessage WHERE kind='LEDGER' AND status='PENDING'"
    )[0][0]


def ledger_check(stack: Stack) -> str:
    try:
        return stack.manage("ledger_check").strip().splitlines()[-1]
    except RuntimeError as failed:
        return f"FAILED: {str(failed)[-300:]}"


def drain(rows: int, workers: int) -> dict:
    stack = Stack(
        worker_threads=THREADS,
        extra_env={"OUTBOX_RELAY_INTERVAL_SECONDS": "1", "OUTBOX_BATCH_SIZE": "5000"},
    )
    try:
        stack.create()
        seeded = json.loads(
            stack.manage("shell", "-c", SEED_ROWS.format(rows=rows)).strip().splitlines()[-1]
        )
        assert seeded["rows"] == rows, seeded
        stack.start(worker=False)
        for n in range(workers):
            stack.start_worker(f"worker{n + 1}")
        cpu_before = stack.cpu()
        started = time.monotonic()
        stack.start_beat()
        left = rows
        while left and time.monotonic() - started < 900:
            time.sleep(0.5)
            left = pending(stack)
        seconds = time.monotonic() - started
        spent = stack.cpu()
        cpu = {k: round(spent[k] - cpu_before.get(k, 0.0), 1) for k in spent if k != "web"}
        entries = stack.sql("SELECT COUNT(*) FROM ledger_journalentry")[0][0]
        row = {
            "scenario": f"relay {rows:,} rows, {workers} worker(s) x {THREADS} threads",
            "workers": workers,
            "rows": rows,
            "left_pending": left,
            "entries": entries,
            "seconds": round(seconds, 1),
            "rows_per_second": round((rows - left) / seconds, 1),
            "cpu_seconds": cpu,
            "cpu_ms_per_row": round(
                1000 * sum(v for k, v in cpu.items() if k != "sandbox") / max(rows - left, 1), 2
            ),
            "ledger_check": ledger_check(stack),
        }
        print(f"  {row}", flush=True)
        return row
    finally:
        stack.stop()


def shop(relay: bool, rate: float, seconds: float) -> dict:
    """Checkout + confirm at `rate`, beat and a worker running; the relay on or held off."""
    interval = "2" if relay else "100000"
    stack = Stack(extra_env={"OUTBOX_RELAY_INTERVAL_SECONDS": interval})
    scenario = Scenario("relay-on" if relay else "relay-off", "sync", LOW)
    try:
        stack.create()
        seeded = stack.seed(members=200, products=1000)
        stack.start(worker=True)
        stack.start_beat()
        stack.sandbox_latency("confirm", *LOW)
        warm = Result(scenario.name, "", rate, 5)
        asyncio.run(offer(Shop(stack, seeded, scenario, warm), min(rate, 50), 5))
        while relay and pending(stack):  # the warm-up's bookings are not this run's
            time.sleep(0.5)
        result = Result(scenario.name, "", rate, seconds)
        cpu_before = stack.cpu()
        asyncio.run(offer(Shop(stack, seeded, scenario, result), rate, seconds))
        waited = time.monotonic()
        # Measured until the relay caught up, so its bookings count in the CPU.
        while relay and pending(stack) and time.monotonic() - waited < 120:
            time.sleep(0.5)
        spent = stack.cpu()
        cpu = {k: round(spent[k] - cpu_before.get(k, 0.0), 2) for k in spent}
        result.cpu_by_process = cpu
        result.cpu_seconds = sum(v for k, v in cpu.items() if k != "sandbox")
        row = result.summary()
        row["left_pending"] = pending(stack)
        row["catch_up_seconds"] = round(time.monotonic() - waited, 1) if relay else None
        print(
            f"  {scenario.name:9} ok {result.ok} errors {result.errors} "
            f"cpu {row['cpu_ms_per_iteration']} ms/payment confirm p95 {row['confirm_p95_ms']} ms "
            f"pending {row['left_pending']} {cpu}",
            flush=True,
        )
        return row
    finally:
        stack.stop()


def report(drains: list[dict], pairs: list[tuple[dict, dict]], args) -> None:
    RESULTS.mkdir(exist_ok=True)
    lines = [
        "# The outbox relay",
        "",
        f"`.venv/bin/python bench/relay.py --rows {args.rows} --rate {args.rate} "
        f"--seconds {args.seconds} --rounds {args.rounds}`; machine speed "
        f"{args.speed_ms} ms (bench/stack.py, machine_speed_ms).",
        "",
        "## Booking the rows",
        "",
        "| workers | rows | seconds | rows/s | CPU ms/row | left PENDING | ledger_check |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in drains:
        lines.append(
            f"| {row['workers']} x {THREADS} threads | {row['rows']:,} | {row['seconds']} | "
            f"{row['rows_per_second']} | {row['cpu_ms_per_row']} | {row['left_pending']} | "
            f"{row['ledger_check']} |"
        )
    if len(drains) == 2:
        ratio = drains[1]["rows_per_second"] / max(drains[0]["rows_per_second"], 0.1)
        lines += ["", f"Two workers against one: {ratio:.2f}x the rows per second."]
    lines += [
        "",
        "## What the relay costs checkout + confirm",
        "",
        "| round | CPU ms/payment on | off | ratio | confirm p95 on | off | ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, (on, off) in enumerate(pairs, 1):
        cpu = on["cpu_ms_per_iteration"] / max(off["cpu_ms_per_iteration"], 0.1)
        p95 = (on["confirm_p95_ms"] or 0) / max(off["confirm_p95_ms"] or 1, 1)
        lines.append(
            f"| {n} | {on['cpu_ms_per_iteration']} | {off['cpu_ms_per_iteration']} | "
            f"{cpu:.2f} | {on['confirm_p95_ms']} | {off['confirm_p95_ms']} | {p95:.2f} |"
        )
    (RESULTS / "relay.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "relay.json").write_text(
        json.dumps({"drain": drains, "shop": pairs, "speed_ms": args.speed_ms}, indent=2)
    )
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-drain", action="store_true")
    args = parser.parse_args()
    args.speed_ms = machine_speed_ms()
    drains = [] if args.skip_drain else [drain(args.rows, 1), drain(args.rows, 2)]
    pairs = []
    for _ in range(args.rounds):
        on = shop(True, args.rate, args.seconds)
        off = shop(False, args.rate, args.seconds)
        pairs.append((on, off))
    report(drains, pairs, args)


if __name__ == "__main__":
    main()
