"""Recovery at scale: `make bench-recovery` (also run by `make bench`).

    .venv/bin/python bench/recovery_load.py [--payments 10000] [--finished 1000000]

4. 10,000 UNKNOWN payments that the PG (the sandbox) approved, PG lookups delayed 200 ms:
   beat and 1, then 2, Celery workers (threads pool) recover them all; the time from the
   first scan until none is UNKNOWN, and the CPU it took.
5. The recovery scan's cost with 1,000,000 finished payments in the table: the claim
   query (and the operators' summary behind /metrics and the admin index) timed over
   100 due payments alone, then with the finished rows added. Its cost must not grow.

Writes bench/results/recovery.md and .json.
"""

import argparse
import asyncio
import base64
import json
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import PySpy, Stack, machine_speed_ms

RESULTS = Path(__file__).resolve().parent / "results"


async def approve_at_pg(stack: Stack, orders: list[tuple[str, str]], amount: int) -> list[str]:
    """Authorise and confirm each order at the sandbox; returns the payment keys."""
    basic = base64.b64encode(b"test_sk_sandbox_local_only:").decode()
    limit = asyncio.Semaphore(64)
    async with aiohttp.ClientSession() as session:

        async def one(order_id: str, key: str) -> str:
            async with limit:
                async with session.post(
                    f"{stack.sandbox}/sandbox/toss/authorize",
                    json={"orderId": order_id, "amount": amount},
                ) as response:
                    payment_key = (await response.json())["paymentKey"]
                body = {"paymentKey": payment_key, "orderId": order_id, "amount": amount}
                async with session.post(
                    f"{stack.sandbox}/toss/v1/payments/confirm",
                    json=body,
                    headers={"Idempotency-Key": key, "Authorization": f"Basic {basic}"},
                ) as response:
                    assert response.status == 200, await response.text()
                return payment_key

        return await asyncio.gather(*(one(o, k) for o, k in orders))


def unknown_payments(stack: Stack, count: int) -> None:
    """`count` payments the confirm left UNKNOWN, each approved at the PG."""
    orders = [(f"bench-{i:07d}", f"bench-key-{i:07d}") for i in range(count)]
    keys = asyncio.run(approve_at_pg(stack, orders, 1000))
    rows = [(o, k, p) for (o, k), p in zip(orders, keys, strict=True)]
    (stack.work / "unknown.json").write_text(json.dumps(rows))
    stack.manage(
        "shell",
        "-c",
        f"""
import json
from django.utils import timezone
from members.models import Member
from payments.models import PaymentEvent, PaymentOrder
from products.models import Product
rows = json.load(open({str(stack.work / "unknown.json")!r}))
buyer = Member.objects.first()
product = Product.objects.first()
now = timezone.now()
for start in range(0, len(rows), 2000):
    events = PaymentEvent.objects.bulk_create([
        PaymentEvent(order_id=o, buyer=buyer, gateway="toss", order_name="bench",
                     total_amount=1000, payment_key=p, status="UNKNOWN",
                     pg_idempotency_key=k, next_attempt_at=now)
        for o, k, p in rows[start:start + 2000]
    ])
    PaymentOrder.objects.bulk_create([
        PaymentOrder(event=e, product=product, seller_id=product.seller_id, quantity=1,
                     amount=1000) for e in events
    ])
""",
    )


def converge(payments: int, workers: int, with_profile: bool = False) -> dict:
    stack = Stack(
        worker_threads=100,
        extra_env={
            "RECOVERY_INTERVAL_SECONDS": "1",
            "RECOVERY_BATCH_SIZE": "1000",
            "RECOVERY_LEASE_SECONDS": "120",
        },
    )
    try:
        stack.create()
        stack.seed(members=1, products=1)
        stack.start(worker=False)
        unknown_payments(stack, payments)
        stack.sandbox_latency("lookup", 200, 200)
        for n in range(workers):
            stack.start_worker(f"worker{n + 1}", threads=100)
        cpu_before = stack.cpu()
        started = time.monotonic()
        spy = None
        if with_profile:  # the first worker, until convergence
            output = RESULTS / f"profile-recovery-{workers}-worker.txt"
            spy = PySpy(stack.procs["worker1"].pid, output)
        stack.start_beat()
        left = payments
        while left and time.monotonic() - started < 600:
            time.sleep(0.5)
            left = stack.sql("SELECT COUNT(*) FROM payments_paymentevent WHERE status='UNKNOWN'")[
                0
            ][0]
        seconds = time.monotonic() - started
        spent = stack.cpu()
        if spy is not None:
            spy.stop()
        success = stack.sql("SELECT COUNT(*) FROM payments_paymentevent WHERE status='SUCCESS'")[0][
            0
        ]
        cpu = {k: round(spent[k] - cpu_before.get(k, 0.0), 1) for k in spent}
        row = {
            "scenario": f"recover {payments:,} UNKNOWN, PG lookup 200 ms, {workers} worker(s)",
            "workers": workers,
            "payments": payments,
            "seconds": round(seconds, 1),
            "left_unknown": left,
            "success": success,
            "per_second": round(success / seconds, 1),
            "cpu_seconds": cpu,
            "cpu_ms_per_payment": round(
                1000 * sum(v for k, v in cpu.items() if k != "sandbox") / max(success, 1), 1
            ),
        }
        print(f"  {row}", flush=True)
        return row
    finally:
        stack.stop()


