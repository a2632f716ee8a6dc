import json
import uuid

import pytest
import structlog

from config.celery_app import app
from config.log_processors import REDACTED, redact_secrets
from tests.processes import VENV_BIN, Process, ready_celery_worker


def test_secret_keys_and_values_are_redacted():
    event = redact_secrets(
        None,
        "info",
        {
            "event": "pg call with Basic dGVzdF9za19hYmM6 failed",
            "headers": {"Authorization": "Basic dGVzdF9za19hYmM6", "Accept": "application/json"},
            "secretKey": "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R",
            "body": {"card": {"number": "4330123412341234"}, "orderId": "order-123456"},
            "note": "key test_sk_abc123 and card 4330 1234 1234 1234",
            "password": "hunter2hunter2",
            "request_id": "abc",
        },
    )

    assert event["event"] == f"pg call with Basic {REDACTED} failed"
    assert event["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert event["secretKey"] == REDACTED
    assert event["body"] == {"card": {"number": REDACTED}, "orderId": "order-123456"}
    assert event["note"] == f"key {REDACTED} and card {REDACTED}"
    assert event["password"] == REDACTED
    assert event["request_id"] == "abc"


def test_masked_card_numbers_and_ordinary_values_pass():
    event = redact_secrets(
        None,
        "info",
        {"event": "ok", "card": {"maskedNumber": "43301234****123*"}, "amount": 15000},
    )

    assert event["card"] == {"maskedNumber": "43301234****123*"}
    assert event["amount"] == 15000


@pytest.mark.django_db
def test_request_lines_are_json_with_the_callers_request_id(api_client, json_log):
    api_client.get("/healthz", HTTP_X_REQUEST_ID="shop-req-42")

    lines = [line for line in json_log() if line.get("request_id") == "shop-req-42"]
    assert [line["event"] for line in lines] == ["request_finished"]  # the start is DEBUG
    assert lines[0]["code"] == 200 and "request" in lines[0]
    assert all(line["timestamp"].endswith("Z") for line in lines)


@pytest.mark.django_db
def test_a_request_line_names_the_real_address_not_a_forged_header(api_client, json_log):
    api_client.get(
        "/healthz",
        HTTP_X_REQUEST_ID="forged-ip-1",
        HTTP_X_FORWARDED_FOR="203.0.113.66",
        REMOTE_ADDR="10.20.30.40",
    )

    (line,) = [line for line in json_log() if line.get("request_id") == "forged-ip-1"]
    assert line["ip"] == "10.20.30.40"


def test_structlog_lines_are_redacted_in_json(json_log):
    structlog.get_logger("payments.test").info(
        "pg_call", headers={"Authorization": "Basic abcdefgh12345678"}, orderId="o-1"
    )

    (line,) = [line for line in json_log() if line["event"] == "pg_call"]
    assert line["headers"] == {"Authorization": REDACTED}
    assert line["orderId"] == "o-1"


@pytest.mark.django_db
def test_an_exception_line_carries_the_traceback_but_never_its_locals(json_log):
    """Locals would print what a frame held (a card number, a member's token) and run
    code to do it: a QuerySet's repr queries the database, from inside the logging lock.
    Under overload that query waited for a connection slot held by threads that waited
    for the logging lock, and the whole web process stopped (bench/overload.py)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from members.models import Member

    def fails():
        members = Member.objects.filter(email="nobody@example.com")  # noqa: F841
        token = "tok-4330123412341234"  # noqa: F841
        raise ValueError("boom")

    with CaptureQueriesContext(connection) as queries:
        try:
            fails()
        except ValueError:
            structlog.get_logger("tests").exception("failed")

    line = next(line for line in json_log() if line["event"] == "failed")
    frames = line["exception"][0]["frames"]
    assert frames[-1]["name"] == "fails" and line["exception"][0]["exc_value"] == "boom"
    assert all("locals" not in frame for frame in frames)
    assert "tok-4330" not in json.dumps(line) and len(queries) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_periodic_tasks_that_did_nothing_print_nothing(tmp_path):
    """`make run`'s terminal: beat sends a scan every second here; neither beat nor the
    worker prints a line for it, while TASK_LOG_LEVEL=INFO still shows Celery's lines."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {"CELERY_QUEUE": queue, "LOG_LEVEL": "INFO", "OUTBOX_RELAY_INTERVAL_SECONDS": "1"}
    worker = ready_celery_worker(queue, **env)

    def beat(name, **more):
        schedule = str(tmp_path / name)
        return Process(
            [str(VENV_BIN / "celery"), "-A", "config", "beat", "-s", schedule], **env, **more
        )

    quiet, loud = beat("quiet"), beat("loud", TASK_LOG_LEVEL="INFO")
    try:
        loud.wait_for(
            lambda: loud.output().count("Sending due task payments-outbox-relay") >= 3,
            timeout=60,
            what="beat to send three scans",
        )
        probe = uuid.uuid4().hex
        app.send_task("config.tasks.celery_heartbeat", args=[probe], queue=queue)
        worker.wait_for(lambda: probe in worker.output(), timeout=30, what="the heartbeat")
        beat_said, worker_said = quiet.output(), worker.output()
    finally:
        for process in (quiet, loud, worker):
            process.stop()
    for line in ("Sending due task", "task_enqueued"):
        assert line not in beat_said, beat_said[-2000:]
    for line in ("outbox_scan[", "task_started", "succeeded in"):
        assert line not in worker_said, worker_said[-2000:]
