"""Log lines of a real payment: JSON with the payment's ids, one per PG call, no secret.

The redaction processor has its own unit tests (tests/config/test_logging.py); these run
the real flows at DEBUG, where every library logs the most, and search everything printed.
"""

import base64
import json
import logging
import re
import uuid

import pytest
import structlog
from django.conf import settings

from config.celery_app import app
from payments.models import WebhookEvent
from tests.factories import ProductFactory
from tests.payments.helpers import checkout, confirm, unknown_payment
from tests.processes import ready_celery_worker

PAN = re.compile(r"\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}\b")


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


@pytest.fixture
def debug_log(json_log):
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    return json_log


def secrets_of(settings) -> list[str]:
    found = []
    for config in settings.PAYMENT_GATEWAYS.values():
        for name in ("SECRET_KEY", "CLIENT_SECRET"):
            if config.get(name):
                found.append(config[name])
                found.append(base64.b64encode(f"{config[name]}:".encode()).decode())
    return found


@pytest.mark.django_db
def test_a_payment_logs_its_ids_on_every_pg_call_and_no_secret(
    settings, member_client, sandbox, product, debug_log
):
    answer = checkout(member_client, [(product.id, 1)]).json()
    key = sandbox.authorize(answer["orderId"], 5000)
    response = confirm(member_client, answer["orderId"], key, 5000)
    assert response.status_code == 200
    # One more with a lost answer: a retry, an UNKNOWN, and the warning lines that go with it.
    # The sandbox holds longer than the 2 s read timeout, so the client gives up first.
    unknown_payment(member_client, sandbox, product, timeout=True, holdSeconds=5)

    lines = debug_log()
    pg_calls = [line for line in lines if line["event"] == "pg_call"]
    confirm_call = next(line for line in pg_calls if line.get("orderId") == answer["orderId"])
    assert confirm_call["gateway"] == "toss" and confirm_call["operation"] == "confirm"
    assert confirm_call["paymentKey"] == key
    assert confirm_call["request_id"] and confirm_call["outcome"] == "ok"
    assert confirm_call["ms"] > 0 and confirm_call["status"] == 200
    timeouts = [line for line in pg_calls if line.get("outcome") == "READ_TIMEOUT"]
    assert timeouts and all(line["orderId"] and line["request_id"] for line in timeouts)

    text = debug_log.text()
    for secret in secrets_of(settings):
        assert secret not in text
    assert "authorization" not in text.lower()
    assert not PAN.search(text), PAN.search(text)


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_the_request_id_of_a_webhook_reaches_the_worker_that_processes_it(
    client, member_client, sandbox, product
):
    queue = f"test-{uuid.uuid4().hex[:10]}"
    worker = ready_celery_worker(
        queue,
        LOG_FORMAT="json",
        PG_SANDBOX_URL=sandbox.base,
        TOSS_API_BASE=f"{sandbox.base}/toss",
    )
    default_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue  # the webhook's task goes to this worker only
    try:
        event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
        payment = sandbox.get(event.payment_key).json()
        body = {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "x", "data": payment}
        request_id = f"req-{uuid.uuid4().hex[:12]}"

        answer = client.post(
            "/api/v1/webhooks/toss",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_X_REQUEST_ID=request_id,
        )
        assert answer.status_code == 200

        webhook = WebhookEvent.objects.get(order_id=event.order_id)
        worker.wait_for(
            lambda: WebhookEvent.objects.get(pk=webhook.pk).status == "PROCESSED",
            timeout=30,
            what="the worker to process the webhook",
        )
        output = worker.output()
    finally:
        app.conf.task_default_queue = default_queue
        worker.stop()
        structlog.contextvars.clear_contextvars()

    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    processed = [line for line in lines if line.get("event") == "webhook_processed"]
    assert processed and processed[0]["request_id"] == request_id, processed
    assert processed[0]["orderId"] == event.order_id and processed[0]["gateway"] == "toss"
    event.refresh_from_db()
    assert event.status == "SUCCESS"


@pytest.mark.django_db
@pytest.mark.processes
def test_confirm_logs_carry_the_order_id_and_never_the_secret_key(member_client, sandbox, json_log):
    product = ProductFactory(price=5000, stock=3)
    answer = checkout(member_client, [(product.id, 1)]).json()
    payment_key = sandbox.authorize(answer["orderId"], 5000)

    assert confirm(member_client, answer["orderId"], payment_key, 5000).status_code == 200

    text, lines = json_log.text(), json_log()
    pg_calls = [line for line in lines if line["event"] == "pg_call"]
    assert pg_calls and all(line["orderId"] == answer["orderId"] for line in pg_calls)
    assert all("ms" in line and line["gateway"] == "toss" for line in pg_calls)
    outcome = next(line for line in lines if line["event"] == "payment_outcome")
    assert outcome["orderId"] == answer["orderId"] and outcome["status"] == "SUCCESS"
    secret = settings.PAYMENT_GATEWAYS["toss"]["SECRET_KEY"]
    assert secret not in text and "Authorization" not in text and "Basic " not in text
