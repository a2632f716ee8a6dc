"""/metrics after real scenarios: the counters moved by what happened, the gauges right."""

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from payments.models import (
    CompensationJob,
    Discrepancy,
    GatewayHealth,
    OutboxMessage,
    PaymentEvent,
    ReconciliationRun,
    Refund,
)
from payments.selectors import (
    PAYMENTS_IN_DOUBT,
    REFUNDS_IN_DOUBT,
    gateway_health_summary,
    reconciliation_summary,
)
from payments.services.compensation import compensation_restore
from payments.services.decisions import RECOVERABLE
from payments.services.refund_recovery import IN_DOUBT
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


def in_doubt_payment(member, gateway, n, status="UNKNOWN", created_ago=None):
    event = PaymentEvent.objects.create(
        order_id=f"ord-gw-{n}",
        buyer=member,
        gateway=gateway,
        order_name="x",
        total_amount=5000,
        pg_idempotency_key=f"gw-{n}",
    )
    path = {"UNKNOWN": ["EXECUTING", "UNKNOWN"], "EXECUTING": ["EXECUTING"]}[status]
    for to in path:
        assert transition(event.pk, to=to, reason="TEST", actor="test")
    if created_ago is not None:
        created_at = timezone.now() - created_ago
        PaymentEvent.objects.filter(pk=event.pk).update(created_at=created_at)
    return event


def refund_of(event, status, n):
    return Refund.objects.create(
        event=event,
        status=status,
        pg_amount=1000,
        reason="test",
        actor="test",
        pg_idempotency_key=f"gw-refund-{n}",
    )


def test_the_in_doubt_statuses_are_recoverys_own():
    assert set(PAYMENTS_IN_DOUBT) == RECOVERABLE
    assert set(REFUNDS_IN_DOUBT) == IN_DOUBT


def test_gateway_up_follows_the_health_rows(client):
    GatewayHealth.objects.create(gateway="toss", state="DOWN", changed_at=timezone.now())
    GatewayHealth.objects.create(gateway="nicepay", state="UP")

    samples = scrape(client)

    assert samples[("payment_gateway_up", (("gateway", "toss"),))] == 0
    assert samples[("payment_gateway_up", (("gateway", "nicepay"),))] == 1
    assert samples[("payment_gateway_up", (("gateway", "kakaopay"),))] == 1  # no row yet

    GatewayHealth.objects.filter(gateway="toss").update(state="UP")
    assert value(scrape(client), "payment_gateway_up", gateway="toss") == 1


def test_gateway_in_doubt_counts_payments_and_refunds_by_gateway(client, member):
    in_doubt_payment(member, "toss", 1)
    in_doubt_payment(member, "toss", 2, status="EXECUTING")
    nicepay = in_doubt_payment(member, "nicepay", 3)
    settled = in_doubt_payment(member, "kakaopay", 4)
    assert transition(settled.pk, to="SUCCESS", reason="TEST", actor="test")
    for n, status in enumerate(["REQUESTED", "EXECUTING", "UNKNOWN", "SUCCEEDED"]):
        refund_of(settled, status, n)  # a settled payment's refunds: three in doubt
    refund_of(nicepay, "NEEDS_ATTENTION", 9)  # an operator's, not recovery's

    samples = scrape(client)

    def in_doubt(gateway, kind):
        return samples[("payment_gateway_in_doubt", (("gateway", gateway), ("kind", kind)))]

    assert in_doubt("toss", "payment") == 2
    assert in_doubt("nicepay", "payment") == 1
    assert in_doubt("kakaopay", "payment") == 0
    assert in_doubt("toss", "refund") == 0
    assert in_doubt("nicepay", "refund") == 0
    assert in_doubt("kakaopay", "refund") == 3


def recovered(gateway, seconds_ago):
    at = timezone.now() - timedelta(seconds=seconds_ago)
    GatewayHealth.objects.create(gateway=gateway, state="UP", changed_at=at, recovered_at=at)
    return at


def test_recovered_in_doubt_seconds_count_from_the_recovery_while_older_ones_wait(client, member):
    recovered("toss", 300)
    recovered("nicepay", 300)
    waiting = in_doubt_payment(member, "toss", 1, created_ago=timedelta(minutes=10))
    in_doubt_payment(member, "nicepay", 2, created_ago=timedelta(minutes=1))  # after it

    samples = scrape(client)

    seconds = value(samples, "payment_gateway_recovered_in_doubt_seconds", gateway="toss")
    assert 300 <= seconds < 360
    assert samples[("payment_gateway_recovered_in_doubt_seconds", (("gateway", "nicepay"),))] == 0
    assert samples[("payment_gateway_recovered_in_doubt_seconds", (("gateway", "kakaopay"),))] == 0

    assert transition(waiting.pk, to="SUCCESS", reason="TEST", actor="test")
    assert value(scrape(client), "payment_gateway_recovered_in_doubt_seconds", gateway="toss") == 0


