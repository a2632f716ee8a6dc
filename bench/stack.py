"""The service as production runs it, on this machine's MariaDB and Redis, for benchmarks.

A fresh database per run (dropped at the end), the PG sandbox, gunicorn (gthread) and a
Celery worker (threads pool) with production settings, plus what the report needs: CPU
seconds of every process involved (MariaDB included), gunicorn workers' RSS, and the peak
number of MariaDB connections sampled while a scenario runs.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import MySQLdb
import requests

from config.local_nginx import NGINX, local_nginx_command, local_nginx_conf

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}


def machine_speed_ms() -> float:
    """How fast this machine runs Python: ms of CPU for a fixed loop (best of 3).

    Reports print it so that runs on different machines can be compared: here it
    ranged from about 400 ms to about 2,200 ms on machines of the same kind.
    """
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.process_time() - started)
    return round(best * 1000)


class PySpy:
    """py-spy recording a process and its children (collapsed stacks, samples holding the
    GIL) for `seconds`, or until stop(). Needs `pip install 'py-spy==0.4.0'` (0.4.3 cannot
    find the Python version of this machine's interpreter and records nothing)."""

    def __init__(self, pid: int, output: Path, seconds: float | None = None):
        self.output, self.seconds = output, seconds
        self.errors = output.with_suffix(".log")
        duration = ["--duration", str(int(seconds))] if seconds else []
        with open(self.errors, "w") as errors:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--format",
                    "raw",
                    "--subprocesses",
                    "--nonblocking",
                    "--gil",
                    *duration,
                    "--output",
                    str(output),
                    "--pid",
                    str(pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )

    def stop(self) -> None:
        """Wait for the recording (interrupting an open-ended one); say so if it failed."""
        if self.seconds is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt
        self.process.wait(60)
        if not self.output.exists():
            said = self.errors.read_text().strip().splitlines() or ["no message"]
            print(f"  py-spy wrote no profile ({said[0]}); see {self.errors}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children(current)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def mariadb_pids() -> list[int]:
    found = subprocess.run(["/usr/bin/pidof", "mariadbd", "mysqld"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


class ConnectionSampler:
    """Peak Threads_connected while running (minus what was there before, this included)."""

    def __init__(self):
        self.conn = MySQLdb.connect(**MYSQL)
        self.baseline = self._now()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _now(self) -> int:
        cursor = self.conn.cursor()
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        return int(cursor.fetchone()[1])

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._now())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.conn.close()

    @property
    def used(self) -> int:
        return self.peak - self.baseline


class Stack:
    def __init__(
        self,
        *,
        web_workers: int = 2,
        web_threads: int = 256,
        worker_threads: int = 256,
        settings_module: str = "config.settings.production",
        extra_env: dict | None = None,
    ):
        self.db = f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.work = Path(tempfile.mkdtemp(prefix=f"{self.db}-"))
        self.web_port, self.sandbox_port = free_port(), free_port()
        self.base = self.web_base = f"http://127.0.0.1:{self.web_port}"
        self.front_port = 0
        self.sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.web_workers, self.web_threads = web_workers, web_threads
        self.worker_threads = worker_threads
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"mysql://root@127.0.0.1:3306/{self.db}",
            "REDIS_URL": "redis://127.0.0.1:6379/13",
            "CELERY_QUEUE": self.queue,
            "CACHE_KEY_PREFIX": self.db,
            "DB_CONN_MAX_AGE": "0",
            "DB_MAX_CONNECTIONS": "40",
            "PG_SANDBOX_URL": self.sandbox,
            "TOSS_API_BASE": f"{self.sandbox}/toss",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PROMETHEUS_MULTIPROC_DIR": str(self.work / "metrics"),
            "PYTHONPATH": str(ROOT),
            # The shop's iterations confirm within seconds; recovery stays out of the way.
            "RECOVERY_INTERVAL_SECONDS": "3600",
            **(extra_env or {}),
        }
        self.procs: dict[str, subprocess.Popen] = {}

    # --- lifecycle --------------------------------------------------------------------

    def create(self) -> None:
        conn = MySQLdb.connect(**MYSQL)
        conn.cursor().execute(
            f"CREATE DATABASE `{self.db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        conn.close()
        self.manage("migrate", "--noinput", "-v0")

    def manage(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def seed(self, *, members: int, products: int) -> dict:
        """Members with tokens, a hot product and `products` others, all with ample stock."""
        script = f"""
import json
from rest_framework.authtoken.models import Token
from members.models import Member
from products.models import Product, Seller
seller = Seller.objects.create(name="bench")
Product.objects.bulk_create(
    [Product(seller=seller, name=f"p{{i}}", price=1000, stock=10**9) for i in range({products + 1})]
)
members = Member.objects.bulk_create(
    [Member(email=f"b{{i}}@bench.test", name="b", password="!") for i in range({members})]
)
tokens = [Token.objects.create(user=m).key for m in Member.objects.all()]
ids = list(Product.objects.order_by("id").values_list("id", flat=True))
print(json.dumps({{"tokens": tokens, "hot": ids[0], "products": ids[1:]}}))
"""
        return json.loads(self.manage("shell", "-c", script).strip().splitlines()[-1])

    def start(self, *, worker: bool = True) -> None:
        (self.work / "metrics").mkdir(exist_ok=True)
        self._spawn(
            "sandbox",
            [sys.executable, "manage.py", "run_pg_sandbox", "--port", str(self.sandbox_port)],
            {"LOG_LEVEL": "WARNING"},
        )
        self.start_web()
        if worker:
            self.start_worker("worker")
        wait_until(lambda: requests.get(f"{self.sandbox}/sandbox/health", timeout=1).ok, "sandbox")

    def start_web(self) -> None:
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--worker-class",
                "gthread",
                "--workers",
                str(self.web_workers),
                "--threads",
                str(self.web_threads),
                "--backlog",
                "4096",
                "config.wsgi",
            ],
        )
        wait_until(lambda: requests.get(f"{self.web_base}/healthz", timeout=1).ok, "gunicorn")

    def start_front(self, checkout_cap: int | None = None) -> None:
        """nginx in front of web, with compose's deploy/nginx/nginx.conf (its cap on
        checkouts in flight replaced by `checkout_cap` if given): self.base is nginx from
        now on (self.web_base is gunicorn itself)."""
        if not shutil.which(NGINX):
            raise RuntimeError(f"no {NGINX} here: apt-get install nginx")
        self.stop_process("nginx")
        self.front_port = self.front_port or free_port()
        conf = local_nginx_conf(
            listen_port=self.front_port,
            upstream=self.web_base,
            work=self.work,
            checkout_cap=checkout_cap,
        )
        (self.work / "nginx.conf").write_text(conf)
        self._spawn("nginx", local_nginx_command(self.work))
        self.base = self.front_base = f"http://127.0.0.1:{self.front_port}"
        wait_until(lambda: requests.get(f"{self.base}/healthz", timeout=1).ok, "nginx")

    def start_worker(self, name: str, threads: int | None = None) -> None:
        self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(threads or self.worker_threads),
                "--queues",
                self.queue,
                "--hostname",
                f"{name}-{self.queue}@%h",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
        )
        log = self.work / f"{name}.log"
        wait_until(lambda: "ready." in log.read_text(errors="replace"), f"{name} ready")

    def start_beat(self) -> None:
        """Celery beat with this stack's settings and a schedule file of its own."""
        self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--schedule",
                str(self.work / "beat-schedule"),
            ],
        )

    def _spawn(self, name: str, args: list[str], env: dict | None = None) -> None:
        log = (self.work / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_process(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_process(name)
        try:
            conn = MySQLdb.connect(**MYSQL)
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{self.db}`")
            conn.close()
        except MySQLdb.Error:
            pass

    # --- measurements -----------------------------------------------------------------

    def pids(self) -> list[int]:
        found = []
        for proc in self.procs.values():
            found += tree(proc.pid)
        return found + mariadb_pids()

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each process group (web, worker..., sandbox) and MariaDB."""
        spent = {name: cpu_seconds(tree(proc.pid)) for name, proc in self.procs.items()}
        spent["mariadb"] = cpu_seconds(mariadb_pids())
        return spent

    def web_rss_mb(self) -> float:
        web = self.procs.get("web")
        return max((rss_mb(pid) for pid in children(web.pid)), default=0.0) if web else 0.0

    def sandbox_latency(self, operation: str, low_ms: int, high_ms: int) -> None:
        requests.delete(f"{self.sandbox}/sandbox/faults", timeout=5)
        if high_ms:
            rule = {"gateway": "toss", "operation": operation, "latencyMs": [low_ms, high_ms]}
            requests.put(f"{self.sandbox}/sandbox/faults", json=rule, timeout=5).raise_for_status()

    def sql(self, statement: str, args=None) -> list[tuple]:
        conn = MySQLdb.connect(db=self.db, **MYSQL)
        try:
            cursor = conn.cursor()
            cursor.execute(statement, args)
            conn.commit()
            return list(cursor.fetchall())
        finally:
            conn.close()
