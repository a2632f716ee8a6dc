"""payments/services/confirm.py: the sync confirm at the sandbox, tampering, PG outcomes, races."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.db.models import F
from rest_framework.test import APIClient

from gateways.base import get_gateway
from gateways.http import PgCallInTransaction
from payments.models import CompensationJob, OutboxMessage, PaymentEvent
from products.models import Product
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, confirm, in_threads, pg_confirms, transitions

pytestmark = pytest.mark.processes


@pytest.fixture
def product():
    return ProductFactory(price=7500, stock=10)


def paid_checkout(member_client, sandbox, product, quantity=2):
    answer = checkout(member_client, [(product.id, quantity)]).json()
    payment_key = sandbox.authorize(answer["orderId"], answer["amount"])
    return answer, payment_key


@pytest.mark.django_db
def test_happy_path_checkout_authorize_confirm(member_client, sandbox, product):
    answer = checkout(member_client, [(product.id, 2)]).json()
    assert answer["status"] == "NOT_STARTED" and answer["amount"] == 15000
    assert answer["clientKey"] and answer["successUrl"] and answer["failUrl"]
    product.refresh_from_db()
    assert product.stock == 8
    payment_key = sandbox.authorize(answer["orderId"], 15000)

    response = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (
        body["status"] == "SUCCESS"
        and body["amount"] == 15000
        and body["paymentKey"] == payment_key
    )
    assert body["approvedAt"].endswith("+09:00")
    product.refresh_from_db()
    assert product.stock == 8  # decremented once, at checkout
    assert transitions(answer["orderId"]) == [
        ("", "NOT_STARTED"),
        ("NOT_STARTED", "EXECUTING"),
        ("EXECUTING", "SUCCESS"),
    ]
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert list(OutboxMessage.objects.filter(event=event).values_list("kind", flat=True)) == [
        "LEDGER"
    ]
    record = sandbox.record(answer["orderId"])
    assert record["status"] == "DONE" and record["sandbox"]["approvals"] == 1
    (call,) = pg_confirms(sandbox, answer["orderId"])
    assert call["idempotencyKey"] == event.pg_idempotency_key

    detail = member_client.get(f"/api/v1/payments/{answer['orderId']}").json()
    assert detail["status"] == "SUCCESS" and detail["paymentKey"] == payment_key
    assert detail["items"] == [{"productId": product.id, "quantity": 2, "amount": 15000}]
    assert [(h["from"], h["to"]) for h in detail["history"]] == [
        (None, "NOT_STARTED"),
        ("NOT_STARTED", "EXECUTING"),
        ("EXECUTING", "SUCCESS"),
    ]


@pytest.mark.django_db
def test_a_replayed_confirm_answers_from_the_stored_result(member_client, sandbox, product):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    first = confirm(member_client, answer["orderId"], payment_key, 15000)

    again = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert again.status_code == 200 and again.json() == first.json()
    assert len(pg_confirms(sandbox, answer["orderId"])) == 1


# --- tampering: the API's code, nothing sent to the PG, stock right ------------------


@pytest.mark.django_db
def test_a_changed_amount_fails_the_order_and_gives_the_stock_back(member_client, sandbox, product):
    answer, payment_key = paid_checkout(member_client, sandbox, product)

    response = confirm(member_client, answer["orderId"], payment_key, 100)

    assert response.status_code == 400 and response.json()["code"] == "AMOUNT_MISMATCH"
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.status == "FAILURE" and event.failure_code == "AMOUNT_MISMATCH"
    assert CompensationJob.objects.get(event=event).status == "DONE"
    product.refresh_from_db()
    assert product.stock == 10
    assert pg_confirms(sandbox, answer["orderId"]) == []
    # The real amount afterwards does not revive it.
    assert (
        confirm(member_client, answer["orderId"], payment_key, 15000).json()["code"]
        == "INVALID_STATE"
    )


@pytest.mark.django_db
def test_another_members_order_is_a_404_and_untouched(member_client, sandbox, product, api_client):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    api_client.force_authenticate(MemberFactory())

    response = confirm(api_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert api_client.get(f"/api/v1/payments/{answer['orderId']}").status_code == 404
    assert PaymentEvent.objects.get(order_id=answer["orderId"]).status == "NOT_STARTED"
    assert pg_confirms(sandbox, answer["orderId"]) == []


@pytest.mark.django_db
def test_another_orders_payment_key_is_refused(member_client, sandbox, product):
    first, first_key = paid_checkout(member_client, sandbox, product)
    assert confirm(member_client, first["orderId"], first_key, 15000).status_code == 200
    second, _ = paid_checkout(member_client, sandbox, product)

    response = confirm(member_client, second["orderId"], first_key, 15000)

    assert response.status_code == 409 and response.json()["code"] == "INVALID_STATE"
    assert PaymentEvent.objects.get(order_id=second["orderId"]).status == "FAILURE"
    assert pg_confirms(sandbox, second["orderId"]) == []
    product.refresh_from_db()
    assert product.stock == 8  # the first order's 2 stay sold, the second's came back


@pytest.mark.django_db
def test_someone_elses_seen_payment_key_cannot_sabotage_that_payment(
    member_client, sandbox, product
):
    """B confirms his own order with A's authorised key before A does: B's order fails at
    the PG, and A's own confirm still succeeds (the PG says whose key it is)."""
    a_order, a_key = paid_checkout(member_client, sandbox, product)
    b_client = APIClient()
    b_client.force_authenticate(MemberFactory())
    b_order = checkout(b_client, [(product.id, 1)]).json()

    sabotage = confirm(b_client, b_order["orderId"], a_key, b_order["amount"])
    own = confirm(member_client, a_order["orderId"], a_key, 15000)

    assert sabotage.status_code in (400, 409)
    assert PaymentEvent.objects.get(order_id=b_order["orderId"]).status == "FAILURE"
    assert own.status_code == 200 and own.json()["status"] == "SUCCESS", own.json()
    a_event = PaymentEvent.objects.get(order_id=a_order["orderId"])
    assert a_event.payment_key == a_key
    assert sandbox.record(a_order["orderId"])["status"] == "DONE"
    history = PaymentEvent.objects.get(order_id=b_order["orderId"]).history
    assert history.filter(reason="PAYMENT_KEY_RELEASED").exists()
    product.refresh_from_db()
    assert product.stock == 8  # A's 2 sold, B's 1 back


