"""A sale bigger than the machine: offered 2x and 4x capacity, sync confirm, PG 2.0-3.5 s.

    .venv/bin/python bench/overload.py [--seconds 60] [--capacity-seconds 20] [--compare]

1. Capacity: with admission control off, a closed loop of 800 shoppers, each starting
   its next payment when the last ends, for --capacity-seconds. A closed loop cannot
   offer more than it gets done, so the machine runs flat out without collapsing:
   completed payments a second is what it can do.
2. Overload: web restarted with admission control on (config/admission.py); payments
   started at 2x and then 4x that rate (open loop, as buyers arrive at a sale) for
   --seconds each. With --compare, 2x once more with it off, on the same stack.
3. Afterwards, recovery runs once and the invariants are checked against the sandbox's
   own records: every payment it approved is SUCCESS here and the reverse, none approved
   twice, no payment left EXECUTING or UNKNOWN, and stock = initial - sold - held.

A buyer's checkout refused with 503 is told to come back (counted as refused); a confirm
refused with 503 is tried again after its Retry-After until 30 s have passed, as the
shop does (the payment stayed NOT_STARTED). A buyer gives up on any call after 30 s.

Reported per phase: offered and completed payments a second, completed / capacity,
refusals and their latency (p50 / p99 / max), whether each carried Retry-After, other
errors. Writes bench/results/overload.md and .json.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.confirm_load import HIGH, pct
from bench.stack import Stack, machine_speed_ms

RESULTS = Path(__file__).resolve().parent / "results"
GIVE_UP_SECONDS = 30
SHOPPERS = 800
STOCK = 10**9


@dataclass
class Phase:
    name: str
    offered_rate: float
    seconds: float
    completed: int = 0
    refused_checkouts: int = 0
    refused_confirms: int = 0
    gave_up: int = 0
    errors: int = 0
    refusals_without_retry_after: int = 0
    refusal_reasons: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    refusal_ms: list[float] = field(default_factory=list, repr=False)
    checkout_ms: list[float] = field(default_factory=list, repr=False)

    def row(self, capacity: float) -> dict:
        done_rate = self.completed / self.seconds
        row = {k: v for k, v in asdict(self).items() if k not in ("refusal_ms", "checkout_ms")}
        row |= {
            "completed_rate": round(done_rate, 1),
            "of_capacity": round(done_rate / capacity, 2) if capacity else None,
            "refusals": len(self.refusal_ms),
            "refusal_p50_ms": pct(self.refusal_ms, 50),
            "refusal_p99_ms": pct(self.refusal_ms, 99),
            "refusal_max_ms": round(max(self.refusal_ms), 1) if self.refusal_ms else None,
            "checkout_p50_ms": pct(self.checkout_ms, 50),
        }
        return row


class Buyer:
    def __init__(self, stack: Stack, seeded: dict, session: aiohttp.ClientSession):
        self.stack, self.seeded, self.session = stack, seeded, session

    async def pay(self, i: int, phase: Phase) -> None:
        token = self.seeded["tokens"][i % len(self.seeded["tokens"])]
        auth = {"Authorization": f"Token {token}"}
        product = random.choice(self.seeded["products"])
        body = {"gateway": "toss", "items": [{"productId": product, "quantity": 1}]}
        try:
            sent = time.perf_counter()
            status, answer = await self.call("POST", "/api/v1/payments/checkout", auth, body, phase)
            if status == 201:
                phase.checkout_ms.append((time.perf_counter() - sent) * 1000)
            if status == 503:
                phase.refused_checkouts += 1
                return
            if status != 201:
                raise Unexpected(f"checkout {status}")
            window = {"orderId": answer["orderId"], "amount": answer["amount"]}
            async with self.session.post(
                f"{self.stack.sandbox}/sandbox/toss/authorize", json=window
            ) as response:
                key = (await response.json())["paymentKey"]
            deadline = time.monotonic() + GIVE_UP_SECONDS
            confirm = {**window, "paymentKey": key}
            while True:
                status, answer = await self.call(
                    "POST", "/api/v1/payments/confirm", auth, confirm, phase
                )
                if status != 503:
                    break
                phase.refused_confirms += 1
                if time.monotonic() + 2 > deadline:
                    phase.gave_up += 1
                    return
                await asyncio.sleep(2)
            if status != 200 or answer.get("status") != "SUCCESS":
                raise Unexpected(f"confirm {status} {answer.get('status') or answer.get('code')}")
            phase.completed += 1
        except (TimeoutError, aiohttp.ClientError, Unexpected, KeyError) as exc:
            kind = str(exc)[:50] if isinstance(exc, Unexpected) else type(exc).__name__
            phase.errors += 1
            phase.error_kinds[kind] = phase.error_kinds.get(kind, 0) + 1

    async def call(self, method, path, headers, body, phase: Phase) -> tuple[int, dict]:
        sent = time.perf_counter()
        async with self.session.request(
            method, f"{self.stack.base}{path}", headers=headers, json=body
        ) as response:
            answer = await response.json(content_type=None)
            if response.status == 503 and answer.get("code") == "OVERLOADED":
                phase.refusal_ms.append((time.perf_counter() - sent) * 1000)
                reason = answer.get("reason", "?")
                phase.refusal_reasons[reason] = phase.refusal_reasons.get(reason, 0) + 1
                if "Retry-After" not in response.headers:
                    phase.refusals_without_retry_after += 1
            return response.status, answer


class Unexpected(Exception):
    pass


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=GIVE_UP_SECONDS),
    )


async def closed_loop(stack: Stack, seeded: dict, seconds: float) -> Phase:
    phase = Phase("capacity (closed loop)", 0, seconds)
    async with session() as s:
        buyer = Buyer(stack, seeded, s)
        stop = time.monotonic() + seconds
        counter = iter(range(10**9))

        async def shopper():
            while time.monotonic() < stop:
                await buyer.pay(next(counter), phase)

        await asyncio.gather(*(shopper() for _ in range(SHOPPERS)))
    return phase


async def open_loop(stack: Stack, seeded: dict, name: str, rate: float, seconds: float) -> Phase:
    """Payments started at `rate` for `seconds`; those finished inside the window count."""
    phase = Phase(name, rate, seconds)
    async with session() as s:
        buyer = Buyer(stack, seeded, s)
        tasks = set()
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(buyer.pay(i, phase))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        counted = phase.completed  # what finished inside the window is the goodput
        if tasks:
            await asyncio.wait(tasks, timeout=GIVE_UP_SECONDS + 15)
        phase.completed = counted
    return phase


def restart_web(stack: Stack, *, admission: bool) -> None:
    """gunicorn again with admission control on or off; the sandbox keeps running."""
    stack.stop_process("web")
    stack.env["ADMISSION_ENABLED"] = "true" if admission else "false"
    stack.start_web()


def check_invariants(stack: Stack) -> list[str]:
    """What the sandbox says against what the database says; a list of broken rules.

    web is stopped first (gunicorn lets its requests finish), so nothing moves while the
    two are read; then every payment left in doubt is made due and recovery runs, as its
    schedule would have done.
    """
    stack.stop_process("web")
    for _ in range(3):
        stack.sql(
            "UPDATE payments_paymentevent SET next_attempt_at = NOW(6),"
            " updated_at = NOW(6) - INTERVAL 1 HOUR WHERE status IN ('UNKNOWN', 'EXECUTING')"
        )
        stack.manage("recover_payments")
    records = requests.get(f"{stack.sandbox}/sandbox/toss/payments", timeout=60).json()["payments"]
    approved = {r["paymentKey"] for r in records if r["status"] == "DONE"}
    twice = [r["paymentKey"] for r in records if r["sandbox"]["approvals"] > 1]
    ours = dict(stack.sql("SELECT payment_key, status FROM payments_paymentevent"))
    broken = []
    if missing := [k for k in approved if ours.get(k) != "SUCCESS"]:
        broken.append(f"{len(missing)} approved at the PG but not SUCCESS here")
    if invented := [k for k, s in ours.items() if s == "SUCCESS" and k not in approved]:
        broken.append(f"{len(invented)} SUCCESS here but not approved at the PG")
    if twice:
        broken.append(f"{len(twice)} approved twice")
    in_doubt = stack.sql(
        "SELECT COUNT(*) FROM payments_paymentevent WHERE status IN ('EXECUTING','UNKNOWN')"
    )[0][0]
    if in_doubt:
        broken.append(f"{in_doubt} still EXECUTING or UNKNOWN")
    held = stack.sql(
        "SELECT COALESCE(SUM(o.quantity), 0) FROM payments_paymentorder o JOIN"
        " payments_paymentevent e ON e.id = o.event_id WHERE e.status IN"
        " ('SUCCESS','NOT_STARTED','EXECUTING','UNKNOWN','NEEDS_ATTENTION')"
    )[0][0]
    stock = stack.sql("SELECT COUNT(*), COALESCE(SUM(stock), 0) FROM products_product")[0]
    if int(stock[1]) + int(held) != STOCK * int(stock[0]):
        broken.append(f"stock: {stock[1]} on the shelf + {held} held != initial")
    return broken


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--capacity-seconds", type=float, default=20)
    parser.add_argument("--compare", action="store_true", help="2x again with admission off")
    args = parser.parse_args()
    if args.seconds <= 0 or args.capacity_seconds <= 0:
        parser.error("--seconds and --capacity-seconds must be above 0")
    env = {
        # Few accounts play many buyers here: the per-member limits are not under test.
        "CHECKOUT_MAX_OPEN_PER_MEMBER": "1000000",
        "CHECKOUT_RATE_PER_MINUTE": "1000000",
        "CHECKOUT_MAX_HELD_PER_PRODUCT": "1000000",
        "ADMISSION_MAX_IN_FLIGHT": "230",  # of 256 threads
    }
    phases = []
    # One web process: its capacity is one core's, and the other core is left to the load
    # generator, MariaDB and the sandbox, so the generator does not eat what it measures.
    stack = Stack(web_workers=1, web_threads=256, extra_env={**env, "ADMISSION_ENABLED": "false"})
    try:
        stack.create()
        seeded = stack.seed(members=500, products=1000)
        stack.start(worker=False)
        stack.sandbox_latency("confirm", *HIGH)
        print("capacity ...", flush=True)
        asyncio.run(closed_loop(stack, seeded, 3))  # warm up
        measured = asyncio.run(closed_loop(stack, seeded, args.capacity_seconds))
        capacity = measured.completed / measured.seconds
        phases.append(measured.row(capacity))
        print(f"  {capacity:.1f} payments/s", flush=True)
        restart_web(stack, admission=True)
        for factor in (2, 4):
            print(f"{factor}x ...", flush=True)
            name, rate = f"{factor}x, admission on", factor * capacity
            phase = asyncio.run(open_loop(stack, seeded, name, rate, args.seconds))
            phases.append(phase.row(capacity))
            print(f"  {phases[-1]}", flush=True)
        if args.compare:
            restart_web(stack, admission=False)
            print("2x, admission off ...", flush=True)
            phase = asyncio.run(
                open_loop(stack, seeded, "2x, admission off", 2 * capacity, args.seconds)
            )
            phases.append(phase.row(capacity))
            print(f"  {phases[-1]}", flush=True)
        broken = check_invariants(stack)
    finally:
        stack.stop()
    report(phases, broken, args)


def report(rows: list[dict], broken: list[str], args) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "overload.json").write_text(json.dumps({"phases": rows, "broken": broken}, indent=2))
    lines = [
        f"# Overload: sync confirm, PG 2.0-3.5 s, {args.seconds:g} s per phase",
        "",
        f"Machine speed: {machine_speed_ms()} ms for bench/stack.py's reference loop.",
        "",
        "| phase | offered/s | completed/s | of capacity | refused checkouts | refused"
        " confirms | refusal p50 / p99 / max ms | without Retry-After | reasons | gave up"
        " | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['offered_rate']:.1f} | {r['completed_rate']} | "
            f"{r['of_capacity']} | {r['refused_checkouts']} | {r['refused_confirms']} | "
            f"{r['refusal_p50_ms']} / {r['refusal_p99_ms']} / {r['refusal_max_ms']} | "
            f"{r['refusals_without_retry_after']} | {r['refusal_reasons'] or ''} | "
            f"{r['gave_up']} | {r['errors']} {r['error_kinds'] or ''} |"
        )
    lines += ["", "Invariants afterwards: " + ("all held" if not broken else "; ".join(broken))]
    (RESULTS / "overload.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
