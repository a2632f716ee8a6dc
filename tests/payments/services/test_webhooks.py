"""payments/services/webhooks.py: stored once, answered at once, only the PG's own record counts."""

import json
import time

import pytest

from payments.models import PaymentEvent, PaymentHistory, Refund, WebhookEvent
from payments.services.decisions import Action, Decision
from payments.services.settle import payment_record_outcome
from payments.services.webhooks import webhook_process, webhook_redrive
from products.models import Product
from tests.factories import ProductFactory
from tests.payments.helpers import checkout, confirm, point_gateway_at_sandbox, unknown_payment

pytestmark = [pytest.mark.django_db]

URL = "/api/v1/webhooks/toss"


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def toss_notice(sandbox, payment_key: str, **override) -> bytes:
    """The body Toss sends: PAYMENT_STATUS_CHANGED with the Payment object as data."""
    payment = sandbox.get(payment_key).json() | override
    body = {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-21T10:00:00.000000"}
    return json.dumps(body | {"data": payment}).encode()


def ours(member, order_id: str, gateway: str, amount: int = 1000) -> PaymentEvent:
    """A payment of ours with this orderId (notices about other orders are dropped)."""
    return PaymentEvent.objects.create(
        order_id=order_id,
        buyer=member,
        gateway=gateway,
        order_name="a notice's order",
        total_amount=amount,
        pg_idempotency_key=order_id[-32:],
    )


def post(client, body: bytes, url: str = URL):
    return client.post(url, data=body, content_type="application/json")


def test_a_done_notice_finishes_an_unknown_payment_after_a_pg_lookup(
    client, member_client, sandbox, product
):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    body = toss_notice(sandbox, event.payment_key)
    lookups = len(sandbox.requests_for(event.order_id, "lookup"))

    answer = post(client, body)
    assert answer.status_code == 200
    webhook = WebhookEvent.objects.get(order_id=event.order_id)
    assert (webhook.status, webhook.event_id, webhook.pg_status) == ("RECEIVED", event.pk, "DONE")

    assert webhook_process(webhook_id=webhook.pk) == "PROCESSED"

    event.refresh_from_db()
    assert event.status == "SUCCESS" and event.outbox.count() == 1
    assert len(sandbox.requests_for(event.order_id, "lookup")) == lookups + 1
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.to_status, last.actor) == ("SUCCESS", "webhook")
    webhook.refresh_from_db()
    assert webhook.processed_at is not None and "SUCCESS" in webhook.note


def test_a_duplicate_delivery_is_stored_once(client, member_client, sandbox, product):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    body = toss_notice(sandbox, event.payment_key)

    assert post(client, body).status_code == 200
    assert post(client, body).status_code == 200

    assert WebhookEvent.objects.filter(order_id=event.order_id).count() == 1


def test_a_forged_abort_cannot_fail_what_the_pg_approved(client, member_client, sandbox, product):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    body = toss_notice(sandbox, event.payment_key, status="ABORTED", lastTransactionKey="forged")

    post(client, body)
    webhook_process(webhook_id=WebhookEvent.objects.get(order_id=event.order_id).pk)

    event.refresh_from_db()
    assert event.status == "SUCCESS"  # what the PG's record says, not the notice
    assert sandbox.record(event.order_id)["sandbox"]["approvals"] == 1
    assert not event.history.filter(to_status="FAILURE").exists()


def test_out_of_order_notices_follow_the_pg_not_the_notice(client, member_client, sandbox, product):
    answer = checkout(member_client, [(product.id, 1)]).json()
    key = sandbox.authorize(answer["orderId"], 5000)
    assert confirm(member_client, answer["orderId"], key, 5000).status_code == 200
    late_abort = toss_notice(sandbox, key, status="ABORTED", lastTransactionKey="older")

    post(client, late_abort)
    status = webhook_process(webhook_id=WebhookEvent.objects.get(order_id=answer["orderId"]).pk)

    # A finished payment is compared with the PG's record, which says it is approved.
    assert status == "PROCESSED"
    assert PaymentEvent.objects.get(order_id=answer["orderId"]).status == "SUCCESS"
    assert "in line with the PG" in WebhookEvent.objects.get(order_id=answer["orderId"]).note


def test_a_notice_for_an_unknown_order_is_answered_200_and_dropped(client, sandbox):
    order_id, key = sandbox.paid(7000)

    answer = post(client, toss_notice(sandbox, key))

    assert answer.status_code == 200
    assert not WebhookEvent.objects.filter(order_id=order_id).exists()


