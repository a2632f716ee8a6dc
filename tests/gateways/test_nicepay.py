"""gateways/nicepay through the app and the sandbox: N-1..N-4, N-9 (docs/sandbox.md, Scenarios)."""

import pytest
import requests

from payments.models import CompensationJob, PaymentEvent
from tests.factories import ProductFactory
from tests.payments.helpers import checkout, confirm, point_gateway_at_sandbox

pytestmark = [pytest.mark.django_db, pytest.mark.processes]


@pytest.fixture
def nicepay(sandbox, settings):
    point_gateway_at_sandbox(settings, sandbox, "nicepay")
    return sandbox


def authorize(sandbox, order_id: str, amount: int) -> str:
    response = requests.post(
        f"{sandbox.base}/sandbox/nicepay/authorize",
        json={"orderId": order_id, "amount": amount},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()["tid"]


def record(sandbox, order_id: str) -> dict:
    return requests.get(f"{sandbox.base}/sandbox/nicepay/payments/{order_id}", timeout=5).json()


def approvals_sent(sandbox, order_id: str) -> list[dict]:
    return sandbox.requests_for(order_id, "approve")


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def started(member_client, sandbox, product, quantity=2, authorized_amount=None):
    answer = checkout(member_client, [(product.id, quantity)], gateway="nicepay").json()
    assert answer["gateway"] == "nicepay" and answer["clientKey"]
    tid = authorize(sandbox, answer["orderId"], authorized_amount or answer["amount"])
    return answer, tid


def test_n1_happy_path(member_client, nicepay, product):
    answer, tid = started(member_client, nicepay, product)

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    assert response.json()["paymentKey"] == tid
    assert record(nicepay, answer["orderId"])["sandbox"]["approvals"] == 1
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.gateway == "nicepay" and event.approved_at is not None


def test_a_card_decline_fails_and_restores_stock(member_client, nicepay, product):
    answer, tid = started(member_client, nicepay, product)
    nicepay.fault(
        gateway="nicepay", operation="approve", orderId=answer["orderId"], errorCode="3011"
    )

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.status_code == 400 and response.json()["pgCode"] == "3011"
    product.refresh_from_db()
    assert product.stock == 10
    assert CompensationJob.objects.get(event__order_id=answer["orderId"]).restored


def test_n9_a_transient_error_is_retried(member_client, nicepay, product):
    answer, tid = started(member_client, nicepay, product)
    nicepay.fault(
        gateway="nicepay", operation="approve", orderId=answer["orderId"], errorCode="A299", count=1
    )

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.json()["status"] == "SUCCESS"
    assert len(approvals_sent(nicepay, answer["orderId"])) == 2
    assert record(nicepay, answer["orderId"])["sandbox"]["approvals"] == 1


def test_n9_a_transient_error_that_hid_an_approval_becomes_2201_then_success(
    member_client, nicepay, product
):
    answer, tid = started(member_client, nicepay, product)
    nicepay.fault(
        gateway="nicepay",
        operation="approve",
        orderId=answer["orderId"],
        errorCode="A401",
        commit=True,
        count=1,
    )

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.json()["status"] == "SUCCESS"
    assert record(nicepay, answer["orderId"])["sandbox"] == {"approvals": 1, "approveCalls": 2}
    assert nicepay.requests_for(answer["orderId"], "lookup")


def test_n3_a_lost_answer_is_looked_up_and_is_success(member_client, nicepay, product):
    answer, tid = started(member_client, nicepay, product)
    nicepay.fault(
        gateway="nicepay",
        operation="approve",
        orderId=answer["orderId"],
        dropResponseAfterCommit=True,
    )

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    assert len(approvals_sent(nicepay, answer["orderId"])) == 1  # looked up, not approved twice


def test_n4_a_lost_approve_that_did_not_happen_is_net_cancelled(member_client, nicepay, product):
    answer, tid = started(member_client, nicepay, product)
    nicepay.fault(
        gateway="nicepay",
        operation="approve",
        orderId=answer["orderId"],
        timeout=True,
        holdSeconds=3,
    )

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.status_code == 400 and response.json()["pgCode"] == "NET_CANCELLED"
    assert record(nicepay, answer["orderId"])["status"] == "cancelled"
    product.refresh_from_db()
    assert product.stock == 10


def test_n3_duplicate_approval_2201_with_the_same_amount_is_success(
    member_client, nicepay, product
):
    answer, tid = started(member_client, nicepay, product)
    first = confirm_at_nicepay(nicepay, tid, 10000)
    assert first["resultCode"] == "0000"

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.json()["status"] == "SUCCESS"
    assert record(nicepay, answer["orderId"])["sandbox"]["approvals"] == 1


def test_2201_whose_lookup_reports_another_amount_is_not_success(member_client, nicepay, product):
    # The tid was authenticated and approved for 1,000 KRW; our order is 10,000.
    answer, tid = started(member_client, nicepay, product, authorized_amount=1000)
    assert confirm_at_nicepay(nicepay, tid, 1000)["resultCode"] == "0000"

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.status_code == 400 and response.json()["code"] == "PAYMENT_REJECTED"
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.status == "FAILURE" and event.failure_code == "PG_AMOUNT_MISMATCH"
    assert record(nicepay, answer["orderId"])["status"] == "cancelled"


def test_n2_an_amount_that_differs_from_the_authentication_is_refused(
    member_client, nicepay, product
):
    answer, tid = started(member_client, nicepay, product, authorized_amount=9000)

    response = confirm(member_client, answer["orderId"], tid, 10000)

    assert response.status_code == 400 and response.json()["pgCode"] == "A123"
    assert record(nicepay, answer["orderId"])["sandbox"]["approvals"] == 0


def confirm_at_nicepay(sandbox, tid: str, amount: int) -> dict:
    """Approve directly at the sandbox, as another process of ours might have done."""
    from django.conf import settings

    from gateways.nicepay.client import NicePayClient

    config = settings.PAYMENT_GATEWAYS["nicepay"]
    client = NicePayClient(
        api_base=f"{sandbox.base}/nicepay",
        client_key=config["CLIENT_KEY"],
        secret_key=config["SECRET_KEY"],
        connect_timeout=1,
        read_timeout=5,
    )
    return client.approve(tid=tid, order_id="direct", amount=amount).body