def test_recovered_in_doubt_seconds_count_older_refunds_and_only_while_up(client, member):
    recovered("kakaopay", 200)
    paid = in_doubt_payment(member, "kakaopay", 1, created_ago=timedelta(minutes=10))
    assert transition(paid.pk, to="SUCCESS", reason="TEST", actor="test")
    refund = refund_of(paid, "UNKNOWN", 1)
    Refund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    seconds = value(
        scrape(client), "payment_gateway_recovered_in_doubt_seconds", gateway="kakaopay"
    )
    assert 200 <= seconds < 260

    GatewayHealth.objects.filter(gateway="kakaopay").update(state="DOWN")  # down again
    assert (
        value(scrape(client), "payment_gateway_recovered_in_doubt_seconds", gateway="kakaopay") == 0
    )


def test_the_gateway_gauges_cost_three_queries_whatever_the_gateways(
    member, django_assert_num_queries
):
    for n, gateway in enumerate(["toss", "nicepay", "kakaopay"]):
        recovered(gateway, 60)
        refund_of(in_doubt_payment(member, gateway, n), "UNKNOWN", n)

    with django_assert_num_queries(3):
        summary = gateway_health_summary()

    assert set(summary) == set(settings.PAYMENT_GATEWAYS)


def reconciliation_run(gateway, day, status="DONE", finished_ago=None):
    finished_at = timezone.now() - finished_ago if finished_ago is not None else None
    return ReconciliationRun.objects.create(
        gateway=gateway, day=day, status=status, finished_at=finished_at
    )


def found(run, reference, status="OPEN", created_ago=timedelta(0)):
    row = Discrepancy.objects.create(
        run=run,
        kind="UNKNOWN_ORDER",
        reference=reference,
        status=status,
        order_id=f"ord-{reference}",
        detail="test",
    )
    created_at = timezone.now() - created_ago
    Discrepancy.objects.filter(pk=row.pk).update(created_at=created_at)
    return created_at


def test_the_reconciliation_gauges_count_open_discrepancies_and_their_age(client):
    monday, tuesday = date(2026, 3, 2), date(2026, 3, 3)
    toss_monday = reconciliation_run("toss", monday, finished_ago=timedelta(days=1))
    toss_tuesday = reconciliation_run("toss", tuesday, finished_ago=timedelta(hours=2))
    nicepay = reconciliation_run("nicepay", tuesday, status="FAILED")
    found(toss_monday, "a", created_ago=timedelta(hours=30))
    found(toss_tuesday, "b", created_ago=timedelta(hours=2))
    found(toss_tuesday, "c", status="FIXED", created_ago=timedelta(days=3))
    found(toss_monday, "d", status="RESOLVED", created_ago=timedelta(days=3))
    found(nicepay, "e", status="FIXED")

    samples = scrape(client)

    def sample(name, gateway):
        return samples[(f"payment_reconciliation_{name}", (("gateway", gateway),))]

    assert sample("open_discrepancies", "toss") == 2
    assert sample("open_discrepancies", "nicepay") == 0
    assert sample("open_discrepancies", "kakaopay") == 0
    assert 30 * 3600 <= sample("oldest_open_seconds", "toss") < 30 * 3600 + 60
    assert sample("oldest_open_seconds", "nicepay") == 0
    assert sample("oldest_open_seconds", "kakaopay") == 0

    Discrepancy.objects.filter(reference="a").update(status="RESOLVED")
    samples = scrape(client)
    assert sample("open_discrepancies", "toss") == 1
    assert 2 * 3600 <= sample("oldest_open_seconds", "toss") < 2 * 3600 + 60


def test_the_last_run_is_the_newest_done_day_of_every_configured_gateway(client):
    reconciliation_run("toss", date(2026, 3, 3), finished_ago=timedelta(hours=26))
    # An older day run again just now: it must not hide that no newer day was reconciled.
    reconciliation_run("toss", date(2026, 2, 20), finished_ago=timedelta(minutes=5))
    reconciliation_run("nicepay", date(2026, 3, 2), finished_ago=timedelta(hours=30))
    reconciliation_run("nicepay", date(2026, 3, 3), status="REFUSED")  # a bad file
    reconciliation_run("nicepay", date(2026, 3, 4), status="RUNNING")

    samples = scrape(client)

    def last_run(gateway):
        return samples[
            ("payment_reconciliation_last_run_timestamp_seconds", (("gateway", gateway),))
        ]

    now = timezone.now().timestamp()
    assert 26 * 3600 <= now - last_run("toss") < 26 * 3600 + 60
    assert 30 * 3600 <= now - last_run("nicepay") < 30 * 3600 + 60
    assert last_run("kakaopay") == 0  # never reconciled
    assert {
        labels
        for name, labels in samples
        if name == "payment_reconciliation_last_run_timestamp_seconds"
    } == {(("gateway", gateway),) for gateway in settings.PAYMENT_GATEWAYS}


def test_the_reconciliation_gauges_cost_two_queries_whatever_the_gateways(
    django_assert_num_queries,
):
    for n, gateway in enumerate(["toss", "nicepay", "kakaopay"]):
        for day in (date(2026, 3, 2), date(2026, 3, 3)):
            run = reconciliation_run(gateway, day, finished_ago=timedelta(hours=n))
            found(run, f"{gateway}-{day}")

    with django_assert_num_queries(2):
        summary = reconciliation_summary()

    assert set(summary) == set(settings.PAYMENT_GATEWAYS)
    assert {row["open"] for row in summary.values()} == {2}
