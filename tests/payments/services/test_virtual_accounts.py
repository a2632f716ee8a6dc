"""Virtual accounts (가상계좌) end to end through our API and the Toss sandbox (T-27):
issued -> AWAITING_DEPOSIT with the account; the deposit's notices -> SUCCESS through the
one settle path; the due date -> FAILURE with stock back; the reversal; what recovery
and the deposit watch do. (The sandbox's own behaviour: tests/gateways/sandbox.)"""

import json
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from ledger.check import ledger_check
from ledger.models import JournalEntry
from payments.models import PaymentDetail, PaymentEvent, PaymentHistory, Refund, WebhookEvent
from payments.selectors import payment_operations_summary
from payments.services.deposits import deposit_watch
from payments.services.details import secret_digest
from payments.services.reconcile import reconcile_day
from payments.services.recovery import recovery_claim
from payments.services.refund import refund_execute
from payments.services.refund_recovery import refund_recover, refund_recovery_claim
from payments.services.webhooks import webhook_process
from products.models import Product
from tests.factories import ProductFactory
from tests.payments.helpers import confirm, transitions
from tests.payments.refund_helpers import relay_all
from tests.sandbox import Receiver

pytestmark = [pytest.mark.django_db]

WEBHOOK = "/api/v1/webhooks/toss"


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


@pytest.fixture
def receiver(sandbox):
    r = Receiver()
    sandbox.webhooks(r.url)
    yield r
    r.close()


