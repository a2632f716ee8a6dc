"""Real threads on the real database: conditional updates decide every race."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction
from django.db.models import F
from rest_framework.test import APIClient

from gateways.base import get_gateway
from gateways.http import PgCallInTransaction
from payments.models import PaymentEvent
from products.models import Product
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, confirm, pg_confirms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def in_threads(count: int, workers: int, call):
    """Run call(i) count times on `workers` threads, each with its own DB connection."""

    def run(i):
        try:
            return call(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(count)))


def test_200_concurrent_checkouts_of_50_in_stock_sell_exactly_50():
    product = ProductFactory(stock=50)
    buyers = [MemberFactory() for _ in range(8)]
    start = threading.Barrier(32)

    def buy(i):
        client = APIClient()
        client.force_authenticate(buyers[i % len(buyers)])
        if i < 32:
            start.wait()  # the first wave hits at once
        return checkout(client, [(product.id, 1)]).status_code

    statuses = in_threads(200, 32, buy)

    assert statuses.count(201) == 50
    assert statuses.count(409) == 150
    product.refresh_from_db()
    assert product.stock == 0
    assert PaymentEvent.objects.count() == 50


def test_a_concurrent_double_click_with_one_key_makes_one_payment(member):
    product = ProductFactory(stock=10)
    start = threading.Barrier(8)

    def click(_):
        client = APIClient()
        client.force_authenticate(member)
        start.wait()
        response = checkout(client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="double-click")
        return response.status_code, response.json()["orderId"]

    results = in_threads(8, 8, click)

    assert {status for status, _ in results} == {201}
    assert len({order_id for _, order_id in results}) == 1
    assert PaymentEvent.objects.count() == 1
    product.refresh_from_db()
    assert product.stock == 9


def test_20_concurrent_confirms_of_one_order_confirm_once_at_the_pg(member, sandbox):
    product = ProductFactory(stock=5, price=3000)
    client = APIClient()
    client.force_authenticate(member)
    answer = checkout(client, [(product.id, 1)]).json()
    payment_key = sandbox.authorize(answer["orderId"], 3000)
    sandbox.fault(operation="confirm", orderId=answer["orderId"], latencyMs=500)
    start = threading.Barrier(20)

    def press(_):
        c = APIClient()
        c.force_authenticate(member)
        start.wait()
        response = confirm(c, answer["orderId"], payment_key, 3000)
        return response.status_code, response.json()["status"]

    results = in_threads(20, 20, press)

    assert len(pg_confirms(sandbox, answer["orderId"])) == 1
    assert sandbox.record(answer["orderId"])["sandbox"]["approvals"] == 1
    # Everyone gets a consistent answer: done, or still in progress (then it is done).
    assert set(results) <= {(200, "SUCCESS"), (202, "EXECUTING")}
    assert (200, "SUCCESS") in results
    assert PaymentEvent.objects.get(order_id=answer["orderId"]).status == "SUCCESS"


def test_a_pg_call_inside_a_transaction_is_refused_before_it_is_sent(sandbox):
    gateway = get_gateway("toss")

    with pytest.raises(PgCallInTransaction), transaction.atomic():
        gateway.get_payment_by_order_id("ord-never-sent")

    assert sandbox.requests_for("ord-never-sent") == []


def test_no_row_lock_is_held_while_the_pg_is_slow(member, sandbox):
    product = ProductFactory(stock=5, price=3000)
    client = APIClient()
    client.force_authenticate(member)
    answer = checkout(client, [(product.id, 1)]).json()
    payment_key = sandbox.authorize(answer["orderId"], 3000)
    sandbox.fault(operation="confirm", orderId=answer["orderId"], latencyMs=1200)
    result = {}

    def slow_confirm():
        try:
            result["response"] = confirm(client, answer["orderId"], payment_key, 3000)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_confirm)
    thread.start()
    # Wait until the payment is claimed and the call is out at the (slow) PG.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if PaymentEvent.objects.filter(order_id=answer["orderId"], status="EXECUTING").exists():
            break
        time.sleep(0.02)
    time.sleep(0.2)
    assert PaymentEvent.objects.get(order_id=answer["orderId"]).status == "EXECUTING"

    # While the PG is slow, another transaction takes the product and payment rows at once.
    started = time.monotonic()
    with transaction.atomic():
        nowait = {"nowait": True} if connection.features.has_select_for_update_nowait else {}
        list(Product.objects.select_for_update(**nowait).filter(pk=product.pk))
        Product.objects.filter(pk=product.pk).update(stock=F("stock") + 1)
        list(PaymentEvent.objects.select_for_update(**nowait).filter(order_id=answer["orderId"]))
    waited = time.monotonic() - started
    thread.join()

    # On MariaDB NOWAIT would have raised had a lock been held; SQLite has no row locks,
    # so there the proof is that the update did not wait out the PG.
    assert waited < 1.5
    assert result["response"].status_code == 200
    product.refresh_from_db()
    assert product.stock == 5  # 5 - 1 sold + 1 added by the other transaction
