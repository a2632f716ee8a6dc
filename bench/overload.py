"""A sale bigger than the machine: offered 2x and 4x capacity, sync confirm, PG 2.0-3.5 s.

    .venv/bin/python bench/overload.py [--seconds 60] [--capacity-seconds 20] [--compare]

1. Capacity: with admission control off, a closed loop of 400 shoppers, each starting
   its next payment when the last ends; the payments completed in --capacity-seconds
   after a 10 s warm-up count. A closed loop cannot offer more than it gets done, so the
   machine runs flat out without collapsing: completed payments a second is what it can
   do (at the latency of its queue: a capacity, not a service level).
2. Overload: web restarted with admission control on (config/admission.py); payments
   started at 2x and then 4x that rate (open loop, as buyers arrive at a sale) for
   --seconds each; the successes of the last --seconds - 10 count. With --compare, 2x
   once more with it off, on the same stack. With --refusal-cost, 0.6x alone and then
   with 200 refusals a second beside it: what a refusal costs and takes.
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
import os
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
SHOPPERS = 400
REFUSALS_PER_SECOND = 200
NO_CAP = 60_000  # nginx's cap on checkouts, lifted (it takes at most 65,535)
WARM_UP_SECONDS = 10
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
    cores: dict[str, float] = field(default_factory=dict)
    done_at: list[float] = field(default_factory=list, repr=False)
    loop_lag_ms: list[float] = field(default_factory=list, repr=False)
    refusal_ms_by_reason: dict[str, list[float]] = field(default_factory=dict, repr=False)
    refusal_ms: list[float] = field(default_factory=list, repr=False)
    checkout_ms: list[float] = field(default_factory=list, repr=False)

    def row(self, capacity: float) -> dict:
        done_rate = self.completed / self.seconds
        samples = ("refusal_ms", "checkout_ms", "done_at", "loop_lag_ms", "refusal_ms_by_reason")
        row = {k: v for k, v in asdict(self).items() if k not in samples}
        row |= {
            "completed_rate": round(done_rate, 1),
            "of_capacity": round(done_rate / capacity, 2) if capacity else None,
            "refusals": len(self.refusal_ms),
            "refusal_p50_ms": pct(self.refusal_ms, 50),
            "refusal_p99_ms": pct(self.refusal_ms, 99),
            "refusal_max_ms": round(max(self.refusal_ms), 1) if self.refusal_ms else None,
            "refusal_p99_ms_by_reason": {
                reason: pct(took, 99) for reason, took in self.refusal_ms_by_reason.items()
            },
            "checkout_p50_ms": pct(self.checkout_ms, 50),
            # How late the generator's own loop ran: a floor under every latency it times.
            "generator_lag_p99_ms": pct(self.loop_lag_ms, 99),
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
            phase.done_at.append(time.monotonic())
        except (TimeoutError, aiohttp.ClientError, Unexpected, KeyError) as exc:
            kind = str(exc)[:50] if isinstance(exc, Unexpected) else type(exc).__name__
            phase.errors += 1
            phase.error_kinds[kind] = phase.error_kinds.get(kind, 0) + 1

    async def call(self, method, path, headers, body, phase: Phase, base: str = "") -> tuple:
        sent = time.perf_counter()
        async with self.session.request(
            method, f"{base or self.stack.base}{path}", headers=headers, json=body
        ) as response:
            answer = await response.json(content_type=None)
            if response.status == 503 and answer.get("code") == "OVERLOADED":
                took = (time.perf_counter() - sent) * 1000
                phase.refusal_ms.append(took)
                reason = answer.get("reason", "?")
                phase.refusal_reasons[reason] = phase.refusal_reasons.get(reason, 0) + 1
                phase.refusal_ms_by_reason.setdefault(reason, []).append(took)
                if "Retry-After" not in response.headers:
                    phase.refusals_without_retry_after += 1
            return response.status, answer


async def watch_loop(phase: Phase) -> None:
    """Until cancelled: how much later than asked the generator's event loop wakes up."""
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(0.01)
        phase.loop_lag_ms.append((time.perf_counter() - asked - 0.01) * 1000)


class Unexpected(Exception):
    pass


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=GIVE_UP_SECONDS),
    )


async def closed_loop(stack: Stack, seeded: dict, seconds: float) -> Phase:
    """SHOPPERS buyers, each starting the next payment when the last ends; what completes
    in `seconds` after a warm-up of WARM_UP_SECONDS counts. The warm-up matters: all of
    them start at once, and their first payments, finishing late, say how long a burst
    takes to drain, not how many a second the machine does."""
    phase = Phase("capacity (closed loop)", 0, seconds)
    async with session() as s:
        buyer = Buyer(stack, seeded, s)
        started = time.monotonic()
        window = (started + WARM_UP_SECONDS, started + WARM_UP_SECONDS + seconds)
        counter = iter(range(10**9))

        async def shopper():
            while time.monotonic() < window[1]:
                await buyer.pay(next(counter), phase)

        watcher = asyncio.create_task(watch_loop(phase))
        await asyncio.gather(*(shopper() for _ in range(SHOPPERS)))
        watcher.cancel()
    phase.completed = sum(window[0] <= t < window[1] for t in phase.done_at)
    return phase


