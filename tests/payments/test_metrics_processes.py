"""Metrics stay right with several gunicorn workers and a Celery worker (real processes).

Each process writes its own counters to PROMETHEUS_MULTIPROC_DIR; whichever gunicorn
worker answers a scrape must report the sum of all of them, the worker's included.
"""

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from config.celery_app import app
from payments.models import PaymentEvent
from tests.crash.stack import Stack
from tests.factories import MemberFactory, ProductFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

PAYMENTS = 8


def scrape(base: str) -> dict[tuple, float]:
    page = requests.get(f"{base}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


def test_every_scrape_sums_all_web_and_worker_processes(sandbox, tmp_path):
    token = Token.objects.create(user=MemberFactory()).key
    product = ProductFactory(price=5000, stock=100)
    directory = tmp_path / "metrics"
    (directory).mkdir()
    (directory / "counter_999999.db").write_bytes(b"")  # a previous run's: emptied at start
    stack = Stack(sandbox.base, PROMETHEUS_MULTIPROC_DIR=str(directory))
    stack.start_web()  # gunicorn, 2 workers, config/gunicorn.py
    stack.start_worker()
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    try:
        assert not (directory / "counter_999999.db").exists()
        lost = None
        for i in range(PAYMENTS):
            body = {"gateway": "toss", "items": [{"productId": product.id, "quantity": 1}]}
            answer = http.post(f"{stack.base}/api/v1/payments/checkout", json=body, timeout=10)
            order_id = answer.json()["orderId"]
            key = sandbox.authorize(order_id, 5000)
            if i == 0:  # approved at the PG, the answer lost: UNKNOWN, for the worker
                sandbox.fault(operation="confirm", orderId=order_id, dropResponseAfterCommit=True)
                lost = order_id
            confirm = {"orderId": order_id, "paymentKey": key, "amount": 5000}
            http.post(f"{stack.base}/api/v1/payments/confirm", json=confirm, timeout=30)
        assert PaymentEvent.objects.get(order_id=lost).status == "UNKNOWN"

        time.sleep(1.2)  # RECOVERY_FIRST_DELAY_SECONDS in the stack's timings
        app.send_task("payments.recovery_scan", queue=stack.env["CELERY_QUEUE"])
        deadline = time.monotonic() + 30
        while PaymentEvent.objects.get(order_id=lost).status != "SUCCESS":
            assert time.monotonic() < deadline, "the worker did not recover the payment"
            time.sleep(0.2)

        writers = {path.name.rsplit("_", 1)[1] for path in directory.glob("*.db")}
        assert len(writers) >= 2, writers  # web workers and the Celery child, one file each
        success = ("payment_confirms_total", (("gateway", "toss"), ("result", "SUCCESS")))
        unknown = ("payment_confirms_total", (("gateway", "toss"), ("result", "UNKNOWN")))
        recovered = (
            "payment_recovery_attempts_total",
            (("action", "SUCCESS"), ("gateway", "toss"), ("status", "SUCCESS")),
        )
        for _ in range(6):  # new connections: the scrapes land on both gunicorn workers
            samples = scrape(stack.base)
            assert samples[success] == PAYMENTS - 1
            assert samples[unknown] == 1
            assert samples[recovered] == 1
            assert samples[("payments_by_status", (("status", "UNKNOWN"),))] == 0
    finally:
        stack.stop()