def test_twenty_forged_notices_of_1_mb_are_refused_before_they_are_read(client):
    body = json.dumps(
        {
            "eventType": "PAYMENT_STATUS_CHANGED",
            "data": {"orderId": "ord-x", "paymentKey": "k", "status": "DONE", "x": "a" * 1_040_000},
        }
    ).encode()

    answers = [post(client, body) for _ in range(20)]

    assert {a.status_code for a in answers} == {413}
    assert WebhookEvent.objects.count() == 0


def test_forged_notices_never_spend_the_recovery_budget(
    client, member_client, sandbox, product, settings
):
    """Nine notices about one UNKNOWN payment, while the PG's lookups fail: its attempts
    and schedule stay where recovery left them, and it never reaches NEEDS_ATTENTION."""
    settings.RECOVERY_BACKOFF_SECONDS = [30, 60, 120]
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    PaymentEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
    notices = [
        toss_notice(sandbox, event.payment_key, lastTransactionKey=f"forged-{n}") for n in range(9)
    ]
    sandbox.fault(operation="lookup", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")
    settings.WEBHOOK_RECHECK_INTERVAL_SECONDS = 0  # every notice gets its look at the PG

    for body in notices:
        assert post(client, body).status_code == 200
    for webhook in WebhookEvent.objects.filter(order_id=event.order_id):
        webhook_process(webhook_id=webhook.pk)

    event.refresh_from_db()
    assert (event.status, event.retry_count, event.next_attempt_at) == ("UNKNOWN", 0, None)
    assert WebhookEvent.objects.filter(order_id=event.order_id).count() == 9


def test_notices_about_one_order_prompt_one_look_per_interval(
    client, member_client, sandbox, product
):
    event = unknown_payment(member_client, sandbox, product, timeout=True, holdSeconds=1)
    notices = [
        toss_notice(sandbox, event.payment_key, lastTransactionKey=f"n-{n}") for n in range(5)
    ]
    lookups = len(sandbox.requests_for(event.order_id, "lookup"))

    for body in notices:
        post(client, body)
    statuses = [
        webhook_process(webhook_id=w.pk)
        for w in WebhookEvent.objects.filter(order_id=event.order_id).order_by("id")
    ]

    assert len(sandbox.requests_for(event.order_id, "lookup")) == lookups + 1
    assert statuses == ["PROCESSED"] + ["IGNORED"] * 4
    assert "looked at lately" in WebhookEvent.objects.filter(order_id=event.order_id).last().note


@pytest.mark.parametrize(
    "body, code",
    [
        (b"not json", "INVALID_REQUEST"),
        (b"[1, 2]", "INVALID_REQUEST"),
        (b'{"eventType": "PAYMENT_STATUS_CHANGED"}', "INVALID_REQUEST"),
        (b'{"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": 5}}', "INVALID_REQUEST"),
        (b"[" * 20_000 + b"]" * 20_000, "INVALID_REQUEST"),
        (
            b'{"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": "\\ud800",'
            b' "paymentKey": "k", "status": "DONE"}}',
            "INVALID_REQUEST",
        ),
        (b'{"eventType": NaN}', "INVALID_REQUEST"),
    ],
    ids=["not-json", "array", "no-data", "wrong-type", "deep", "lone-surrogate", "nan"],
)
def test_a_body_toss_could_not_have_sent_is_a_400(client, body, code):
    answer = post(client, body)
    assert answer.status_code == 400 and answer.json()["code"] == code
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("gateway", ["kakaopay", "paypal"])
def test_gateways_without_webhooks_are_refused(client, gateway):
    answer = post(client, b"{}", url=f"/api/v1/webhooks/{gateway}")
    assert answer.status_code == 400 and answer.json()["code"] == "UNSUPPORTED_GATEWAY"


def test_nicepay_gets_the_ok_body_it_requires(client, settings, sandbox, member):
    point_gateway_at_sandbox(settings, sandbox, "nicepay")
    ours(member, "ord-nice-1", "nicepay")
    body = {"tid": "nictest-1", "orderId": "ord-nice-1", "status": "paid", "amount": 1000}

    answer = post(client, json.dumps(body).encode(), url="/api/v1/webhooks/nicepay")

    assert answer.status_code == 200
    assert answer.content == b"OK" and answer["Content-Type"].startswith("text/html")
    assert WebhookEvent.objects.get(gateway="nicepay").event_key == "nictest-1:paid:"


def test_the_redrive_processes_what_no_worker_did(client, member_client, sandbox, product):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    post(client, toss_notice(sandbox, event.payment_key))
    WebhookEvent.objects.update(
        received_at=WebhookEvent.objects.get().received_at.replace(year=2025)
    )

    assert webhook_redrive() == 1
    assert WebhookEvent.objects.get().status == "PROCESSED"
    assert PaymentEvent.objects.get(pk=event.pk).status == "SUCCESS"


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_delivers_to_the_endpoint(live_server, sandbox, member):
    """The real thing: Toss's sandbox posts its own webhook to the running app."""
    sandbox.webhooks(f"{live_server.url}{URL}")
    order_id = sandbox.new_order_id()
    ours(member, order_id, "toss", amount=9000)
    key = sandbox.authorize(order_id, 9000)
    assert sandbox.confirm(key, order_id, 9000).status_code == 200

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not WebhookEvent.objects.filter(order_id=order_id):
        time.sleep(0.1)

    webhook = WebhookEvent.objects.get(order_id=order_id)
    assert (webhook.event_type, webhook.pg_status) == ("PAYMENT_STATUS_CHANGED", "DONE")
    deliveries = sandbox.deliveries(order_id)
    assert deliveries and deliveries[0]["attempts"][-1]["status"] == 200


# --- cancels made in the PG's dashboard, seen through a notice ---------------------------


def _paid(member_client, sandbox, product, quantity=2):
    answer = checkout(member_client, [(product.id, quantity)]).json()
    key = sandbox.authorize(answer["orderId"], 5000 * quantity)
    assert confirm(member_client, answer["orderId"], key, 5000 * quantity).status_code == 200
    return PaymentEvent.objects.get(order_id=answer["orderId"])


def _notice_processed(client, sandbox, event) -> str:
    post(client, toss_notice(sandbox, event.payment_key))
    webhook = WebhookEvent.objects.filter(order_id=event.order_id).order_by("-id").first()
    webhook_process(webhook_id=webhook.pk)
    return WebhookEvent.objects.get(pk=webhook.pk).note


def test_a_full_cancel_made_at_the_pg_refunds_the_whole_order(
    client, member_client, sandbox, product
):
    event = _paid(member_client, sandbox, product)
    assert sandbox.cancel(event.payment_key, {"cancelReason": "대시보드 취소"}).status_code == 200

    note = _notice_processed(client, sandbox, event)

    assert "1 cancel(s) made at the PG recorded" in note
    event.refresh_from_db()
    assert (event.status, event.canceled_amount) == ("CANCELED", 10000)
    refund = Refund.objects.get(event=event)
    assert (refund.actor, refund.status, refund.restock) == ("pg", "SUCCEEDED", True)
    # Never REQUESTED: nothing could ever send the PG's own cancel again.
    assert refund.history.first().to_status == "EXECUTING"
    assert Product.objects.get(pk=product.pk).stock == 10
    # The same notice again, or another look: nothing more.
    PaymentEvent.objects.filter(pk=event.pk).update(status="PARTIAL_CANCELED")  # force a look
    WebhookEvent.objects.update(rechecked=False)
    _notice_processed(client, sandbox, event)
    assert Refund.objects.filter(event=event).count() == 1


def test_a_partial_cancel_made_at_the_pg_waits_for_an_operator_with_its_money_held(
    client, member_client, sandbox, product
):
    event = _paid(member_client, sandbox, product)
    body = {"cancelReason": "부분 취소", "cancelAmount": 3000}
    assert sandbox.cancel(event.payment_key, body).status_code == 200

    _notice_processed(client, sandbox, event)

    refund = Refund.objects.get(event=event)
    assert (refund.actor, refund.status, refund.pg_amount) == ("pg", "NEEDS_ATTENTION", 3000)
    event.refresh_from_db()
    assert (event.status, event.refund_reserved) == ("SUCCESS", 3000)
    # What is left can still be refunded, and no more.
    assert (
        member_client.post(
            f"/api/v1/payments/{event.order_id}/cancel", {"amount": 7001}, format="json"
        ).status_code
        == 409
    )


def test_a_failed_payment_the_pg_approved_is_refunded_once_its_stock_is_back(
    client, member_client, sandbox, product
):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    failed = Decision(Action.FAILURE, "PG_NO_RECORD")
    assert payment_record_outcome(event=event, decision=failed, actor="worker", froms={"UNKNOWN"})

    _notice_processed(client, sandbox, event)

    refund = Refund.objects.get(event=event)
    assert (refund.actor, refund.status, refund.pg_amount) == ("system", "REQUESTED", 5000)
    assert PaymentEvent.objects.get(pk=event.pk).status == "FAILURE"
