"""The whole service as real processes for crash tests: gunicorn, a Celery worker, beat."""

import signal
import tempfile
import uuid
from pathlib import Path

import requests

from tests.processes import VENV_BIN, Process
from tests.sandbox import free_port

# Short intervals so a crash test converges in seconds; the logic is the production one.
TIMINGS = {
    "RECOVERY_INTERVAL_SECONDS": "2",
    "COMPENSATION_INTERVAL_SECONDS": "2",
    "EXPIRY_INTERVAL_SECONDS": "30",
    "RECOVERY_FIRST_DELAY_SECONDS": "1",
    "RECOVERY_BACKOFF_SECONDS": "1,1,1,1,1,1,1,1,1,1,1,1",
    "RECOVERY_STALE_EXECUTING_SECONDS": "3",
    "RECOVERY_LEASE_SECONDS": "4",
    "COMPENSATION_STALE_SECONDS": "2",
    "CONFIRM_RELAY_SECONDS": "2",
    "CONFIRM_RELAY_INTERVAL_SECONDS": "2",
    "CONFIRM_BUDGET_SECONDS": "2",
    "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
    "OUTBOX_LEASE_SECONDS": "4",
    # The deposit watch looks at every virtual account each second (not only near its
    # due date), so deposits and expiries settle within the run.
    "DEPOSIT_WATCH_INTERVAL_SECONDS": "1",
    "DEPOSIT_WATCH_AHEAD_SECONDS": "100000000",
    "DEPOSIT_WATCH_RETRY_SECONDS": "1",
    "TOSS_READ_TIMEOUT": "1.5",
    "TOSS_CONNECT_TIMEOUT": "1",
    "NICEPAY_READ_TIMEOUT": "1.5",
    "NICEPAY_CONNECT_TIMEOUT": "1",
    "KAKAOPAY_READ_TIMEOUT": "1.5",
    "KAKAOPAY_CONNECT_TIMEOUT": "1",
}


class Stack:
    def __init__(self, sandbox_base: str, **env: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **TIMINGS,
            "PG_SANDBOX_URL": sandbox_base,  # every PG's API base hangs off it
            "TOSS_API_BASE": f"{sandbox_base}/toss",
            "CELERY_QUEUE": f"crash-{uuid.uuid4().hex[:10]}",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.schedule = Path(tempfile.mkdtemp(prefix="beat-")) / "schedule"
        self.web = self.worker = self.beat = None
        self.kills = {"web": 0, "worker": 0}

    def start_web(self) -> None:
        self.web = Process(
            [
                str(VENV_BIN / "gunicorn"),
                "--config",
                "config/gunicorn.py",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--timeout",
                "30",
                "--graceful-timeout",
                "1",
            ],
            **self.env,
        )

        def up() -> bool:
            try:
                return requests.get(f"{self.base}/healthz", timeout=1).ok
            except requests.RequestException:
                return False

        self.web.wait_for(up, timeout=60, what="gunicorn to answer")

    def start_worker(self) -> None:
        self.worker = Process(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "--hostname",
                f"crash-{uuid.uuid4().hex[:6]}@%h",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            **self.env,
        )

    def start_beat(self) -> None:
        self.beat = Process(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.schedule),
            ],
            **self.env,
        )

    def start(self) -> None:
        self.start_web()
        self.start_worker()
        self.start_beat()

    def kill(self, name: str) -> None:
        """kill -9 the process group (gunicorn's or celery's workers die with it), restart."""
        getattr(self, name).stop(signal.SIGKILL)
        self.kills[name] += 1
        (self.start_web if name == "web" else self.start_worker)()

    def stop(self) -> None:
        for process in (self.web, self.worker, self.beat):
            if process is not None:
                process.stop()
