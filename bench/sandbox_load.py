"""Load on the PG sandbox: how fast it answers, and how many slow answers it can hold.

    make bench-sandbox          (or: .venv/bin/python bench/sandbox_load.py [--quick])

1. Throughput at 0 latency: authorize + confirm + lookup iterations from 64 concurrent
   clients; requests per second and sandbox CPU milliseconds per request.
2. Held requests: N concurrent lookups, each held 2.0-3.5 s by a latency fault, for
   N = 500, 1000, 2000, 4000; how many complete, in what wall time, with how many OS
   threads and how much CPU in the sandbox.

Writes bench/results/sandbox.md and bench/results/sandbox.json. The load generator runs
on the same two cores as the sandbox, so absolute numbers are modest; the claim is the
shape: held requests cost neither threads nor CPU.
"""

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "test_sk_bench"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()}
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "LOG_LEVEL": "WARNING",
        }
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_pg_sandbox",
                "--port",
                str(self.port),
                "--toss-secret-key",
                SECRET,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def status(self, name: str) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
        raise KeyError(name)

    def stop(self):
        self.popen.terminate()
        self.popen.wait(10)


async def wait_healthy(session, base):
    for _ in range(300):
        try:
            async with session.get(f"{base}/sandbox/health") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the sandbox did not start")


async def throughput(session, sandbox: SandboxProcess, iterations: int, concurrency: int) -> dict:
    base = sandbox.base
    queue = asyncio.Queue()
    for _ in range(iterations):
        queue.put_nowait(None)
    errors = 0

    async def client():
        nonlocal errors
        while not queue.empty():
            queue.get_nowait()
            order_id = f"bench-{uuid.uuid4().hex[:20]}"
            async with session.post(
                f"{base}/sandbox/toss/authorize", json={"orderId": order_id, "amount": 1000}
            ) as r:
                key = (await r.json())["paymentKey"]
            body = {"paymentKey": key, "orderId": order_id, "amount": 1000}
            async with session.post(
                f"{base}/toss/v1/payments/confirm",
                json=body,
                headers={**AUTH, "Idempotency-Key": order_id},
            ) as r:
                errors += r.status != 200
                await r.read()
            async with session.get(f"{base}/toss/v1/payments/orders/{order_id}", headers=AUTH) as r:
                errors += r.status != 200
                await r.read()

    cpu0, t0 = sandbox.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, sandbox.cpu_seconds() - cpu0
    requests_made = iterations * 3
    return {
        "iterations": iterations,
        "concurrency": concurrency,
        "requests": requests_made,
        "errors": errors,
        "wallSeconds": round(wall, 2),
        "requestsPerSecond": round(requests_made / wall),
        "sandboxCpuMsPerRequest": round(cpu * 1000 / requests_made, 3),
    }


async def held(session, sandbox: SandboxProcess, count: int) -> dict:
    base = sandbox.base
    async with session.post(
        f"{base}/sandbox/toss/authorize", json={"orderId": "bench-held-1", "amount": 1000}
    ) as r:
        await r.read()
    async with session.delete(f"{base}/sandbox/faults") as r:
        await r.read()
    async with session.put(
        f"{base}/sandbox/faults",
        json={"gateway": "toss", "operation": "lookup", "latencyMs": [2000, 3500]},
    ) as r:
        assert r.status == 201
    peak_threads = sandbox.status("Threads")
    done = asyncio.Event()

    async def sample():
        nonlocal peak_threads
        while not done.is_set():
            peak_threads = max(peak_threads, sandbox.status("Threads"))
            await asyncio.sleep(0.2)

    async def one() -> bool:
        try:
            async with session.get(
                f"{base}/toss/v1/payments/orders/bench-held-1", headers=AUTH
            ) as r:
                await r.read()
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    sampler = asyncio.create_task(sample())
    cpu0, t0 = sandbox.cpu_seconds(), time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(count)))
    wall, cpu = time.perf_counter() - t0, sandbox.cpu_seconds() - cpu0
    done.set()
    await sampler
    async with session.delete(f"{base}/sandbox/faults") as r:
        await r.read()
    return {
        "held": count,
        "completed": sum(results),
        "failed": count - sum(results),
        "wallSeconds": round(wall, 2),
        "sandboxThreadsPeak": peak_threads,
        "sandboxCpuSeconds": round(cpu, 2),
        "sandboxRssMb": round(sandbox.status("VmRSS") / 1024, 1),
    }


async def main(quick: bool) -> dict:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the sandbox inherits it
    sandbox = SandboxProcess()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await wait_healthy(session, sandbox.base)
            print("throughput at 0 latency ...", flush=True)
            fast = await throughput(session, sandbox, 500 if quick else 3000, 64)
            print(f"  {fast}", flush=True)
            levels = []
            for count in (500, 1000) if quick else (500, 1000, 2000, 4000):
                print(f"holding {count} requests for 2.0-3.5 s ...", flush=True)
                levels.append(await held(session, sandbox, count))
                print(f"  {levels[-1]}", flush=True)
    finally:
        sandbox.stop()
    return {"throughput": fast, "held": levels, "cpus": os.cpu_count(), "fdLimit": hard}


def report(result: dict) -> str:
    fast = result["throughput"]
    lines = [
        "# PG sandbox load",
        "",
        f"Machine: {result['cpus']} cores; load generator on the same machine.",
        "",
        "| 0-latency throughput | value |",
        "| --- | --- |",
        f"| requests (authorize + confirm + lookup) | {fast['requests']} "
        f"({fast['errors']} errors) |",
        f"| requests per second | {fast['requestsPerSecond']} |",
        f"| sandbox CPU per request | {fast['sandboxCpuMsPerRequest']} ms |",
        "",
        "| held 2.0-3.5 s | completed | failed | wall s | sandbox threads (peak) "
        "| sandbox CPU s | RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for level in result["held"]:
        lines.append(
            f"| {level['held']} | {level['completed']} | {level['failed']} "
            f"| {level['wallSeconds']} | {level['sandboxThreadsPeak']} "
            f"| {level['sandboxCpuSeconds']} | {level['sandboxRssMb']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    result = asyncio.run(main(parser.parse_args().quick))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sandbox.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "sandbox.md").write_text(report(result))
    print(report(result))
