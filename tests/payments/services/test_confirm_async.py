"""payments/services/confirm.py, async: the request claims and answers 202, a worker asks the PG."""

import time
import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.celery_app import app
from payments.models import OutboxMessage, PaymentEvent
from payments.services.confirm import payment_confirm_owed, payment_confirm_relay
from products.models import Product
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import authorized, confirm_async, pg_confirms, transitions
from tests.processes import ready_celery_worker


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def owed(order_id: str) -> list[str]:
    return list(
        OutboxMessage.objects.filter(event__order_id=order_id, kind="CONFIRM").values_list(
            "status", flat=True
        )
    )


@pytest.mark.django_db
def test_the_request_claims_and_answers_202_and_the_worker_confirms(
    member_client, sandbox, product
):
    order_id, key = authorized(member_client, sandbox, product)

    response = confirm_async(member_client, order_id, key, 5000)

    assert response.status_code == 202
    assert response.json() == {"orderId": order_id, "status": "EXECUTING"}
    assert response["Preference-Applied"] == "respond-async"
    assert response["Location"] == f"/api/v1/payments/{order_id}"
    assert owed(order_id) == ["PENDING"]
    assert pg_confirms(sandbox, order_id) == []  # nothing sent by the request

    event = PaymentEvent.objects.get(order_id=order_id)
    assert payment_confirm_owed(event_id=event.pk, actor="worker") == "SUCCESS"

    assert owed(order_id) == ["DONE"]
    calls = pg_confirms(sandbox, order_id)
    assert [c.get("idempotencyKey") for c in calls] == [event.pg_idempotency_key]
    detail = member_client.get(f"/api/v1/payments/{order_id}").json()
    assert detail["status"] == "SUCCESS"
    assert transitions(order_id)[-1] == ("EXECUTING", "SUCCESS")
    assert set(event.outbox.values_list("kind", flat=True)) == {"CONFIRM", "LEDGER"}


@pytest.mark.django_db
def test_the_setting_makes_async_the_default(settings, member_client, sandbox, product):
    settings.CONFIRM_MODE = "async"
    order_id, key = authorized(member_client, sandbox, product)
    body = {"orderId": order_id, "paymentKey": key, "amount": 5000}

    response = member_client.post("/api/v1/payments/confirm", body, format="json")

    assert response.status_code == 202 and response.json()["status"] == "EXECUTING"


@pytest.mark.django_db
def test_a_tampered_amount_is_refused_at_once_in_async_mode_too(member_client, sandbox, product):
    order_id, key = authorized(member_client, sandbox, product)

    response = confirm_async(member_client, order_id, key, 100)

    assert response.status_code == 400 and response.json()["code"] == "AMOUNT_MISMATCH"
    assert owed(order_id) == []
    assert Product.objects.get(pk=product.pk).stock == 10
    assert pg_confirms(sandbox, order_id) == []


@pytest.mark.django_db
def test_a_decline_found_by_the_worker_fails_and_restores_stock(member_client, sandbox, product):
    order_id, key = authorized(member_client, sandbox, product, quantity=2)
    sandbox.fault(operation="confirm", orderId=order_id, errorCode="REJECT_CARD_PAYMENT")
    assert confirm_async(member_client, order_id, key, 10000).status_code == 202
    assert Product.objects.get(pk=product.pk).stock == 8

    event = PaymentEvent.objects.get(order_id=order_id)
    assert payment_confirm_owed(event_id=event.pk, actor="worker") == "FAILURE"

    assert Product.objects.get(pk=product.pk).stock == 10
    detail = member_client.get(f"/api/v1/payments/{order_id}").json()
    assert detail["failure"]["code"] == "REJECT_CARD_PAYMENT"
    assert owed(order_id) == ["DONE"]


@pytest.mark.django_db
def test_an_unknown_outcome_is_left_to_recovery(member_client, sandbox, product):
    order_id, key = authorized(member_client, sandbox, product)
    sandbox.fault(operation="confirm", orderId=order_id, dropResponseAfterCommit=True, count=1)
    confirm_async(member_client, order_id, key, 5000)
    event = PaymentEvent.objects.get(order_id=order_id)

    assert payment_confirm_owed(event_id=event.pk, actor="worker") == "UNKNOWN"

    event.refresh_from_db()
    assert event.next_attempt_at is not None and event.lease_owner == ""
    assert owed(order_id) == ["DONE"]  # recovery owns it now


