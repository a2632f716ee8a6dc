"""Real processes for tests: start them with the test run's settings, wait, stop or kill.

A process started here sees the same database, broker and cache namespace as the test
process, so what it does is visible to the test and to nothing else.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def test_database_url() -> str:
    """The database the tests run on (the test database, once created), as a URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 3306
    return f"mysql://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    cache = settings.CACHES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": test_database_url(),
        "CACHE_KEY_PREFIX": cache["KEY_PREFIX"],
        "PYTHONUNBUFFERED": "1",
    }
    if cache["BACKEND"].endswith("FileBasedCache"):
        env["CACHE_DIR"] = cache["LOCATION"]
    env.update(overrides)
    return env


class Process:
    """A child process whose combined output is kept in a file for assertions."""

    def __init__(self, args: list[str], **env_overrides: str):
        self.log = tempfile.NamedTemporaryFile(prefix="proc-", suffix=".log", delete=False)  # noqa: SIM115
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=child_env(**env_overrides),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a kill reaches its children too
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"process exited ({self.popen.returncode}) before {what}:\n"
                    f"{self.output()[-3000:]}"
                )
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}:\n{self.output()[-3000:]}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        if os.environ.get("KEEP_PROCESS_LOGS"):
            print(f"\n  kept log of {self.popen.args[:3]}: {self.log.name}")
        else:
            Path(self.log.name).unlink(missing_ok=True)


def celery_worker(queue: str, **env_overrides: str) -> Process:
    return Process(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--queues",
            queue,
            "--hostname",
            f"{queue}@%h",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        **env_overrides,
    )


def ready_celery_worker(queue: str, **env_overrides: str) -> Process:
    """A worker on its own queue, once it is ready; stopped again if it never gets there."""
    process = celery_worker(queue, **{"LOG_LEVEL": "INFO", **env_overrides})
    try:
        process.wait_for(lambda: "ready." in process.output(), timeout=60, what="worker ready")
    except AssertionError:
        process.stop()
        raise
    return process
