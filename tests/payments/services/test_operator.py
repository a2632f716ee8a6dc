"""payments/services/operator.py: re-check, resolve, retry the stock restore (via the admin)."""

import pytest
from django.contrib.admin.models import LogEntry

from payments.models import CompensationJob, PaymentEvent, PaymentHistory, Refund
from products.models import Product
from tests.factories import ProductFactory
from tests.payments.admin_helpers import ADMIN, needs_attention, never_authorized, operate
from tests.payments.helpers import unknown_payment
from tests.payments.refund_helpers import paid

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def test_recheck_finishes_an_unknown_payment_the_pg_approved(
    client, operator, member_client, sandbox, product
):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)

    page = operate(client, event, "recheck")

    event.refresh_from_db()
    assert event.status == "SUCCESS"
    assert "re-checked: now SUCCESS" in page.content.decode()
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.to_status, last.actor) == ("SUCCESS", operator.email)
    entry = LogEntry.objects.get(object_id=str(event.pk))
    assert entry.user == operator and "Re-check with the PG now" in entry.change_message


def test_recheck_of_needs_attention_records_the_pgs_approval(
    client, operator, member_client, sandbox, product
):
    event = needs_attention(member_client, sandbox, product, dropResponseAfterCommit=True)

    operate(client, event, "recheck")

    event.refresh_from_db()
    assert event.status == "SUCCESS" and event.outbox.count() == 1
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.from_status, last.reason, last.actor) == (
        "NEEDS_ATTENTION",
        "PG_APPROVED",
        operator.email,
    )


def test_a_recheck_that_changes_nothing_still_leaves_a_note(
    client, operator, member, sandbox, product
):
    event = never_authorized(member, product, status="FAILURE")

    page = operate(client, event, "recheck")

    assert "still FAILURE" in page.content.decode()
    note = PaymentHistory.objects.filter(event=event).last()
    assert (note.from_status, note.to_status, note.reason, note.actor) == (
        "FAILURE",
        "FAILURE",
        "OPERATOR_RECHECK",
        operator.email,
    )


def test_resolve_refuses_to_fail_what_the_pg_approved(
    client, operator, member_client, sandbox, product
):
    event = needs_attention(member_client, sandbox, product, dropResponseAfterCommit=True)
    stock = Product.objects.get(pk=product.pk).stock

    page = operate(client, event, "resolve_failed")

    event.refresh_from_db()
    assert event.status == "NEEDS_ATTENTION"
    assert "refused: the PG approved it" in page.content.decode()
    assert Product.objects.get(pk=product.pk).stock == stock
    note = PaymentHistory.objects.filter(event=event).last()
    assert (note.reason, note.actor) == ("OPERATOR_RESOLVE_REFUSED", operator.email)
    assert not CompensationJob.objects.filter(event=event).exists()


def test_resolve_fails_what_the_pg_never_saw_and_restores_stock(
    client, operator, member, sandbox, product
):
    event = never_authorized(member, product)  # past the PG's window, no PG record
    assert Product.objects.get(pk=product.pk).stock == 9

    operate(client, event, "resolve_failed")

    event.refresh_from_db()
    assert event.status == "FAILURE"
    assert Product.objects.get(pk=product.pk).stock == 10
    assert CompensationJob.objects.get(event=event).restored
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.from_status, last.to_status, last.reason, last.actor) == (
        "NEEDS_ATTENTION",
        "FAILURE",
        "OPERATOR_RESOLVED_FAILED",
        operator.email,
    )


def test_resolve_waits_while_the_pg_may_still_record_it(client, operator, member, sandbox, product):
    event = never_authorized(member, product, age_minutes=1)  # inside the PG's window

    page = operate(client, event, "resolve_failed")

    assert PaymentEvent.objects.get(pk=event.pk).status == "NEEDS_ATTENTION"
    assert "may still get one" in page.content.decode()


def test_retry_compensation_restores_the_stock_once(client, operator, member, sandbox, product):
    event = never_authorized(member, product, status="FAILURE")
    CompensationJob.objects.filter(event=event).update(last_error="OperationalError: deadlock")

    first = operate(client, event, "retry_compensation")
    second = operate(client, event, "retry_compensation")

    assert "stock restore: restored" in first.content.decode()
    assert "no stock restore is owed" in second.content.decode()
    assert Product.objects.get(pk=product.pk).stock == 10
    job = CompensationJob.objects.get(event=event)
    assert job.status == "DONE" and job.restored
    note = PaymentHistory.objects.filter(event=event).last()
    assert (note.reason, note.actor) == ("OPERATOR_COMPENSATION_RESTORED", operator.email)


def test_the_bulk_action_runs_for_each_selected_payment(client, operator, member, sandbox):
    events = [never_authorized(member, ProductFactory(stock=5)) for _ in range(3)]

    client.post(
        ADMIN,
        {"action": "resolve_failed", "_selected_action": [e.pk for e in events]},
        follow=True,
    )

    assert set(
        PaymentEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("status", flat=True)
    ) == {"FAILURE"}
    assert LogEntry.objects.filter(user=operator).count() == 3


def test_a_bulk_action_handles_at_most_fifty_and_says_so(
    client, operator, member, sandbox, monkeypatch
):
    from payments.admin import PaymentEventAdmin

    monkeypatch.setattr(PaymentEventAdmin, "MAX_BULK", 2)
    events = [never_authorized(member, ProductFactory(stock=5)) for _ in range(3)]

    page = client.post(
        ADMIN, {"action": "resolve_failed", "_selected_action": [e.pk for e in events]}, follow=True
    )

    statuses = [PaymentEvent.objects.get(pk=e.pk).status for e in events]
    assert statuses == ["FAILURE", "FAILURE", "NEEDS_ATTENTION"]
    assert "Only the first 2 selected payments were handled" in page.content.decode()


def test_a_recheck_of_a_paid_payment_records_a_cancel_made_at_the_pg(
    client, operator, member_client, sandbox, product
):
    event = paid(member_client, sandbox, [(product.id, 2)])
    assert sandbox.cancel(event.payment_key, {"cancelReason": "대시보드"}).status_code == 200

    page = operate(client, event, "recheck")

    assert "1 cancel(s) made at the PG recorded; now CANCELED" in page.content.decode()
    refund = Refund.objects.get(event=event)
    assert (refund.actor, refund.status) == ("pg", "SUCCEEDED")
    assert Product.objects.get(pk=product.pk).stock == 10