@pytest.mark.django_db
def test_a_repeated_request_or_task_never_confirms_twice(member_client, sandbox, product):
    order_id, key = authorized(member_client, sandbox, product)
    assert confirm_async(member_client, order_id, key, 5000).status_code == 202
    again = confirm_async(member_client, order_id, key, 5000)
    assert again.status_code == 202 and again.json()["status"] == "EXECUTING"
    assert owed(order_id) == ["PENDING"]
    event = PaymentEvent.objects.get(order_id=order_id)

    assert payment_confirm_owed(event_id=event.pk, actor="worker") == "SUCCESS"
    assert payment_confirm_owed(event_id=event.pk, actor="worker") == "SUCCESS"

    assert len(pg_confirms(sandbox, order_id)) == 1
    assert confirm_async(member_client, order_id, key, 5000).status_code == 200


@pytest.mark.django_db
def test_a_task_meeting_a_leased_payment_leaves_it_to_the_holder(member_client, sandbox, product):
    order_id, key = authorized(member_client, sandbox, product)
    confirm_async(member_client, order_id, key, 5000)
    event = PaymentEvent.objects.get(order_id=order_id)
    PaymentEvent.objects.filter(pk=event.pk).update(
        lease_owner="recovery-x", lease_until=event.created_at.replace(year=2999)
    )

    assert payment_confirm_owed(event_id=event.pk, actor="worker") == "EXECUTING"

    assert pg_confirms(sandbox, order_id) == []
    assert owed(order_id) == ["PENDING"]


@pytest.mark.django_db
def test_the_sync_default_is_unchanged(member_client, sandbox, product):
    order_id, key = authorized(member_client, sandbox, product)
    body = {"orderId": order_id, "paymentKey": key, "amount": 5000}
    response = member_client.post("/api/v1/payments/confirm", body, format="json")
    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    assert owed(order_id) == []


# --- through a real worker ----------------------------------------------------------------


@pytest.fixture
def worker(sandbox):
    queue = f"test-{uuid.uuid4().hex[:10]}"
    process = ready_celery_worker(
        queue, PG_SANDBOX_URL=sandbox.base, TOSS_API_BASE=f"{sandbox.base}/toss"
    )
    default = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = default
    process.stop()


def poll(client, order_id: str, timeout: float = 30) -> dict:
    """What a shop does after a 202: GET with `Prefer: wait`, answered at the outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = client.get(f"/api/v1/payments/{order_id}", HTTP_PREFER="wait=10").json()
        if detail["status"] not in ("EXECUTING", "UNKNOWN"):
            return detail
    raise AssertionError(f"{order_id} still {detail['status']} after {timeout} s")


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_a_real_worker_confirms_and_the_client_polls(worker, sandbox, product):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=MemberFactory())}")
    order_ids = []
    for _ in range(3):
        order_id, key = authorized(client, sandbox, product)
        assert confirm_async(client, order_id, key, 5000).status_code == 202
        order_ids.append(order_id)

    started = time.monotonic()
    first = client.get(f"/api/v1/payments/{order_ids[0]}", HTTP_PREFER="wait=20").json()
    assert first["status"] == "SUCCESS"  # one waiting GET, answered at the outcome
    assert time.monotonic() - started < 15
    for order_id in order_ids:
        assert poll(client, order_id)["status"] == "SUCCESS"
        assert len(pg_confirms(sandbox, order_id)) == 1
        assert owed(order_id) == ["DONE"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_the_relay_sends_a_confirm_whose_task_was_lost(worker, sandbox, product):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=MemberFactory())}")
    order_id, key = authorized(client, sandbox, product)
    app.conf.task_default_queue = f"nobody-listens-{uuid.uuid4().hex[:8]}"  # the task is lost
    assert confirm_async(client, order_id, key, 5000).status_code == 202
    app.conf.task_default_queue = worker
    time.sleep(1)
    assert PaymentEvent.objects.get(order_id=order_id).status == "EXECUTING"
    OutboxMessage.objects.filter(event__order_id=order_id).update(
        created_at=PaymentEvent.objects.get(order_id=order_id).created_at.replace(year=2025)
    )

    assert payment_confirm_relay() == 1

    assert poll(client, order_id)["status"] == "SUCCESS"
    assert len(pg_confirms(sandbox, order_id)) == 1