SCAN_TIMING = """
import json, time
from django.db import connection
from payments.selectors import payment_operations_summary
from payments.services.recovery import _due, recovery_claim
from payments.models import PaymentEvent
from django.db.models import Q
from django.utils import timezone

def timed(fn, n=50):
    fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1000

def candidates():
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    for condition in _due(now):
        list(PaymentEvent.objects.filter(condition, free).order_by("next_attempt_at", "id")
             .values_list("id", flat=True)[:200])

def claim_and_release():
    ids = recovery_claim(owner="bench", limit=200)
    PaymentEvent.objects.filter(pk__in=ids).update(lease_until=None, lease_owner="")

print(json.dumps({"scan_ms": timed(candidates), "claim_ms": timed(claim_and_release, 10),
                  "summary_ms": timed(payment_operations_summary, 10)}))
"""


def scan_cost(finished: int) -> dict:
    stack = Stack()
    try:
        stack.create()
        stack.seed(members=1, products=1)
        buyer = stack.sql("SELECT id FROM members_member LIMIT 1")[0][0]
        # 100 due payments: the recovery scan's real work.
        stack.sql(_insert_sql(buyer, 100, "UNKNOWN", "due"))
        before = json.loads(stack.manage("shell", "-c", SCAN_TIMING).strip().splitlines()[-1])
        started = time.monotonic()
        for chunk in range(0, finished, 250_000):
            stack.sql(_insert_sql(buyer, min(250_000, finished - chunk), "SUCCESS", f"f{chunk}"))
        stack.sql("ANALYZE TABLE payments_paymentevent")
        load_seconds = time.monotonic() - started
        after = json.loads(stack.manage("shell", "-c", SCAN_TIMING).strip().splitlines()[-1])
        row = {
            "scenario": f"recovery scan, 100 due payments, then + {finished:,} finished",
            "finished": finished,
            "load_seconds": round(load_seconds, 1),
            **{f"{k}_before": round(v, 2) for k, v in before.items()},
            **{f"{k}_after": round(v, 2) for k, v in after.items()},
        }
        row["scan_ratio"] = round(after["scan_ms"] / before["scan_ms"], 2)
        row["claim_ratio"] = round(after["claim_ms"] / before["claim_ms"], 2)
        row["summary_ratio"] = round(after["summary_ms"] / before["summary_ms"], 2)
        print(f"  {row}", flush=True)
        return row
    finally:
        stack.stop()


def _insert_sql(buyer: int, count: int, status: str, tag: str) -> str:
    """Rows from MariaDB's sequence engine: a million in seconds."""
    due = "NOW(6)" if status == "UNKNOWN" else "NULL"
    # Every value is this script's own constant or integer: nothing from outside.
    return f"""
INSERT INTO payments_paymentevent
 (order_id, buyer_id, gateway, order_name, total_amount, purpose, payment_key, status,
  pg_auth_token, pg_idempotency_key, retry_count, next_attempt_at, lease_until, lease_owner,
  approved_at, failure_code, failure_message, canceled_amount, is_payment_done,
  created_at, updated_at)
SELECT CONCAT('{tag}-', seq), {buyer}, 'toss', 'bench', 1000, 'GOODS', CONCAT('{tag}-pk-', seq),
  '{status}', '', CONCAT('{tag}-key-', seq), 0, {due}, NULL, '', NULL, '', '', 0, 0,
  NOW(6) - INTERVAL seq SECOND, NOW(6) - INTERVAL seq SECOND
FROM seq_1_to_{count}
"""


def report(rows: list[dict]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recovery.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "# Recovery at scale",
        "",
        f"Machine speed: {machine_speed_ms()} ms for bench/stack.py's reference loop.",
        "",
    ]
    converged = [r for r in rows if "workers" in r]
    if converged:
        lines += [
            "| scenario | seconds to converge | recovered/s | CPU ms/payment | CPU s by process |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['scenario']} | {r['seconds']} | {r['per_second']} | "
            f"{r['cpu_ms_per_payment']} | {r['cpu_seconds']} |"
            for r in converged
        ]
        lines.append("")
    for r in (r for r in rows if "finished" in r):
        lines += [
            f"Recovery scan with {r['finished']:,} finished payments (ms per call, before ->"
            " after, ratio):",
            "",
            f"- due-payment query: {r['scan_ms_before']} -> {r['scan_ms_after']} "
            f"({r['scan_ratio']}x)",
            f"- claim of 100 (query + leases): {r['claim_ms_before']} -> "
            f"{r['claim_ms_after']} ({r['claim_ratio']}x)",
            f"- operators' summary (the /metrics gauges): {r['summary_ms_before']} -> "
            f"{r['summary_ms_after']} ({r['summary_ratio']}x)",
        ]
    (RESULTS / "recovery.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def positive(text: str) -> int:
    """A whole number above 0, for argparse."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return number


def counts(text: str) -> list[int]:
    """Comma-separated whole numbers above 0 ("1,2"), for argparse."""
    return [positive(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=positive, default=10_000)
    parser.add_argument("--finished", type=positive, default=1_000_000)
    parser.add_argument("--only", default="converge,scan", help="converge, scan or both")
    parser.add_argument("--workers", type=counts, default=[1, 2], help="worker counts: 1,2")
    parser.add_argument("--profile", action="store_true", help="py-spy the first worker")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if not parts <= {"converge", "scan"}:
        parser.error(f"--only {args.only!r}: converge, scan, or converge,scan")
    rows = []
    if "converge" in parts:
        for workers in args.workers:
            print(f"recovering {args.payments} payments with {workers} worker(s) ...", flush=True)
            rows.append(converge(args.payments, workers, args.profile))
    if "scan" in parts:
        print(f"recovery scan with {args.finished} finished payments ...", flush=True)
        rows.append(scan_cost(args.finished))
    report(rows)


if __name__ == "__main__":
    main()
