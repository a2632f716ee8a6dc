"""Checkout + confirm under PG latency, sync and async, open loop: `make bench`.

    .venv/bin/python bench/confirm_load.py [--rate 60] [--seconds 10] [--quick] [--profile]
        [--only sync-low,async-high,...]

Each iteration is what a shop does for one order: checkout (one product), the buyer's
authorisation in the PG window (the sandbox's authorize call), confirm; in async mode the
confirm answers 202 and the shop waits for the outcome with `GET /payments/{orderId}`
and `Prefer: wait=10`. Iterations start at a fixed arrival rate whatever happens to the
ones before (open loop); one that cannot start because MAX_IN_FLIGHT are running is
dropped. The PG sandbox delays every Toss confirm by the scenario's latency.

Scenarios (one stack per scenario, on this machine's MariaDB and Redis):
  sync-low / async-low     PG latency 0.1-0.3 s
  sync-high / async-high   PG latency 2.0-3.5 s
  hot / spread             every buyer on one product vs 1,000 products (sync, low latency)
  naive-hot / naive-spread the naive baseline (bench/naive.py): the PG call inside a
                           transaction holding the product's row lock

Reported per scenario: achieved rate, confirm p50/p95/p99, end-to-end p95, errors,
dropped, peak MariaDB connections, CPU seconds per iteration (web, worker, sandbox and
MariaDB; the load generator is not counted) and the largest gunicorn worker RSS.
Writes bench/results/confirm.md and .json.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ConnectionSampler, PySpy, Stack, machine_speed_ms

RESULTS = Path(__file__).resolve().parent / "results"
MAX_IN_FLIGHT = 3000
LOW, HIGH = (100, 300), (2000, 3500)


@dataclass
class Scenario:
    name: str
    mode: str = "sync"  # sync | async | naive
    latency_ms: tuple[int, int] = LOW
    hot: bool = False
    what: str = ""


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("sync-low", "sync", LOW, what="sync confirm, PG 0.1-0.3 s"),
        Scenario("async-low", "async", LOW, what="async confirm, PG 0.1-0.3 s"),
        Scenario("sync-high", "sync", HIGH, what="sync confirm, PG 2.0-3.5 s"),
        Scenario("async-high", "async", HIGH, what="async confirm, PG 2.0-3.5 s"),
        Scenario("hot", "sync", LOW, hot=True, what="one hot product, sync, PG 0.1-0.3 s"),
        Scenario("spread", "sync", LOW, what="1,000 products, sync, PG 0.1-0.3 s"),
        Scenario(
            "naive-hot", "naive", LOW, hot=True, what="naive: PG call under the row lock, hot"
        ),
        Scenario("naive-spread", "naive", LOW, what="naive: PG call under the row lock, 1,000"),
    ]
}


@dataclass
class Result:
    scenario: str
    what: str
    offered_rate: float
    seconds: float
    started: int = 0
    ok: int = 0
    errors: int = 0
    dropped: int = 0
    confirm_ms: list[float] = field(default_factory=list, repr=False)
    end_to_end_ms: list[float] = field(default_factory=list, repr=False)
    error_kinds: dict[str, int] = field(default_factory=dict)
    peak_db_connections: int = 0
    cpu_seconds: float = 0.0
    cpu_by_process: dict[str, float] = field(default_factory=dict)
    web_rss_mb: float = 0.0

    def summary(self) -> dict:
        row = {k: v for k, v in asdict(self).items() if k not in ("confirm_ms", "end_to_end_ms")}
        row["achieved_rate"] = round(self.ok / self.seconds, 1)
        row["confirm_p50_ms"] = pct(self.confirm_ms, 50)
        row["confirm_p95_ms"] = pct(self.confirm_ms, 95)
        row["confirm_p99_ms"] = pct(self.confirm_ms, 99)
        row["end_to_end_p95_ms"] = pct(self.end_to_end_ms, 95)
        row["cpu_ms_per_iteration"] = round(1000 * self.cpu_seconds / max(self.ok, 1), 1)
        row["cpu_seconds"] = round(self.cpu_seconds, 1)
        row["web_rss_mb"] = round(self.web_rss_mb, 1)
        return row


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))], 1)


class Shop:
    def __init__(self, stack: Stack, seeded: dict, scenario: Scenario, result: Result):
        self.stack, self.seeded, self.scenario, self.result = stack, seeded, scenario, result
        self.session: aiohttp.ClientSession | None = None

    async def iteration(self, i: int) -> None:
        token = self.seeded["tokens"][i % len(self.seeded["tokens"])]
        product = (
            self.seeded["hot"] if self.scenario.hot else random.choice(self.seeded["products"])
        )
        auth = {"Authorization": f"Token {token}"}
        began = time.perf_counter()
        try:
            body = {"gateway": "toss", "items": [{"productId": product, "quantity": 1}]}
            answer = await self._json("POST", "/api/v1/payments/checkout", auth, body, 201)
            window = {"orderId": answer["orderId"], "amount": answer["amount"]}
            async with self.session.post(
                f"{self.stack.sandbox}/sandbox/toss/authorize", json=window
            ) as response:
                payment_key = (await response.json())["paymentKey"]
            confirm = {**window, "paymentKey": payment_key}
            path = (
                "/bench/naive-confirm"
                if self.scenario.mode == "naive"
                else ("/api/v1/payments/confirm")
            )
            headers = {**auth, "Prefer": "respond-async"} if self.scenario.mode == "async" else auth
            sent = time.perf_counter()
            status = 202 if self.scenario.mode == "async" else 200
            outcome = await self._json("POST", path, headers, confirm, status)
            self.result.confirm_ms.append((time.perf_counter() - sent) * 1000)
            while outcome["status"] in ("EXECUTING", "UNKNOWN"):
                outcome = await self._json(
                    "GET",
                    f"/api/v1/payments/{answer['orderId']}",
                    {**auth, "Prefer": "wait=10"},
                    None,
                    200,
                )
            if outcome["status"] != "SUCCESS":
                raise Unexpected(f"status {outcome['status']}")
            self.result.end_to_end_ms.append((time.perf_counter() - began) * 1000)
            self.result.ok += 1
        except (TimeoutError, Unexpected, aiohttp.ClientError, KeyError) as exc:
            kind = str(exc)[:60] if isinstance(exc, Unexpected) else type(exc).__name__
            self.result.errors += 1
            self.result.error_kinds[kind] = self.result.error_kinds.get(kind, 0) + 1

    async def _json(self, method, path, headers, body, expect) -> dict:
        async with self.session.request(
            method, f"{self.stack.base}{path}", headers=headers, json=body
        ) as response:
            if response.status != expect:
                text = (await response.text())[:80]
                raise Unexpected(f"{method} {path.split('/')[-1][:12]} {response.status} {text}")
            return await response.json()


class Unexpected(Exception):
    pass


async def offer(shop: Shop, rate: float, seconds: float) -> None:
    """Start iterations at `rate` per second for `seconds`, then wait for the stragglers."""
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    # A shop gives up on a call after 30 s (ten times the highest PG latency here).
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        shop.session = session
        running: set[asyncio.Task] = set()
        start = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(running) >= MAX_IN_FLIGHT:
                shop.result.dropped += 1
                continue
            shop.result.started += 1
            task = asyncio.create_task(shop.iteration(i))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.wait(running, timeout=45)


def profile(stack: Stack, scenario: Scenario, seconds: float) -> list:
    """py-spy on web (and worker) for the measured run: collapsed stacks in results/."""
    return [
        PySpy(stack.procs[name].pid, RESULTS / f"profile-{scenario.name}-{name}.txt", seconds)
        for name in ("web", "worker")
        if name in stack.procs
    ]


def run(
    scenario: Scenario, rate: float, seconds: float, warmup: float, with_profile: bool = False
) -> dict:
    extra = {}
    settings_module = "bench.naive_settings" if scenario.mode == "naive" else None
    stack = Stack(
        **({"settings_module": settings_module} if settings_module else {}), extra_env=extra
    )
    try:
        stack.create()
        seeded = stack.seed(members=200, products=1000)
        stack.start(worker=scenario.mode == "async")
        stack.sandbox_latency("confirm", *scenario.latency_ms)
        # Warm up: imports, connection pools, the first queries of every thread.
        warm = Result(scenario.name, scenario.what, rate, warmup)
        asyncio.run(offer(Shop(stack, seeded, scenario, warm), min(rate, 50), warmup))
        result = Result(scenario.name, scenario.what, rate, seconds)
        RESULTS.mkdir(exist_ok=True)
        spies = profile(stack, scenario, seconds) if with_profile else []
        cpu_before = stack.cpu()
        with ConnectionSampler() as sampler:
            asyncio.run(offer(Shop(stack, seeded, scenario, result), rate, seconds))
        spent = stack.cpu()
        result.cpu_by_process = {
            name: round(spent[name] - cpu_before.get(name, 0.0), 2) for name in spent
        }
        result.cpu_seconds = sum(result.cpu_by_process.values())
        for spy in spies:
            spy.stop()
        result.peak_db_connections = sampler.used
        result.web_rss_mb = stack.web_rss_mb()
        row = result.summary()
        print(
            f"  {scenario.name:13} {row['achieved_rate']:6.1f}/s ok {result.ok} "
            f"errors {result.errors} dropped {result.dropped} "
            f"confirm p50/p95/p99 {row['confirm_p50_ms']}/{row['confirm_p95_ms']}/"
            f"{row['confirm_p99_ms']} ms e2e p95 {row['end_to_end_p95_ms']} ms "
            f"db conns {result.peak_db_connections} cpu {row['cpu_ms_per_iteration']} ms/it "
            f"rss {row['web_rss_mb']} MB cpu s {result.cpu_by_process} {result.error_kinds or ''}",
            flush=True,
        )
        return row
    finally:
        stack.stop()


def report(rows: list[dict], args) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "confirm.json").write_text(json.dumps(rows, indent=2))
    lines = [
        f"# Confirm under PG latency ({args.rate:g} iterations/s offered for {args.seconds:g} s)",
        "",
        f"Machine speed: {machine_speed_ms()} ms for bench/stack.py's reference loop.",
        "",
        "| scenario | achieved/s | errors | dropped | confirm p50 / p95 / p99 ms "
        "| end-to-end p95 ms | peak DB conns | CPU ms/iteration | web RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['achieved_rate']} | {r['errors']} | {r['dropped']} | "
            f"{r['confirm_p50_ms']} / {r['confirm_p95_ms']} / {r['confirm_p99_ms']} | "
            f"{r['end_to_end_p95_ms']} | {r['peak_db_connections']} | "
            f"{r['cpu_ms_per_iteration']} | {r['web_rss_mb']} |"
        )
    (RESULTS / "confirm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=60)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=4)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="5 s per scenario at 50/s")
    parser.add_argument("--profile", action="store_true", help="py-spy web and worker")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.warmup = 50, 5, 2
    names = args.only.split(",")
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if not (args.rate > 0 and args.seconds > 0 and args.warmup >= 0):
        parser.error("--rate and --seconds must be above 0, --warmup at least 0")
    rows = []
    for name in names:
        print(f"scenario {name} ...", flush=True)
        rows.append(run(SCENARIOS[name], args.rate, args.seconds, args.warmup, args.profile))
    report(rows, args)


if __name__ == "__main__":
    main()