@pytest.mark.django_db
def test_a_key_held_by_a_confirm_in_flight_is_409_and_fails_nothing(
    member_client, sandbox, product
):
    a_order, a_key = paid_checkout(member_client, sandbox, product)
    b_client = APIClient()
    b_client.force_authenticate(MemberFactory())
    b_order = checkout(b_client, [(product.id, 1)]).json()
    # B's claim holds A's key and its confirm has not been answered yet.
    PaymentEvent.objects.filter(order_id=b_order["orderId"]).update(
        status="EXECUTING", payment_key=a_key
    )

    answer = confirm(member_client, a_order["orderId"], a_key, 15000)

    assert answer.status_code == 409 and answer.json()["code"] == "PAYMENT_KEY_IN_USE"
    assert "Retry-After" in answer
    assert PaymentEvent.objects.get(order_id=a_order["orderId"]).status == "NOT_STARTED"


@pytest.mark.django_db
def test_a_claim_clash_with_no_answer_from_the_pg_fails_nothing(member_client, sandbox, product):
    first, first_key = paid_checkout(member_client, sandbox, product)
    assert confirm(member_client, first["orderId"], first_key, 15000).status_code == 200
    second, _ = paid_checkout(member_client, sandbox, product)
    sandbox.fault(operation="lookup", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")

    answer = confirm(member_client, second["orderId"], first_key, 15000)

    assert answer.status_code == 503 and answer.json()["code"] == "GATEWAY_UNAVAILABLE"
    assert PaymentEvent.objects.get(order_id=second["orderId"]).status == "NOT_STARTED"
    assert PaymentEvent.objects.get(order_id=first["orderId"]).status == "SUCCESS"


@pytest.mark.django_db
def test_a_replay_with_another_payment_key_is_refused(member_client, sandbox, product):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    confirm(member_client, answer["orderId"], payment_key, 15000)

    response = confirm(member_client, answer["orderId"], "tsbox-someone-elses-key", 15000)

    assert response.status_code == 409 and response.json()["code"] == "INVALID_STATE"
    assert len(pg_confirms(sandbox, answer["orderId"])) == 1
    assert PaymentEvent.objects.get(order_id=answer["orderId"]).status == "SUCCESS"


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [0, -15000, 10**13, "15000", 15000.5, None], ids=str)
def test_bad_confirm_amounts_are_400_and_change_nothing(member_client, sandbox, product, amount):
    answer, payment_key = paid_checkout(member_client, sandbox, product)

    response = confirm(member_client, answer["orderId"], payment_key, amount)

    assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"
    assert PaymentEvent.objects.get(order_id=answer["orderId"]).status == "NOT_STARTED"
    assert pg_confirms(sandbox, answer["orderId"]) == []


# --- each PG outcome, produced by the sandbox -----------------------------------------


@pytest.mark.django_db
def test_a_decline_fails_with_exactly_one_stock_restore(member_client, sandbox, product):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    sandbox.fault(operation="confirm", orderId=answer["orderId"], errorCode="REJECT_CARD_PAYMENT")

    response = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 400
    assert (
        response.json()["code"] == "PAYMENT_REJECTED"
        and response.json()["pgCode"] == "REJECT_CARD_PAYMENT"
    )
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.status == "FAILURE"
    job = CompensationJob.objects.get(event=event)
    assert (job.status, job.attempts) == ("DONE", 1)
    product.refresh_from_db()
    assert product.stock == 10
    # A replay answers the stored failure and restores nothing twice.
    assert (
        confirm(member_client, answer["orderId"], payment_key, 15000).json()["pgCode"]
        == "REJECT_CARD_PAYMENT"
    )
    product.refresh_from_db()
    assert product.stock == 10
    assert len(pg_confirms(sandbox, answer["orderId"])) == 1


