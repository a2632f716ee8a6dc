"""/metrics after real scenarios: the counters moved by what happened, the gauges right."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from payments.models import CompensationJob, OutboxMessage, PaymentEvent
from payments.services.compensation import compensation_restore
from payments.services.relay import relay_book_many, relay_claim
from payments.states import transition
from tests.factories import ProductFactory
from tests.payments.helpers import checkout, confirm, unknown_payment

pytestmark = [pytest.mark.django_db]


def scrape(client) -> dict[tuple, float]:
    """Every sample on /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, name, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=50)


def test_confirm_and_pg_call_counters_follow_a_scenario(client, member_client, sandbox, product):
    before = scrape(client)
    for _ in range(2):  # two approvals
        answer = checkout(member_client, [(product.id, 1)]).json()
        key = sandbox.authorize(answer["orderId"], 5000)
        assert confirm(member_client, answer["orderId"], key, 5000).status_code == 200
    declined = checkout(member_client, [(product.id, 1)]).json()
    key = sandbox.authorize(declined["orderId"], 5000)
    sandbox.fault(operation="confirm", orderId=declined["orderId"], errorCode="REJECT_CARD_PAYMENT")
    assert confirm(member_client, declined["orderId"], key, 5000).status_code == 400
    tampered = checkout(member_client, [(product.id, 1)]).json()
    assert confirm(member_client, tampered["orderId"], "pk-any", 100).status_code == 400

    after = scrape(client)

    assert delta(before, after, "payment_confirms_total", gateway="toss", result="SUCCESS") == 2
    assert (
        delta(before, after, "payment_confirms_total", gateway="toss", result="PAYMENT_REJECTED")
        == 1
    )
    assert (
        delta(before, after, "payment_confirms_total", gateway="toss", result="AMOUNT_MISMATCH")
        == 1
    )
    assert delta(before, after, "payment_confirm_duration_seconds_count", gateway="toss") == 4
    assert delta(before, after, "pg_calls_total", gateway="toss", operation="confirm") >= 3
    assert (
        delta(
            before,
            after,
            "pg_call_errors_total",
            gateway="toss",
            operation="confirm",
            code="REJECT_CARD_PAYMENT",
        )
        == 1
    )
    assert (
        delta(before, after, "pg_call_duration_seconds_count", gateway="toss", operation="confirm")
        >= 3
    )
    # One decline, one tamper: two stock restores, done at once.
    assert delta(before, after, "payment_compensations_total", result="restored") == 2


def test_a_timeout_is_counted_as_a_pg_error_and_an_unknown_confirm(
    client, member_client, sandbox, product
):
    before = scrape(client)
    unknown_payment(member_client, sandbox, product, timeout=True, holdSeconds=5)
    after = scrape(client)

    assert delta(before, after, "payment_confirms_total", gateway="toss", result="UNKNOWN") == 1
    errors = delta(
        before,
        after,
        "pg_call_errors_total",
        gateway="toss",
        operation="confirm",
        code="READ_TIMEOUT",
    )
    assert errors >= 1


def test_recovery_and_compensation_counters(client, member_client, sandbox, product):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    before = scrape(client)

    call_command("recover_payments")

    after = scrape(client)
    assert (
        delta(
            before,
            after,
            "payment_recovery_attempts_total",
            gateway="toss",
            action="SUCCESS",
            status="SUCCESS",
        )
        == 1
    )
    assert PaymentEvent.objects.get(pk=event.pk).status == "SUCCESS"


def test_the_gauges_are_read_from_the_database(client, member, product):
    def payment(status, minutes_ago, n):
        event = PaymentEvent.objects.create(
            order_id=f"ord-gauge-{n}",
            buyer=member,
            gateway="toss",
            order_name="x",
            total_amount=5000,
            pg_idempotency_key=f"gauge-{n}",
        )
        path = {
            "UNKNOWN": ["EXECUTING", "UNKNOWN"],
            "EXECUTING": ["EXECUTING"],
            "NEEDS_ATTENTION": ["EXECUTING", "UNKNOWN", "NEEDS_ATTENTION"],
            "FAILURE": ["FAILURE"],
        }[status]
        for to in path:
            assert transition(event.pk, to=to, reason="TEST", actor="test")
        then = timezone.now() - timedelta(minutes=minutes_ago)
        PaymentEvent.objects.filter(pk=event.pk).update(updated_at=then)
        return event

    payment("UNKNOWN", 10, 1)  # stuck
    payment("EXECUTING", 6, 2)  # stuck
    payment("UNKNOWN", 1, 3)  # recent: not stuck
    payment("NEEDS_ATTENTION", 30, 4)
    failed = payment("FAILURE", 1, 5)
    job = CompensationJob.objects.create(event=failed)
    CompensationJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(minutes=6)
    )

    samples = scrape(client)

    assert value(samples, "payments_by_status", status="UNKNOWN") == 2
    assert value(samples, "payments_by_status", status="EXECUTING") == 1
    assert ("payments_by_status", (("status", "FAILURE"),)) not in samples  # open ones only
    assert value(samples, "payments_stuck") == 2
    assert value(samples, "payments_needs_attention") == 1
    assert value(samples, "payment_compensations_backlog") == 1

    assert compensation_restore(job_id=job.pk)
    assert value(scrape(client), "payment_compensations_backlog") == 0


def test_the_outbox_gauges_count_late_and_parked_bookings(client, member_client, sandbox, product):
    def paid():
        answer = checkout(member_client, [(product.id, 1)]).json()
        key = sandbox.authorize(answer["orderId"], 5000)
        assert confirm(member_client, answer["orderId"], key, 5000).status_code == 200
        return OutboxMessage.objects.get(event__order_id=answer["orderId"], kind="LEDGER")

    fresh, late, parked = paid(), paid(), paid()
    long_ago = timezone.now() - timedelta(seconds=settings.OUTBOX_STALE_SECONDS + 60)
    OutboxMessage.objects.filter(pk__in=[late.pk, parked.pk]).update(created_at=long_ago)
    OutboxMessage.objects.filter(pk=parked.pk).update(status="PARKED")

    samples = scrape(client)

    assert value(samples, "payment_outbox_backlog") == 1  # `fresh` is not late yet
    assert value(samples, "payment_outbox_parked") == 1
    assert fresh.status == "PENDING"

    before = samples
    assert relay_book_many(message_ids=relay_claim(owner="test", limit=10))["booked"] == 2
    after = scrape(client)
    assert value(after, "payment_outbox_backlog") == 0
    assert value(after, "payment_outbox_parked") == 1  # parked waits for an operator
    assert delta(before, after, "payment_outbox_bookings_total", result="booked") == 2
