"""payments/services/settle.py: carrying decisions out, and the one recording of outcomes.

A decline after an attempt with an unseen outcome is checked; an approval for the wrong
amount is cancelled; and whatever is recorded brings what it owes, written once.
"""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from payments.models import CompensationJob, PaymentEvent, PaymentHistory
from payments.services.decisions import Action, Decision, decide_after_confirm
from payments.services.pg import PgRecord, PgStatus, pg_confirm
from payments.services.settle import decision_carry_out, payment_record_outcome
from products.models import Product
from tests.factories import MemberFactory, ProductFactory
from tests.payments.services.conftest import (
    CANCEL_URL,
    CONFIRM_URL,
    LOOKUP_URL,
    toss_error,
    toss_payment,
)

pytestmark = pytest.mark.django_db


def confirm_at_pg(event):
    """Steps 4 and 5 of a confirm: ask the PG, decide on its answer (and carry it out)."""
    return decision_carry_out(event=event, decision=decide_after_confirm(event, pg_confirm(event)))


payment = toss_payment


@responses.activate
def test_a_decline_after_a_5xx_is_looked_up_and_the_approval_wins(event):
    confirm_url = CONFIRM_URL
    responses.post(
        confirm_url, status=500, json={"code": "FAILED_INTERNAL_SYSTEM_PROCESSING", "message": "m"}
    )
    responses.post(confirm_url, status=403, json={"code": "REJECT_CARD_COMPANY", "message": "m"})
    responses.get(LOOKUP_URL, json=payment("DONE"))

    decision = confirm_at_pg(event)

    assert decision.action == Action.SUCCESS


@responses.activate
def test_a_first_time_decline_is_final_without_a_lookup(event):
    responses.post(
        CONFIRM_URL,
        status=403,
        json={"code": "REJECT_CARD_COMPANY", "message": "m"},
    )

    decision = confirm_at_pg(event)

    assert (decision.action, decision.pg_code) == (Action.FAILURE, "REJECT_CARD_COMPANY")
    assert len(responses.calls) == 1


@responses.activate
def test_a_decline_after_a_5xx_that_the_lookup_cannot_confirm_stays_unknown(event):
    confirm_url = CONFIRM_URL
    responses.post(confirm_url, status=500, json={"code": "COMMON_ERROR", "message": "m"})
    responses.post(confirm_url, status=403, json={"code": "REJECT_CARD_COMPANY", "message": "m"})
    responses.get(
        LOOKUP_URL,
        status=500,
        json={"code": "COMMON_ERROR", "message": "m"},
    )

    assert confirm_at_pg(event).action == Action.BACK_OFF  # recorded UNKNOWN


def wrong_amount(event) -> Decision:
    record = PgRecord(
        gateway="toss",
        order_id=event.order_id,
        payment_key="pk-1",
        status=PgStatus.APPROVED,
        raw_status="DONE",
        total_amount=900,
        balance_amount=900,
    )
    return Decision(
        Action.CANCEL_AND_FAIL, "PG_AMOUNT_MISMATCH", "DONE", "PG approved 900", record=record
    )


@responses.activate
def test_an_approval_for_the_wrong_amount_is_cancelled_with_its_own_key_then_fails(event):
    responses.post(CANCEL_URL, json=toss_payment("CANCELED", amount=900))

    decision = decision_carry_out(event=event, decision=wrong_amount(event))

    assert (decision.action, decision.reason) == (Action.FAILURE, "PG_AMOUNT_MISMATCH")
    (call,) = responses.calls
    assert call.request.headers["Idempotency-Key"] == "key-of-this-payment-amount-mismatch"


@responses.activate
def test_an_approval_for_the_wrong_amount_that_will_not_cancel_needs_a_person(event, settings):
    settings.CONFIRM_MAX_ATTEMPTS = 1
    responses.post(CANCEL_URL, status=500, json=toss_error("FAILED_INTERNAL_SYSTEM_PROCESSING"))

    decision = decision_carry_out(event=event, decision=wrong_amount(event))

    assert (decision.action, decision.reason) == (
        Action.NEEDS_ATTENTION,
        "PG_AMOUNT_MISMATCH_NOT_CANCELLED",
    )


def goods_payment(status="EXECUTING", **fields) -> PaymentEvent:
    """A 2-line payment holding stock: 1 x product A (3,000), 2 x product B (2,000)."""
    a, b = ProductFactory(price=3000, stock=9), ProductFactory(price=1000, stock=8)
    event = PaymentEvent.objects.create(
        order_id=f"ord-settle-{a.pk}",
        buyer=MemberFactory(),
        gateway="toss",
        order_name="x",
        total_amount=5000,
        payment_key=f"pk-settle-{a.pk}",
        status=status,
        pg_idempotency_key=f"key-settle-{a.pk}",
        **fields,
    )
    event.lines.create(product=a, seller=a.seller, quantity=1, amount=3000)
    event.lines.create(product=b, seller=b.seller, quantity=2, amount=2000)
    return event