def checkout_va(client, product, quantity=1, **extra):
    body = {
        "gateway": "toss",
        "method": "VIRTUAL_ACCOUNT",
        "items": [{"productId": product.id, "quantity": quantity}],
        **extra,
    }
    answer = client.post("/api/v1/payments/checkout", body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def issued(member_client, sandbox, product, quantity=1) -> tuple[PaymentEvent, dict]:
    """A virtual account issued through our confirm: (the payment, the confirm's answer)."""
    answer = checkout_va(member_client, product, quantity)
    amount = answer["amount"]
    key = sandbox.authorize(answer["orderId"], amount, method="VIRTUAL_ACCOUNT")
    confirmed = confirm(member_client, answer["orderId"], key, amount)
    assert confirmed.status_code == 200, confirmed.content
    return PaymentEvent.objects.get(order_id=answer["orderId"]), confirmed.json()


def deliveries_to_app(client, receiver, order_id: str, *, wait_for: int) -> list[WebhookEvent]:
    """Post what the sandbox sent about this order to our webhook URL, then process it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        bodies = [b for b in receiver.received if _order(b) == order_id]
        if len(bodies) >= wait_for:
            break
        time.sleep(0.05)
    stored = []
    for body in bodies:
        response = client.post(WEBHOOK, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200
    for webhook in WebhookEvent.objects.filter(order_id=order_id).order_by("id"):
        webhook_process(webhook_id=webhook.pk)
        webhook.refresh_from_db()
        stored.append(webhook)
    return stored


def _order(body: dict) -> str | None:
    return body.get("orderId") or (body.get("data") or {}).get("orderId")


def test_checkout_may_ask_for_a_virtual_account_only_where_the_pg_issues_them(
    member_client, gateways, product
):
    answer = checkout_va(member_client, product)
    assert answer["method"] == "VIRTUAL_ACCOUNT"

    refused = member_client.post(
        "/api/v1/payments/checkout",
        {
            "gateway": "kakaopay",
            "method": "VIRTUAL_ACCOUNT",
            "items": [{"productId": product.id, "quantity": 1}],
        },
        format="json",
    )
    assert refused.status_code == 400 and refused.json()["code"] == "UNSUPPORTED_METHOD"
    bad = member_client.post(
        "/api/v1/payments/checkout",
        {"gateway": "toss", "method": "CASH", "items": [{"productId": product.id, "quantity": 1}]},
        format="json",
    )
    assert bad.status_code == 400 and "method" in bad.json()["fields"]


def test_confirm_records_the_account_and_holds_the_stock(member_client, sandbox, product):
    event, answer = issued(member_client, sandbox, product, quantity=2)

    assert answer["status"] == "AWAITING_DEPOSIT" and answer["approvedAt"] is None
    account = answer["virtualAccount"]
    assert account["accountNumber"].startswith("X") and account["bankCode"]
    assert account["dueDate"]
    assert event.status == "AWAITING_DEPOSIT" and event.deposit_due_at is not None
    assert transitions(event.order_id)[-1] == ("EXECUTING", "AWAITING_DEPOSIT")
    assert Product.objects.get(pk=product.pk).stock == 8  # still held
    # The secret is kept only as its digest; the raw answer has none of it.
    secret = sandbox.get(event.payment_key).json()["secret"]
    detail = PaymentDetail.objects.get(event=event)
    assert detail.deposit_secret_sha256 == secret_digest(secret)
    assert secret not in json.dumps(detail.raw)
    # The API shows the account; a GET says the same.
    got = member_client.get(f"/api/v1/payments/{event.order_id}").json()
    assert got["status"] == "AWAITING_DEPOSIT" and got["method"] == "VIRTUAL_ACCOUNT"
    assert got["virtualAccount"] == account and got["receipt"] is None


def test_recovery_never_confirms_an_awaiting_deposit_again(member_client, sandbox, product):
    event, _ = issued(member_client, sandbox, product)
    confirms = len(sandbox.requests_for(event.order_id, "confirm"))
    PaymentEvent.objects.filter(pk=event.pk).update(updated_at=timezone.now() - timedelta(days=1))

    assert recovery_claim(owner="t", limit=10) == []
    assert recovery_claim(owner="t", limit=1, order_id=event.order_id) == []
    assert len(sandbox.requests_for(event.order_id, "confirm")) == confirms


def test_the_deposit_notices_make_it_success_once(
    client, member_client, sandbox, receiver, product
):
    event, _ = issued(member_client, sandbox, product)
    # The issue's own notice comes first and makes us look (the account is waiting)...
    [issue] = deliveries_to_app(client, receiver, event.order_id, wait_for=1)
    assert issue.rechecked and issue.pg_status == "WAITING_FOR_DEPOSIT"
    # ...and the buyer pays within the minute in which other notices are not looked at:
    # the deposit callback, checked against the account's secret, is acted on at once.
    sandbox.http.post(
        f"{sandbox.base}/sandbox/toss/deposit", json={"orderId": event.order_id}, timeout=5
    ).raise_for_status()

    webhooks = deliveries_to_app(client, receiver, event.order_id, wait_for=3)

    event.refresh_from_db()
    assert event.status == "SUCCESS" and event.approved_at is not None
    assert event.outbox.count() == 1  # the ledger's booking, once
    relay_all()
    assert JournalEntry.objects.filter(kind="GOODS_PAID", reference=event.order_id).count() == 1
    assert ledger_check().ok
    assert transitions(event.order_id)[-1] == ("AWAITING_DEPOSIT", "SUCCESS")
    assert {w.event_type for w in webhooks} >= {"DEPOSIT_CALLBACK", "PAYMENT_STATUS_CHANGED"}
    before = PaymentHistory.objects.filter(event=event).count()
    # Sent again, in any order: nothing changes.
    for body in reversed([b for b in receiver.received if _order(b) == event.order_id]):
        client.post(WEBHOOK, data=json.dumps(body), content_type="application/json")
    for webhook in WebhookEvent.objects.filter(order_id=event.order_id):
        webhook_process(webhook_id=webhook.pk)
    assert PaymentHistory.objects.filter(event=event).count() == before
    assert event.outbox.count() == 1


def test_a_deposit_callback_with_another_secret_is_dropped(client, member_client, sandbox, product):
    event, _ = issued(member_client, sandbox, product)
    forged = {
        "createdAt": "2026-12-04T10:00:00.000000",
        "secret": "not-the-secret",
        "status": "DONE",
        "transactionKey": "forged",
        "orderId": event.order_id,
    }

    response = client.post(WEBHOOK, data=json.dumps(forged), content_type="application/json")

    assert response.status_code == 200  # the PG (or whoever) has nothing to retry
    assert not WebhookEvent.objects.filter(order_id=event.order_id).exists()
    assert PaymentEvent.objects.get(pk=event.pk).status == "AWAITING_DEPOSIT"


def test_the_watch_finds_a_deposit_whose_notice_never_came(member_client, sandbox, product):
    event, _ = issued(member_client, sandbox, product)
    sandbox.http.post(
        f"{sandbox.base}/sandbox/toss/deposit", json={"orderId": event.order_id}, timeout=5
    ).raise_for_status()
    assert deposit_watch() == {"deposited": 0, "expired": 0, "waiting": 0, "other": 0}  # not due

    PaymentEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert deposit_watch()["deposited"] == 1

    assert PaymentEvent.objects.get(pk=event.pk).status == "SUCCESS"


def test_past_its_due_date_it_fails_and_gives_the_stock_back(member_client, sandbox, product):
    event, _ = issued(member_client, sandbox, product, quantity=3)
    assert Product.objects.get(pk=product.pk).stock == 7
    sandbox.advance(73 * 3600)  # past the sandbox's 72 h: the PG expires the account
    PaymentEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now(), deposit_due_at=timezone.now() - timedelta(seconds=1)
    )

    assert deposit_watch()["expired"] == 1

    event.refresh_from_db()
    assert (event.status, event.failure_code) == ("FAILURE", "EXPIRED")
    assert transitions(event.order_id)[-1] == ("AWAITING_DEPOSIT", "FAILURE")
    assert PaymentHistory.objects.filter(event=event).last().reason == "DEPOSIT_EXPIRED"
    assert Product.objects.get(pk=product.pk).stock == 10  # the restore gave it back


def test_still_waiting_before_the_due_date_is_left_and_looked_at_later(
    member_client, sandbox, product
):
    event, _ = issued(member_client, sandbox, product)
    PaymentEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())

    assert deposit_watch()["waiting"] == 1

    event.refresh_from_db()
    assert event.status == "AWAITING_DEPOSIT" and event.next_attempt_at > timezone.now()


def test_a_reversed_deposit_goes_back_to_awaiting_deposit_keeping_the_sale(
    client, member_client, sandbox, receiver, product
):
    event, _ = issued(member_client, sandbox, product)
    base = f"{sandbox.base}/sandbox/toss"
    sandbox.http.post(f"{base}/deposit", json={"orderId": event.order_id}, timeout=5)
    deliveries_to_app(client, receiver, event.order_id, wait_for=3)
    assert PaymentEvent.objects.get(pk=event.pk).status == "SUCCESS"
    receiver.received.clear()
    sandbox.http.post(f"{base}/deposit-reversal", json={"orderId": event.order_id}, timeout=5)
    deliveries_to_app(client, receiver, event.order_id, wait_for=2)  # within the minute

    event.refresh_from_db()
    assert event.status == "AWAITING_DEPOSIT"
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.from_status, last.to_status, last.reason) == (
        "SUCCESS",
        "AWAITING_DEPOSIT",
        "PG_DEPOSIT_REVERSED",
    )
    assert Product.objects.get(pk=product.pk).stock == 9  # the sale and its stock stand
    # Not paid in again by its due date: its sale is booked, so a person decides.
    sandbox.advance(73 * 3600)
    PaymentEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now(), deposit_due_at=timezone.now() - timedelta(hours=1)
    )
    assert deposit_watch()["other"] == 1
    event.refresh_from_db()
    assert event.status == "NEEDS_ATTENTION"
    assert event.history.last().reason == "DEPOSIT_REVERSED_NOT_PAID"
    assert Product.objects.get(pk=product.pk).stock == 9


def deposited(client, member_client, sandbox, receiver, product, quantity=1) -> PaymentEvent:
    event, _ = issued(member_client, sandbox, product, quantity)
    sandbox.http.post(
        f"{sandbox.base}/sandbox/toss/deposit", json={"orderId": event.order_id}, timeout=5
    ).raise_for_status()
    deliveries_to_app(client, receiver, event.order_id, wait_for=3)
    event.refresh_from_db()
    assert event.status == "SUCCESS"
    return event


ACCOUNT = {"bank": "88", "accountNumber": "110123456789", "holderName": "김구매"}


def cancel(member_client, order_id: str, **body):
    return member_client.post(f"/api/v1/payments/{order_id}/cancel", body, format="json")


def test_a_deposited_account_is_refunded_only_to_a_bank_account_given_with_it(
    client, member_client, sandbox, receiver, product
):
    event = deposited(client, member_client, sandbox, receiver, product, quantity=2)

    missing = cancel(member_client, event.order_id)
    assert missing.status_code == 400 and missing.json()["code"] == "REFUND_ACCOUNT_REQUIRED"
    bad = cancel(member_client, event.order_id, refundReceiveAccount={**ACCOUNT, "bank": "99"})
    assert bad.status_code == 400 and "refundReceiveAccount.bank" in bad.json()["fields"]
    dashes = {**ACCOUNT, "accountNumber": "110-123-456789"}
    assert cancel(member_client, event.order_id, refundReceiveAccount=dashes).status_code == 400
    assert not event.refunds.exists()

    done = cancel(member_client, event.order_id, amount=5000, refundReceiveAccount=ACCOUNT)

    assert done.status_code == 200, done.content
    assert done.json()["status"] == "PARTIAL_CANCELED"
    record = sandbox.get(event.payment_key).json()
    # The PG got the account (it keeps it masked); we do not keep it once refunded.
    assert record["virtualAccount"]["refundReceiveAccount"]["accountNumber"].endswith("6789")
    refund = event.refunds.get()
    assert refund.status == "SUCCEEDED" and refund.refund_account_number == ""


def test_an_account_not_paid_in_is_cancelled_whole_and_gives_its_stock_back(
    member_client, sandbox, product
):
    event, _ = issued(member_client, sandbox, product, quantity=2)

    partial = cancel(member_client, event.order_id, amount=1000)
    assert partial.status_code == 409 and partial.json()["code"] == "INVALID_STATE"

    whole = cancel(member_client, event.order_id)

    assert whole.status_code == 200, whole.content
    assert whole.json()["status"] == "FAILURE"
    event.refresh_from_db()
    assert event.status == "FAILURE"
    assert sandbox.get(event.payment_key).json()["status"] == "CANCELED"
    assert Product.objects.get(pk=product.pk).stock == 10


def late_deposit(client, member_client, sandbox, receiver, product) -> PaymentEvent:
    """A virtual account that expired (its stock back on sale), then paid in anyway."""
    event, _ = issued(member_client, sandbox, product)
    sandbox.advance(73 * 3600)
    PaymentEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now(), deposit_due_at=timezone.now() - timedelta(seconds=1)
    )
    assert deposit_watch()["expired"] == 1
    assert Product.objects.get(pk=product.pk).stock == 10  # given back
    receiver.received.clear()
    late = sandbox.http.post(
        f"{sandbox.base}/sandbox/toss/deposit",
        json={"orderId": event.order_id, "late": True},
        timeout=5,
    )
    assert late.status_code == 200, late.text
    deliveries_to_app(client, receiver, event.order_id, wait_for=2)
    event.refresh_from_db()
    return event


def test_a_deposit_after_expiry_is_refunded_to_the_account_the_buyer_gives(
    client, member_client, sandbox, receiver, product
):
    event = late_deposit(client, member_client, sandbox, receiver, product)

    # The PG holds money for goods back on sale: the system refunds it, but a virtual
    # account's money goes back by bank transfer, and nobody has the buyer's account yet:
    # it is not sent (the PG would refuse it) and waits for one.
    assert event.status == "FAILURE"
    refund = event.refunds.get()
    assert (refund.actor, refund.status) == ("system", "AWAITING_ACCOUNT")
    assert refund.history.last().reason == "FALSE_FAILURE"
    refund = refund_execute(refund_id=refund.pk, actor="worker")  # what its task does
    assert refund.status == "AWAITING_ACCOUNT"
    assert sandbox.requests_for(event.order_id, "cancel") == []
    shown = member_client.get(f"/api/v1/payments/{event.order_id}").json()["refunds"]
    assert [r["status"] for r in shown] == ["AWAITING_ACCOUNT"]
    assert payment_operations_summary()["refunds_awaiting_account"] == 1
    assert payment_operations_summary()["refunds_in_doubt"] == 0  # the buyer's move

    missing = cancel(member_client, event.order_id)
    assert missing.status_code == 400 and missing.json()["code"] == "REFUND_ACCOUNT_REQUIRED"
    bad = cancel(member_client, event.order_id, refundReceiveAccount={**ACCOUNT, "bank": "99"})
    assert bad.status_code == 400 and "refundReceiveAccount.bank" in bad.json()["fields"]
    for hostile in ("x", [ACCOUNT], {**ACCOUNT, "accountNumber": "1" * 5000}, {"bank": "88"}):
        refused = cancel(member_client, event.order_id, refundReceiveAccount=hostile)
        assert refused.status_code == 400 and refused.json()["code"] == "INVALID_REQUEST"
    # Another request (the buyer's second tab, an operator) holds it this moment.
    lease = {"lease_owner": "account:ops", "lease_until": timezone.now() + timedelta(seconds=9)}
    Refund.objects.filter(pk=refund.pk).update(**lease)
    busy = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)
    assert busy.status_code == 409 and busy.json()["code"] == "REFUND_IN_PROGRESS"
    assert sandbox.requests_for(event.order_id, "cancel") == []
    Refund.objects.filter(pk=refund.pk).update(lease_owner="", lease_until=None)

    given = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)

    assert given.status_code == 200, given.content
    assert (given.json()["status"], given.json()["refund"]["status"]) == ("FAILURE", "SUCCEEDED")
    record = sandbox.get(event.payment_key).json()
    assert record["status"] == "CANCELED"
    assert record["virtualAccount"]["refundReceiveAccount"]["accountNumber"].endswith("6789")
    refund.refresh_from_db()
    assert (refund.status, refund.refund_account_number, refund.pg_key_generation) == (
        "SUCCEEDED",
        "",
        0,  # never sent before: its first key
    )
    given_row = refund.history.get(reason="REFUND_ACCOUNT_GIVEN")
    assert (given_row.actor, given_row.pg_message) == ("buyer", "bank 88, account ********6789")
    assert PaymentHistory.objects.filter(event=event, reason="FALSE_FAILURE_REFUNDED").exists()
    assert Product.objects.get(pk=product.pk).stock == 10  # nothing sold twice
    assert ledger_check().ok

    again = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)
    assert again.status_code == 200 and again.json()["refund"]["status"] == "SUCCEEDED"
    assert len(sandbox.requests_for(event.order_id, "cancel")) == 1


@pytest.mark.parametrize("replay_errors", [True, False], ids=["toss-keeps-errors", "not"])
def test_a_late_deposits_refund_the_pg_refused_asks_for_an_account_again(
    client, member_client, sandbox, receiver, product, replay_errors
):
    event = late_deposit(client, member_client, sandbox, receiver, product)
    refund = event.refunds.get()
    sandbox.replay_errors(replay_errors)  # whether Toss keeps a refusal under its key
    sandbox.fault(operation="cancel", errorCode="INVALID_REFUND_ACCOUNT_INFO", count=1)

    refused = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)

    assert refused.status_code == 409, refused.content
    assert refused.json()["code"] == "REFUND_REJECTED"
    assert refused.json()["pgCode"] == "INVALID_REFUND_ACCOUNT_INFO"
    refund.refresh_from_db()
    assert (refund.status, refund.refund_account_number) == ("AWAITING_ACCOUNT", "")
    last = refund.history.last()
    assert (last.reason, last.pg_code) == ("SYSTEM_REFUND_REFUSED", "INVALID_REFUND_ACCOUNT_INFO")
    # Sent before: a look at the PG comes first. The PG cannot be asked: nothing is kept,
    # the buyer tries again.
    sandbox.fault(operation="lookup", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")
    unasked = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)
    assert unasked.status_code == 503 and unasked.json()["code"] == "GATEWAY_UNAVAILABLE"
    refund.refresh_from_db()
    assert (refund.status, refund.refund_account_number, refund.lease_owner) == (
        "AWAITING_ACCOUNT",
        "",
        "",
    )
    sandbox.http.delete(f"{sandbox.base}/sandbox/faults")

    # Toss may keep the refusal under the key (and this cancel has another body): it goes
    # under the key's next generation, once a look at the PG shows no cancel of ours.
    given = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)

    assert given.status_code == 200, given.content
    refund.refresh_from_db()
    assert (refund.status, refund.pg_key_generation) == ("SUCCEEDED", 1)
    assert sandbox.get(event.payment_key).json()["status"] == "CANCELED"
    assert len(sandbox.requests_for(event.order_id, "cancel")) == 2
    assert ledger_check().ok


def test_a_late_deposits_refund_refused_after_a_lost_answer_asks_for_an_account_again(
    client, member_client, sandbox, receiver, product
):
    event = late_deposit(client, member_client, sandbox, receiver, product)
    refund = event.refunds.get()
    # The cancel with the account never gets an answer (UNKNOWN); refund recovery looks,
    # finds no cancel of ours and sends it again, and the PG refuses the account then.
    sandbox.fault(operation="cancel", failBeforeCommit=True)  # no request of it lingers
    pending = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)
    assert pending.status_code == 202 and pending.json()["refund"]["status"] == "UNKNOWN"
    sandbox.http.delete(f"{sandbox.base}/sandbox/faults")
    sandbox.fault(operation="cancel", count=1, errorCode="INVALID_REFUND_ACCOUNT_INFO")
    Refund.objects.filter(pk=refund.pk).update(next_attempt_at=timezone.now())

    for refund_id in refund_recovery_claim(owner="t", limit=9):
        refund_recover(refund_id=refund_id, owner="t")

    refund.refresh_from_db()
    assert (refund.status, refund.refund_account_number) == ("AWAITING_ACCOUNT", "")
    assert refund.history.last().reason == "SYSTEM_REFUND_REFUSED"
    given = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)
    assert given.status_code == 200, given.content
    refund.refresh_from_db()
    assert (refund.status, refund.pg_key_generation) == ("SUCCEEDED", 1)
    assert sandbox.get(event.payment_key).json()["status"] == "CANCELED"


def test_an_account_given_before_the_refunds_task_ran_is_used(
    client, member_client, sandbox, receiver, product
):
    """The refund is made waiting for an account, never REQUESTED first, so an account
    given right after the late deposit is recorded (its task not run yet) finds it."""
    event = late_deposit(client, member_client, sandbox, receiver, product)
    given = cancel(member_client, event.order_id, refundReceiveAccount=ACCOUNT)
    assert given.status_code == 200 and given.json()["refund"]["status"] == "SUCCEEDED"


def test_reconciliation_finds_a_deposit_nobody_told_us_about(member_client, sandbox, product):
    event, _ = issued(member_client, sandbox, product)
    sandbox.http.post(
        f"{sandbox.base}/sandbox/toss/deposit", json={"orderId": event.order_id}, timeout=5
    ).raise_for_status()
    day = timezone.now().astimezone(ZoneInfo("Asia/Seoul")).date()

    report = reconcile_day(gateway="toss", day=day)

    assert [(f.kind, f.order_id, f.status) for f in report.new] == [
        ("APPROVED_NOT_SUCCESS", event.order_id, "FIXED")
    ]
    event.refresh_from_db()
    assert event.status == "SUCCESS"
    assert ("AWAITING_DEPOSIT", "SUCCESS") in transitions(event.order_id)
    assert not reconcile_day(gateway="toss", day=day).new  # and nothing the second time
