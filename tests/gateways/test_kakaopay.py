"""gateways/kakaopay through the app and the sandbox: K-1, K-3, K-4 (docs/sandbox.md, Scenarios)."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import CompensationJob, IdempotencyRecord, PaymentEvent
from payments.services import checkout as checkout_service
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, confirm, in_threads, point_gateway_at_sandbox

pytestmark = [pytest.mark.django_db, pytest.mark.processes]


@pytest.fixture
def kakao(sandbox, settings):
    point_gateway_at_sandbox(settings, sandbox, "kakaopay")
    return sandbox


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def pay_in_kakaotalk(sandbox, tid: str) -> str:
    response = requests.post(
        f"{sandbox.base}/sandbox/kakaopay/authorize", json={"tid": tid}, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()["pg_token"]


def record(sandbox, order_id: str) -> dict:
    return requests.get(f"{sandbox.base}/sandbox/kakaopay/payments/{order_id}", timeout=5).json()


def ready(member_client, sandbox, product) -> tuple[dict, str, str]:
    answer = checkout(member_client, [(product.id, 2)], gateway="kakaopay").json()
    tid = PaymentEvent.objects.get(order_id=answer["orderId"]).payment_key
    assert tid and answer["redirectUrl"].startswith(sandbox.base)
    return answer, tid, pay_in_kakaotalk(sandbox, tid)


def test_k1_ready_at_checkout_then_approve_with_the_pg_token(member_client, kakao, product):
    answer, tid, pg_token = ready(member_client, kakao, product)

    response = confirm(member_client, answer["orderId"], pg_token, 10000)

    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    assert response.json()["paymentKey"] == tid
    assert record(kakao, answer["orderId"])["status"] == "SUCCESS_PAYMENT"
    assert record(kakao, answer["orderId"])["sandbox"]["approvals"] == 1
    ready_call = kakao.requests_for(answer["orderId"], "ready")
    assert len(ready_call) == 1


@pytest.mark.parametrize(
    "fault, status, code",
    [
        ({"errorCode": "-500", "httpStatus": 500}, 503, "GATEWAY_UNAVAILABLE"),
        ({"failBeforeCommit": True}, 503, "GATEWAY_UNAVAILABLE"),
        ({"errorCode": "-401", "httpStatus": 400}, 400, "PAYMENT_REJECTED"),
    ],
    ids=["5xx", "connection-lost", "refused"],
)
def test_a_failed_ready_fails_the_checkout_and_gives_the_stock_back(
    member_client, kakao, product, fault, status, code
):
    kakao.fault(gateway="kakaopay", operation="ready", **fault)

    response = checkout(
        member_client, [(product.id, 2)], gateway="kakaopay", HTTP_IDEMPOTENCY_KEY="k-ready"
    )

    assert response.status_code == status and response.json()["code"] == code
    event = PaymentEvent.objects.get()
    assert event.status == "FAILURE" and event.failure_code
    assert CompensationJob.objects.get(event=event).restored
    product.refresh_from_db()
    assert product.stock == 10
    kakao.http.delete(f"{kakao.base}/sandbox/faults")
    # The key is not kept for a failed checkout: trying again makes a new payment.
    again = checkout(
        member_client, [(product.id, 2)], gateway="kakaopay", HTTP_IDEMPOTENCY_KEY="k-ready"
    )
    assert again.status_code == 201 and again.json()["orderId"] != event.order_id


def test_a_replay_after_a_failed_ready_whose_request_died_is_answered_as_the_failure(
    member_client, kakao, product
):
    # The request recorded the failed ready and was killed before it forgot its key (the
    # crash test): the replay must not hand back the stored answer, which has no window.
    kakao.fault(gateway="kakaopay", operation="ready", errorCode="-500", httpStatus=500)
    key = {"HTTP_IDEMPOTENCY_KEY": "k-died-ready"}
    with (
        mock.patch.object(checkout_service, "idempotency_forget", side_effect=RuntimeError),
        pytest.raises(RuntimeError),
    ):
        checkout(member_client, [(product.id, 1)], gateway="kakaopay", **key)
    failed = PaymentEvent.objects.get()
    assert failed.status == "FAILURE"

    replay = checkout(member_client, [(product.id, 1)], gateway="kakaopay", **key)

    assert replay.status_code == 503 and replay.json()["code"] == "GATEWAY_UNAVAILABLE"
    kakao.http.delete(f"{kakao.base}/sandbox/faults")
    again = checkout(member_client, [(product.id, 1)], gateway="kakaopay", **key)
    assert again.status_code == 201 and again.json()["orderId"] != failed.order_id
    assert again.json()["redirectUrl"]


def test_k3_a_refused_approval_fails_and_gives_the_stock_back(member_client, kakao, product):
    answer, _, pg_token = ready(member_client, kakao, product)
    kakao.fault(
        gateway="kakaopay", operation="approve", orderId=answer["orderId"], errorCode="-780"
    )

    response = confirm(member_client, answer["orderId"], pg_token, 10000)

    assert response.status_code == 400 and response.json()["pgCode"] == "-780"
    product.refresh_from_db()
    assert product.stock == 10


def test_a_transient_error_is_retried_with_the_same_token(member_client, kakao, product):
    answer, _, pg_token = ready(member_client, kakao, product)
    kakao.fault(
        gateway="kakaopay",
        operation="approve",
        orderId=answer["orderId"],
        errorCode="-9",
        httpStatus=500,
        count=1,
    )

    response = confirm(member_client, answer["orderId"], pg_token, 10000)

    assert response.json()["status"] == "SUCCESS"
    assert record(kakao, answer["orderId"])["sandbox"]["approvals"] == 1


def test_k4_a_lost_approval_is_found_by_the_order_lookup(member_client, kakao, product):
    answer, _, pg_token = ready(member_client, kakao, product)
    kakao.fault(
        gateway="kakaopay",
        operation="approve",
        orderId=answer["orderId"],
        dropResponseAfterCommit=True,
    )

    response = confirm(member_client, answer["orderId"], pg_token, 10000)

    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    assert record(kakao, answer["orderId"])["sandbox"]["approvals"] == 1


def test_k4_a_duplicate_approval_is_resolved_by_the_lookup(member_client, kakao, product, settings):
    from gateways.kakaopay.client import KakaoPayClient

    answer, tid, pg_token = ready(member_client, kakao, product)
    config = settings.PAYMENT_GATEWAYS["kakaopay"]
    client = KakaoPayClient(
        api_base=config["API_BASE"],
        secret_key=config["SECRET_KEY"],
        cid=config["CID"],
        connect_timeout=1,
        read_timeout=5,
    )
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    first = client.approve(
        tid=tid,
        order_id=answer["orderId"],
        user_id=str(event.buyer_id),
        pg_token=pg_token,
        total_amount=10000,
    )
    assert first.status == 200

    response = confirm(member_client, answer["orderId"], pg_token, 10000)

    assert response.json()["status"] == "SUCCESS"
    assert record(kakao, answer["orderId"])["sandbox"]["approvals"] == 1


def test_an_approval_that_never_happened_is_confirmed_by_recovery(member_client, kakao, product):
    answer, _, pg_token = ready(member_client, kakao, product)
    kakao.fault(
        gateway="kakaopay",
        operation="approve",
        orderId=answer["orderId"],
        timeout=True,
        holdSeconds=3,
        count=1,
    )

    response = confirm(member_client, answer["orderId"], pg_token, 10000)
    assert response.status_code == 202
    PaymentEvent.objects.filter(order_id=answer["orderId"]).update(next_attempt_at=timezone.now())
    call_command("recover_payments")

    assert PaymentEvent.objects.get(order_id=answer["orderId"]).status == "SUCCESS"
    assert record(kakao, answer["orderId"])["sandbox"]["approvals"] == 1


def test_a_checkout_that_died_before_ready_answered_is_finished_by_its_replay(
    member_client, kakao, product
):
    first = checkout(
        member_client, [(product.id, 1)], gateway="kakaopay", HTTP_IDEMPOTENCY_KEY="died"
    ).json()
    # As if the web process died after the payment's commit and before ready answered.
    PaymentEvent.objects.filter(order_id=first["orderId"]).update(payment_key=None)
    record_ = IdempotencyRecord.objects.get(key="died")
    record_.response_body = {k: v for k, v in first.items() if k != "redirectUrl"}
    record_.save()

    again = checkout(
        member_client, [(product.id, 1)], gateway="kakaopay", HTTP_IDEMPOTENCY_KEY="died"
    ).json()

    assert again["orderId"] == first["orderId"] and again["redirectUrl"]
    tid = PaymentEvent.objects.get(order_id=first["orderId"]).payment_key
    assert (
        tid
        and confirm(member_client, first["orderId"], pay_in_kakaotalk(kakao, tid), 5000).json()[
            "status"
        ]
        == "SUCCESS"
    )


def test_a_replay_while_ready_is_still_running_is_409_and_asks_no_second_ready(
    member_client, kakao, product
):
    first = checkout(
        member_client, [(product.id, 1)], gateway="kakaopay", HTTP_IDEMPOTENCY_KEY="slow"
    ).json()
    # As if the first request were still waiting for ready: its lease has not run out.
    PaymentEvent.objects.filter(order_id=first["orderId"]).update(
        payment_key=None,
        lease_owner="prepare",
        lease_until=timezone.now() + timedelta(seconds=30),
    )
    record_ = IdempotencyRecord.objects.get(key="slow")
    record_.response_body = {k: v for k, v in first.items() if k != "redirectUrl"}
    record_.save()

    again = checkout(
        member_client, [(product.id, 1)], gateway="kakaopay", HTTP_IDEMPOTENCY_KEY="slow"
    )

    assert again.status_code == 409, again.content
    assert again.json()["code"] == "CHECKOUT_IN_PROGRESS"
    assert int(again["Retry-After"]) >= 1
    assert len(kakao.requests_for(first["orderId"], "ready")) == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_make_one_ready_and_one_window(kakao, product):
    buyer = MemberFactory()
    kakao.fault(gateway="kakaopay", operation="ready", rate=1.0, latencyMs=[800, 800])
    start = threading.Barrier(2)

    def buy(i):
        client = APIClient()
        client.force_authenticate(buyer)
        start.wait()
        response = checkout(
            client, [(product.id, 1)], gateway="kakaopay", HTTP_IDEMPOTENCY_KEY="twice"
        )
        return response.status_code, response.json()

    answers = in_threads(2, 2, buy)

    windows = {a["redirectUrl"] for s, a in answers if s in (200, 201)}
    assert sorted(s for s, _ in answers) in ([201, 409], [200, 201]), answers
    assert len(windows) == 1
    order_id = PaymentEvent.objects.get().order_id
    assert len(kakao.requests_for(order_id, "ready")) == 1
    tid = PaymentEvent.objects.get().payment_key
    assert windows == {next(a["redirectUrl"] for s, a in answers if s == 201)} and tid