@pytest.mark.django_db
def test_a_provider_error_is_retried_with_the_same_key(member_client, sandbox, product):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    sandbox.fault(
        operation="confirm", orderId=answer["orderId"], errorCode="PROVIDER_ERROR", count=1
    )

    response = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    calls = pg_confirms(sandbox, answer["orderId"])
    assert len(calls) == 2 and calls[0]["idempotencyKey"] == calls[1]["idempotencyKey"]
    assert sandbox.record(answer["orderId"])["sandbox"]["approvals"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fault, pg_status",
    [
        ({"timeout": True, "holdSeconds": 5}, "IN_PROGRESS"),
        ({"timeout": True, "commit": True, "holdSeconds": 5}, "DONE"),
        ({"errorCode": "FAILED_INTERNAL_SYSTEM_PROCESSING"}, "IN_PROGRESS"),
        ({"dropResponseAfterCommit": True}, "DONE"),
    ],
    ids=["timeout", "timeout-after-approval", "500-every-time", "response-lost"],
)
def test_an_unknown_outcome_is_202_and_loses_nothing(
    member_client, sandbox, product, fault, pg_status
):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    sandbox.fault(operation="confirm", orderId=answer["orderId"], **fault)

    response = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 202
    assert response.json() == {"orderId": answer["orderId"], "status": "UNKNOWN"}
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.status == "UNKNOWN" and event.next_attempt_at is not None
    assert event.payment_key == payment_key
    assert not CompensationJob.objects.filter(event=event).exists()
    product.refresh_from_db()
    assert product.stock == 8  # still held: the payment may have gone through
    assert sandbox.record(answer["orderId"])["status"] == pg_status
    keys = {call.get("idempotencyKey") for call in pg_confirms(sandbox, answer["orderId"])}
    assert keys == {event.pg_idempotency_key}


@pytest.mark.django_db
def test_a_500_after_approval_is_retried_and_the_same_key_returns_the_approval(
    member_client, sandbox, product
):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    sandbox.fault(
        operation="confirm",
        orderId=answer["orderId"],
        errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING",
        commit=True,
    )

    response = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    outcomes = [call.get("outcome") for call in pg_confirms(sandbox, answer["orderId"])]
    assert outcomes == [None, "idempotent-replay"]
    assert sandbox.record(answer["orderId"])["sandbox"]["approvals"] == 1


@pytest.mark.django_db
def test_already_processed_is_resolved_by_a_lookup(member_client, sandbox, product):
    answer, payment_key = paid_checkout(member_client, sandbox, product)
    # Approved at the PG under another key (e.g. by an earlier attempt we lost track of).
    assert (
        sandbox.confirm(payment_key, answer["orderId"], 15000, key="elsewhere").status_code == 200
    )

    response = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    assert sandbox.requests_for(answer["orderId"], "lookup")
    assert sandbox.record(answer["orderId"])["sandbox"]["approvals"] == 1


@pytest.mark.django_db
def test_an_approval_for_another_amount_is_cancelled_at_the_pg(member_client, sandbox, product):
    answer = checkout(member_client, [(product.id, 2)]).json()
    # The PG holds an approval of 1,000 KRW for our orderId: not what we sold.
    payment_key = sandbox.authorize(answer["orderId"], 1000)
    assert sandbox.confirm(payment_key, answer["orderId"], 1000, key="elsewhere").status_code == 200

    response = confirm(member_client, answer["orderId"], payment_key, 15000)

    assert response.status_code == 400 and response.json()["code"] == "PAYMENT_REJECTED"
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.status == "FAILURE" and event.failure_code == "PG_AMOUNT_MISMATCH"
    assert sandbox.record(answer["orderId"])["status"] == "CANCELED"
    product.refresh_from_db()
    assert product.stock == 10


@pytest.mark.django_db
def test_points_charge(member_client, sandbox):
    body = {"gateway": "toss", "purpose": "POINT_CHARGE", "amount": 50000}
    answer = member_client.post("/api/v1/payments/checkout", body, format="json").json()
    assert answer["orderName"] == "포인트 충전 50,000원"
    payment_key = sandbox.authorize(answer["orderId"], 50000)

    assert (
        confirm(member_client, answer["orderId"], payment_key, 50000).json()["status"] == "SUCCESS"
    )
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert list(event.outbox.values_list("kind", flat=True)) == ["LEDGER"]


# --- real threads on the real database: conditional updates decide every race -----------


@pytest.mark.django_db(transaction=True)
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


@pytest.mark.django_db(transaction=True)
def test_a_pg_call_inside_a_transaction_is_refused_before_it_is_sent(sandbox):
    gateway = get_gateway("toss")

    with pytest.raises(PgCallInTransaction), transaction.atomic():
        gateway.get_payment_by_order_id("ord-never-sent")

    assert sandbox.requests_for("ord-never-sent") == []


@pytest.mark.django_db(transaction=True)
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