async def open_loop(stack: Stack, seeded: dict, name: str, rate: float, seconds: float) -> Phase:
    """Payments started at `rate` for `seconds`; the rate counted is that of successes
    in the window after its first WARM_UP_SECONDS (no payment can finish in the first
    PG latency's worth, and what finishes after the window is a backlog's drain)."""
    phase = Phase(name, rate, seconds - WARM_UP_SECONDS)
    async with session() as s:
        buyer = Buyer(stack, seeded, s)
        watcher = asyncio.create_task(watch_loop(phase))
        tasks = set()
        start, began = time.perf_counter(), time.monotonic()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(buyer.pay(i, phase))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=GIVE_UP_SECONDS + 15)
        watcher.cancel()
    phase.completed = sum(began + WARM_UP_SECONDS <= t < began + seconds for t in phase.done_at)
    return phase


async def with_refusals(stack: Stack, seeded: dict, name: str, rate: float, seconds: float):
    """Payments at `rate` and, beside them, REFUSALS_PER_SECOND checkouts that admission
    refuses at once: their stamp from "our proxy" is an hour old (reason `queued`). What
    they add to the web process's CPU is what a refusal costs; their latency is what a
    refusal takes in a process doing real work."""
    phase_task = asyncio.create_task(open_loop(stack, seeded, name, rate, seconds))
    refusals = Phase(name, rate, seconds)
    async with session() as s:
        buyer = Buyer(stack, seeded, s)
        stale = {"X-Request-Start": f"t={time.time() - 3600:.3f}"}
        start, sent = time.perf_counter(), []
        for i in range(int(REFUSALS_PER_SECOND * seconds)):
            delay = start + i / REFUSALS_PER_SECOND - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # Straight to gunicorn: nginx would stamp them afresh.
            call = buyer.call(
                "POST", "/api/v1/payments/checkout", stale, {}, refusals, stack.web_base
            )
            sent.append(asyncio.create_task(call))
        await asyncio.gather(*sent, return_exceptions=True)
    phase = await phase_task
    phase.refusal_ms, phase.refusal_reasons = refusals.refusal_ms, refusals.refusal_reasons
    phase.refusal_ms_by_reason = refusals.refusal_ms_by_reason
    phase.refused_checkouts = len(refusals.refusal_ms)
    return phase


def measured(stack: Stack, run) -> Phase:
    """Run a phase; note the cores each process used meanwhile (1.0 = one core flat out)."""
    before, generator, started = stack.cpu(), time.process_time(), time.monotonic()
    phase = asyncio.run(run)
    wall = time.monotonic() - started
    after = stack.cpu()
    phase.cores = {name: round((after[name] - before.get(name, 0)) / wall, 2) for name in after}
    phase.cores["generator"] = round((time.process_time() - generator) / wall, 2)
    return phase