def test_success_writes_its_outbox_once_and_the_instance_matches_the_row():
    event = goods_payment(lease_owner="worker-1", lease_until=timezone.now())
    approved_at = timezone.now() - timedelta(minutes=1)
    success = Decision(Action.SUCCESS, "PG_APPROVED", "DONE", approved_at=approved_at)

    assert payment_record_outcome(event=event, decision=success, actor="test", froms={"EXECUTING"})

    row = PaymentEvent.objects.get(pk=event.pk)
    for field in ("status", "approved_at", "lease_owner", "lease_until", "failure_code"):
        assert getattr(event, field) == getattr(row, field), field
    assert (row.status, row.approved_at, row.lease_owner) == ("SUCCESS", approved_at, "")
    assert list(row.outbox.values_list("kind", "status")) == [("LEDGER", "PENDING")]
    history = PaymentHistory.objects.get(event=row, to_status="SUCCESS")
    assert (history.from_status, history.reason, history.actor) == (
        "EXECUTING",
        "PG_APPROVED",
        "test",
    )
    # Recorded once: a second recording from EXECUTING finds it moved and writes nothing.
    assert not payment_record_outcome(
        event=row, decision=success, actor="test", froms={"EXECUTING"}
    )
    assert row.outbox.count() == 1


def test_failure_owes_one_restore_and_gets_it_at_once():
    event = goods_payment()
    declined = Decision(Action.FAILURE, "PG_DECLINED", "REJECT_CARD_COMPANY", "declined")

    assert payment_record_outcome(event=event, decision=declined, actor="test", froms={"EXECUTING"})

    job = CompensationJob.objects.get(event=event)
    assert (job.status, job.restored) == ("DONE", True)
    stock = sorted(
        Product.objects.filter(paymentorder__event=event).values_list("stock", flat=True)
    )
    assert stock == [9 + 1, 8 + 2]
    assert (event.status, event.failure_code, event.failure_message) == (
        "FAILURE",
        "REJECT_CARD_COMPANY",
        "declined",
    )


def test_a_payment_moved_meanwhile_is_re_read_and_its_lease_given_back():
    event = goods_payment(status="UNKNOWN", lease_owner="worker-1", lease_until=timezone.now())
    PaymentEvent.objects.filter(pk=event.pk).update(status="SUCCESS")  # a webhook got there
    declined = Decision(Action.FAILURE, "PG_DECLINED")

    recorded = payment_record_outcome(
        event=event, decision=declined, actor="worker", froms={"UNKNOWN"}, lease_owner="worker-1"
    )

    assert recorded is False
    assert (event.status, event.lease_owner, event.lease_until) == ("SUCCESS", "", None)
    assert not CompensationJob.objects.filter(event=event).exists()


def test_a_back_off_from_recovery_follows_the_schedule_and_counts_the_attempt(settings):
    settings.RECOVERY_BACKOFF_SECONDS = [10, 600]
    event = goods_payment(status="UNKNOWN")
    before = timezone.now()

    assert payment_record_outcome(
        event=event,
        decision=Decision(Action.BACK_OFF, "PG_UNREACHABLE", "READ_TIMEOUT"),
        actor="worker",
        froms={"UNKNOWN"},
        attempt=2,
    )

    row = PaymentEvent.objects.get(pk=event.pk)
    assert (row.status, row.retry_count) == ("UNKNOWN", 2)
    assert before + timedelta(seconds=300) <= row.next_attempt_at <= before + timedelta(seconds=601)


def test_a_back_off_from_a_confirm_waits_the_first_delay_and_counts_nothing(settings):
    settings.RECOVERY_FIRST_DELAY_SECONDS = 10
    event = goods_payment()
    before = timezone.now()

    assert payment_record_outcome(
        event=event,
        decision=Decision(Action.BACK_OFF, "PG_OUTCOME_UNKNOWN", "READ_TIMEOUT"),
        actor="api",
        froms={"EXECUTING"},
    )

    row = PaymentEvent.objects.get(pk=event.pk)
    assert (row.status, row.retry_count) == ("UNKNOWN", 0)
    assert (
        before + timedelta(seconds=10)
        <= row.next_attempt_at
        <= timezone.now() + timedelta(seconds=10)
    )


def test_a_false_failure_whose_stock_is_back_on_sale_stays_failed(json_log):
    event = goods_payment()
    assert payment_record_outcome(
        event=event,
        decision=Decision(Action.FAILURE, "PG_DECLINED"),
        actor="test",
        froms={"EXECUTING"},
    )  # and its stock went back at once

    approved = Decision(Action.SUCCESS, "PG_APPROVED_FALSE_FAILURE", "DONE")
    assert not payment_record_outcome(
        event=event, decision=approved, actor="beat", froms={"FAILURE"}
    )

    assert PaymentEvent.objects.get(pk=event.pk).status == "FAILURE"
    assert not event.outbox.exists()
    assert any(line["event"] == "false_failure_after_restore" for line in json_log())
