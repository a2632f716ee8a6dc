"""Refund recovery against the PG sandbox: a refund whose answer was lost ends known,
with exactly one cancel at the PG, whether the PG had cancelled or not."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from payments.models import PaymentEvent, Refund
from payments.services import refund_recovery
from payments.services.decisions import Action, Decision
from payments.services.refund import refund_execute
from payments.services.refund_recovery import refund_recover, refund_recovery_claim
from payments.services.refund_request import refund_request
from payments.services.settle import payment_record_outcome
from products.models import Product
from tests.factories import ProductFactory, SellerFactory
from tests.payments.helpers import unknown_payment
from tests.payments.refund_helpers import cancel, fault, paid, pg_cancelled

pytestmark = [pytest.mark.django_db]

GATEWAYS = ["toss", "nicepay", "kakaopay"]


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10, seller=SellerFactory(commission_rate="0.10"))


@pytest.fixture(autouse=True)
def every_gateway(gateways):
    """NicePay and KakaoPay at the sandbox too."""


def clear_faults(sandbox) -> None:
    sandbox.http.delete(f"{sandbox.base}/sandbox/faults", timeout=5)


def recover_all(owner="test") -> list[str]:
    Refund.objects.filter(status="UNKNOWN").update(next_attempt_at=timezone.now())
    claimed = refund_recovery_claim(owner=owner, limit=50)
    return [refund_recover(refund_id=i, owner=owner) for i in claimed]


def unknown_refund(member_client, sandbox, product, gateway, **spec) -> tuple[PaymentEvent, Refund]:
    event = paid(member_client, sandbox, [(product.id, 2)], gateway)
    fault(sandbox, event, operation="cancel", **spec)
    one = {"items": [{"productId": product.id, "quantity": 1}]}
    answer = cancel(member_client, event.order_id, one)
    assert answer.status_code == 202, answer.content
    clear_faults(sandbox)
    return event, Refund.objects.get(event=event)


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_cancel_the_pg_made_but_whose_answer_was_lost_is_found(
    member_client, sandbox, product, gateway
):
    event, refund = unknown_refund(
        member_client, sandbox, product, gateway, count=1, dropResponseAfterCommit=True
    )
    assert pg_cancelled(sandbox, event) == [5000]

    assert recover_all() == ["SUCCEEDED"]

    refund.refresh_from_db()
    assert (refund.status, bool(refund.pg_transaction_key)) == ("SUCCEEDED", True)
    assert refund.history.last().reason == "PG_CANCEL_FOUND"
    assert pg_cancelled(sandbox, event) == [5000]  # found, not sent again
    event.refresh_from_db()
    assert (event.status, event.canceled_amount, event.refund_reserved) == (
        "PARTIAL_CANCELED",
        5000,
        0,
    )
    assert Product.objects.get(pk=product.pk).stock == 9


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_cancel_that_never_reached_the_pg_is_sent_again_once(
    member_client, sandbox, product, gateway
):
    # Every attempt of the request fails before the PG does anything.
    event, refund = unknown_refund(
        member_client, sandbox, product, gateway, count=5, failBeforeCommit=True
    )
    assert pg_cancelled(sandbox, event) == []

    assert recover_all() == ["SUCCEEDED"]

    assert pg_cancelled(sandbox, event) == [5000]
    refund.refresh_from_db()
    assert refund.history.last().reason == "PG_CANCELED"
    assert Product.objects.get(pk=product.pk).stock == 9


def test_a_refund_left_requested_by_a_dead_process_is_sent_by_recovery(
    member_client, sandbox, product
):
    event = paid(member_client, sandbox, [(product.id, 2)])
    refund = refund_request(event=event, actor="buyer", reason="test", amount=3000, key="rf-dead-1")
    Refund.objects.filter(pk=refund.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert recover_all() == ["SUCCEEDED"]
    assert pg_cancelled(sandbox, event) == [3000]


def test_a_refund_whose_sender_died_before_the_pg_call_is_sent_once(
    member_client, sandbox, product
):
    event = paid(member_client, sandbox, [(product.id, 2)])
    refund = refund_request(event=event, actor="buyer", reason="test", amount=3000, key="rf-dead-2")
    Refund.objects.filter(pk=refund.pk).update(
        status="EXECUTING", updated_at=timezone.now() - timedelta(hours=1)
    )

    assert recover_all() == ["SUCCEEDED"]
    assert recover_all() == []  # nothing left in doubt
    assert pg_cancelled(sandbox, event) == [3000]


def test_a_refund_the_pg_cannot_be_asked_about_waits_then_needs_an_operator(
    member_client, sandbox, product, settings
):
    event, refund = unknown_refund(
        member_client, sandbox, product, "toss", count=1, dropResponseAfterCommit=True
    )
    fault(sandbox, event, operation="lookup", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")

    assert recover_all() == ["UNKNOWN"]
    refund.refresh_from_db()
    assert refund.retry_count == 1 and refund.next_attempt_at > timezone.now()
    Refund.objects.filter(pk=refund.pk).update(
        retry_count=len(settings.RECOVERY_BACKOFF_SECONDS) - 1
    )

    assert recover_all() == ["NEEDS_ATTENTION"]
    assert recover_all() == []
    event.refresh_from_db()
    assert (event.status, event.refund_reserved) == ("SUCCESS", 5000)  # still held


def test_two_recoverers_never_hold_one_refund(member_client, sandbox, product):
    unknown_refund(member_client, sandbox, product, "toss", count=1, dropResponseAfterCommit=True)
    Refund.objects.update(next_attempt_at=timezone.now())

    first = refund_recovery_claim(owner="a", limit=10)
    second = refund_recovery_claim(owner="b", limit=10)

    assert len(first) == 1 and second == []
    assert refund_recover(refund_id=first[0], owner="b") == "UNKNOWN"  # not b's: untouched
    assert refund_recover(refund_id=first[0], owner="a") == "SUCCEEDED"


def test_a_false_failure_whose_stock_is_back_is_refunded_by_itself(
    member_client, sandbox, product, json_log
):
    # The PG approved it; we never heard, recorded FAILURE, and sold its stock again.
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    failed = Decision(Action.FAILURE, "PG_NO_RECORD")
    assert payment_record_outcome(event=event, decision=failed, actor="worker", froms={"UNKNOWN"})
    assert Product.objects.get(pk=product.pk).stock == 10

    approved = Decision(Action.SUCCESS, "PG_APPROVED")
    assert not payment_record_outcome(
        event=event, decision=approved, actor="webhook", froms={"FAILURE"}
    )

    refund = Refund.objects.get(event=event)
    assert (refund.status, refund.actor, refund.pg_amount) == ("REQUESTED", "system", 5000)
    assert refund_execute(refund_id=refund.pk, actor="system").status == "SUCCEEDED"
    assert pg_cancelled(sandbox, event) == [5000]
    event.refresh_from_db()
    assert (event.status, event.canceled_amount, event.refund_reserved) == ("FAILURE", 5000, 0)
    assert event.history.last().reason == "FALSE_FAILURE_REFUNDED"
    assert Product.objects.get(pk=product.pk).stock == 10  # sold again, not restocked twice
    # Found again (a second look at the PG): the same refund, nothing more.
    assert not payment_record_outcome(
        event=event, decision=approved, actor="webhook", froms={"FAILURE"}
    )
    assert Refund.objects.filter(event=event).count() == 1
    assert pg_cancelled(sandbox, event) == [5000]


def test_a_false_failures_refund_the_pg_refuses_needs_an_operator(member_client, sandbox, product):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    failed = Decision(Action.FAILURE, "PG_NO_RECORD")
    assert payment_record_outcome(event=event, decision=failed, actor="worker", froms={"UNKNOWN"})
    approved = Decision(Action.SUCCESS, "PG_APPROVED")
    payment_record_outcome(event=event, decision=approved, actor="webhook", froms={"FAILURE"})
    refund = Refund.objects.get(event=event)
    sandbox.fault(operation="cancel", orderId=event.order_id, errorCode="NOT_CANCELABLE_PAYMENT")

    assert refund_execute(refund_id=refund.pk, actor="system").status == "NEEDS_ATTENTION"
    event.refresh_from_db()
    assert event.refund_reserved == 5000  # held until a person decides


def test_a_cancel_sent_again_and_refused_stays_in_doubt(member_client, sandbox, product):
    # NicePay refuses a cancel orderId it saw before: proof of nothing, since our look at
    # the PG may have missed the first. The money stays reserved; recovery looks again.
    event, refund = unknown_refund(
        member_client, sandbox, product, "nicepay", count=5, failBeforeCommit=True
    )
    fault(sandbox, event, operation="cancel", count=1, errorCode="2012")

    assert recover_all() == ["UNKNOWN"]
    assert refund.history.last().reason == "PG_REFUSED_RESEND"
    assert PaymentEvent.objects.get(pk=event.pk).refund_reserved == 5000
    assert recover_all() == ["SUCCEEDED"]
    assert pg_cancelled(sandbox, event) == [5000]


def test_a_refund_whose_recording_fails_counts_the_attempt_and_the_batch_goes_on(
    member_client, sandbox, product, settings
):
    _, broken = unknown_refund(
        member_client, sandbox, product, "toss", count=1, dropResponseAfterCommit=True
    )
    _, fine = unknown_refund(
        member_client,
        sandbox,
        ProductFactory(price=5000, stock=10),
        "toss",
        count=1,
        dropResponseAfterCommit=True,
    )
    Refund.objects.update(next_attempt_at=timezone.now())
    claimed = refund_recovery_claim(owner="t", limit=10)
    real = refund_recovery.refund_recover

    def recover(*, refund_id, owner, actor):
        if refund_id == broken.pk:
            raise RuntimeError("a bug")
        return real(refund_id=refund_id, owner=owner, actor=actor)

    with mock.patch.object(refund_recovery, "refund_recover", recover):
        refund_recovery.refund_recover_many(refund_ids=claimed, owner="t")

    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.status, broken.retry_count, broken.lease_owner) == ("UNKNOWN", 1, "")
    assert fine.status == "SUCCEEDED"