def restart_web(stack: Stack, *, admission: bool) -> None:
    """gunicorn again with admission control on or off; the sandbox keeps running. With
    nginx in front, its cap on checkouts is admission control too: off, nginx runs with
    the cap lifted, so every phase pays the same proxy and only the refusing differs."""
    stack.stop_process("web")
    stack.env["ADMISSION_ENABLED"] = "true" if admission else "false"
    stack.start_web()
    if stack.front_port:
        stack.start_front(checkout_cap=None if admission else NO_CAP)


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
    parser.add_argument(
        "--nginx",
        action="store_true",
        help="buyers go through deploy/nginx/nginx.conf's nginx, as in compose",
    )
    parser.add_argument(
        "--refusal-cost",
        action="store_true",
        help=f"0.6x alone, then with {REFUSALS_PER_SECOND} refusals/s beside it",
    )
    args = parser.parse_args()
    if args.seconds <= WARM_UP_SECONDS or args.capacity_seconds <= 0:
        parser.error(f"--seconds must be above {WARM_UP_SECONDS}, --capacity-seconds above 0")
    env = {
        # Few accounts play many buyers here: the per-member limits are not under test.
        "CHECKOUT_MAX_OPEN_PER_MEMBER": "1000000",
        "CHECKOUT_RATE_PER_MINUTE": "1000000",
        "CHECKOUT_MAX_HELD_PER_PRODUCT": "1000000",
        # Of 256 threads; about 1.4 times the payments in flight at capacity here (25 a
        # second, 3.4 s each): more lets the process saturate and its refusals wait.
        # Any ADMISSION_* variable set when the bench starts wins over these.
        "ADMISSION_MAX_IN_FLIGHT": "120",
    }
    phases = []
    # One web process: its capacity is one core's, and the other core is left to the load
    # generator, MariaDB and the sandbox, so the generator does not eat what it measures.
    threads = 256
    if args.nginx:
        # As docker-compose runs web behind it: nginx's X-Request-Start and X-Forwarded-For
        # are ours; its cap on checkouts replaces the app's adaptive rate. The app's
        # in-flight cap then only keeps threads free for GETs and health, so the threads
        # must hold every confirm waiting on the PG: about 50 a second x up to 4 s each,
        # and checkouts stop at four fifths of the cap (256 threads, cap 240: 11 refusals
        # by the app at 4x, its slowest 92 ms).
        threads = 320
        env |= {"NUM_PROXIES": "1", "ADMISSION_TARGET_SECONDS": "0"}
        env["ADMISSION_MAX_IN_FLIGHT"] = "300"
    env |= {k: v for k, v in os.environ.items() if k.startswith("ADMISSION_")}
    extra_env = {**env, "ADMISSION_ENABLED": "false"}
    stack = Stack(web_workers=1, web_threads=threads, extra_env=extra_env)
    try:
        stack.create()
        seeded = stack.seed(members=500, products=1000)
        stack.start(worker=False)
        if args.nginx:
            stack.start_front(checkout_cap=NO_CAP)  # capacity: nothing in front refuses
        stack.sandbox_latency("confirm", *HIGH)
        print("capacity ...", flush=True)
        closed = measured(stack, closed_loop(stack, seeded, args.capacity_seconds))
        capacity = closed.completed / closed.seconds
        phases.append(closed.row(capacity))
        print(f"  {capacity:.1f} payments/s", flush=True)
        restart_web(stack, admission=True)
        for factor in (2, 4):
            print(f"{factor}x ...", flush=True)
            name, rate = f"{factor}x, admission on", factor * capacity
            phase = measured(stack, open_loop(stack, seeded, name, rate, args.seconds))
            phases.append(phase.row(capacity))
            print(f"  {phases[-1]}", flush=True)
        if args.compare:
            restart_web(stack, admission=False)
            print("2x, admission off ...", flush=True)
            phase = measured(
                stack, open_loop(stack, seeded, "2x, admission off", 2 * capacity, args.seconds)
            )
            phases.append(phase.row(capacity))
            print(f"  {phases[-1]}", flush=True)
        if args.refusal_cost:
            phases += refusal_cost(stack, seeded, capacity, args.seconds)
        broken = check_invariants(stack)
    finally:
        stack.stop()
    report(phases, broken, args, {k: v for k, v in env.items() if k.startswith("ADMISSION_")})


def refusal_cost(stack: Stack, seeded: dict, capacity: float, seconds: float) -> list[dict]:
    """0.6x capacity with nothing refused, then the same with refusals beside it."""
    # Our proxy's stamp is trusted (NUM_PROXIES); the payments themselves are never refused.
    stack.env |= {"NUM_PROXIES": "1", "ADMISSION_MAX_IN_FLIGHT": "250"}
    stack.env["ADMISSION_TARGET_SECONDS"] = "1000"
    restart_web(stack, admission=True)
    rows = []
    for name, run in (
        ("0.6x, no refusals", open_loop),
        (f"0.6x + {REFUSALS_PER_SECOND} refusals/s", with_refusals),
    ):
        print(f"{name} ...", flush=True)
        phase = measured(stack, run(stack, seeded, name, 0.6 * capacity, seconds))
        rows.append(phase.row(capacity))
        print(f"  {rows[-1]}", flush=True)
    return rows


def report(rows: list[dict], broken: list[str], args, admission: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "overload.json").write_text(json.dumps({"phases": rows, "broken": broken}, indent=2))
    lines = [
        f"# Overload: sync confirm, PG 2.0-3.5 s, {args.seconds:g} s per phase"
        + (", through nginx" if args.nginx else ""),
        "",
        f"Machine speed: {machine_speed_ms()} ms for bench/stack.py's reference loop.",
        "",
        "Admission settings beyond the defaults: "
        + ", ".join(f"{k}={v}" for k, v in sorted(admission.items())),
        "",
        "| phase | offered/s | completed/s | of capacity | refused checkouts | refused"
        " confirms | refusal p50 / p99 / max ms | without Retry-After | reasons | gave up"
        " | errors | refusal p99 ms by reason | generator lag p99 ms | cores used |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['offered_rate']:.1f} | {r['completed_rate']} | "
            f"{r['of_capacity']} | {r['refused_checkouts']} | {r['refused_confirms']} | "
            f"{r['refusal_p50_ms']} / {r['refusal_p99_ms']} / {r['refusal_max_ms']} | "
            f"{r['refusals_without_retry_after']} | {r['refusal_reasons'] or ''} | "
            f"{r['gave_up']} | {r['errors']} {r['error_kinds'] or ''} | "
            f"{r['refusal_p99_ms_by_reason'] or ''} | {r['generator_lag_p99_ms']} | "
            f"{', '.join(f'{k} {v}' for k, v in r['cores'].items())} |"
        )
    lines += ["", "Invariants afterwards: " + ("all held" if not broken else "; ".join(broken))]
    (RESULTS / "overload.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
