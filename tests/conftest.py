import copy
import io
import json
import logging
import os

import pytest
import requests
import structlog
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from tests.factories import MemberFactory
from tests.sandbox import TossSandbox, start_sandbox


def pytest_sessionstart(session):
    # CI states which database it meant to test on; a silent fallback to SQLite would
    # make a green MariaDB run meaningless.
    expected = os.environ.get("EXPECT_DB_VENDOR")
    if expected:
        from django.db import connection

        if connection.vendor != expected:
            pytest.exit(f"EXPECT_DB_VENDOR={expected} but the database is {connection.vendor}", 2)


def pytest_sessionfinish(session, exitstatus):
    # FAIL_ON_SKIP=1 (the MariaDB run in CI): a skipped test is a failed run.
    if os.environ.get("FAIL_ON_SKIP") and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
        if skipped:
            reporter.write_line(f"FAIL_ON_SKIP: {skipped} test(s) skipped", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def fresh_gateway_health():
    """Each test starts with no gateway DOWN in this process's memory (its rows roll back)."""
    from payments.services.pg_health import health_forget

    health_forget()
    yield
    health_forget()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def member(db):
    return MemberFactory()


@pytest.fixture
def member_client(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(member)
    return client


@pytest.fixture(scope="session")
def pg_sandbox_process():
    """One sandbox process for the app's tests, accepting the app's own Toss keys."""
    toss = django_settings.PAYMENT_GATEWAYS["toss"]
    process, base = start_sandbox(secrets=(toss["SECRET_KEY"],), client_keys=(toss["CLIENT_KEY"],))
    yield process, base
    process.stop()


@pytest.fixture
def sandbox(pg_sandbox_process, settings) -> TossSandbox:
    """A freshly reset sandbox, and the app's Toss gateway pointed at it."""
    process, base = pg_sandbox_process
    assert requests.post(f"{base}/sandbox/reset", timeout=5).ok
    gateways = copy.deepcopy(settings.PAYMENT_GATEWAYS)
    gateways["toss"].update(API_BASE=f"{base}/toss", READ_TIMEOUT=2.0, CONNECT_TIMEOUT=1.0)
    settings.PAYMENT_GATEWAYS = gateways
    return TossSandbox(base, process, secret=gateways["toss"]["SECRET_KEY"])


class CapturedLog:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def __call__(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines()]


@pytest.fixture
def json_log():
    """Capture what the production JSON formatter prints."""
    options = {k: v for k, v in django_settings.LOGGING["formatters"]["json"].items() if k != "()"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(**options))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield CapturedLog(stream)
    root.removeHandler(handler)
    root.setLevel(old_level)
