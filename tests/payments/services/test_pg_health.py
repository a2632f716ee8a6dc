"""payments/services/pg_health.py: a gateway's health from our calls, the circuit breaker
recovery puts on a DOWN gateway, and what it brings forward when the gateway is back."""

import time
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from gateways import errors as pg_errors
from gateways.base import get_gateway
from payments.models import GatewayHealth, PaymentEvent, Refund
from payments.services import pg, pg_health
from payments.services.pg_health import health_evaluate, health_note
from payments.services.recovery import recovery_claim
from payments.services.refund_recovery import refund_recovery_claim
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import unknown_payment

pytestmark = pytest.mark.django_db


def calls(gateway: str, *, answered: int = 0, failed: int = 0) -> None:
    for _ in range(answered):
        health_note(gateway, answered=True)
    for _ in range(failed):
        health_note(gateway, answered=False)


def state(gateway: str) -> str:
    return GatewayHealth.objects.get(gateway=gateway).state


def in_doubt(gateway: str, count: int, *, due_in: float = 0) -> list[PaymentEvent]:
    buyer = MemberFactory()
    when = timezone.now() + timedelta(seconds=due_in)
    return [
        PaymentEvent.objects.create(
            order_id=f"ord-{uuid.uuid4().hex[:20]}",
            buyer=buyer,
            gateway=gateway,
            order_name="x",
            total_amount=1000,
            payment_key=f"pk-{uuid.uuid4().hex}",
            status="UNKNOWN",
            next_attempt_at=when,
            pg_idempotency_key=uuid.uuid4().hex,
        )
        for _ in range(count)
    ]


# --- the state ------------------------------------------------------------------------


def test_a_gateway_whose_calls_mostly_fail_is_down_at_the_next_scan(settings):
    settings.GATEWAY_DOWN_MIN_FAILURES = 5
    calls("toss", answered=2, failed=6)
    calls("nicepay", answered=1, failed=4)  # too few failures to say
    calls("kakaopay", answered=9, failed=8)  # answers still win

    assert health_evaluate() == {"toss"}
    assert (state("toss"), state("nicepay"), state("kakaopay")) == ("DOWN", "UP", "UP")
    # The next scan judges only what came after the last: nothing new, nothing changes.
    assert health_evaluate() == {"toss"}


def test_the_first_answer_after_down_brings_it_up_and_its_backlog_forward(settings):
    settings.GATEWAY_DOWN_MIN_FAILURES = 3
    calls("toss", failed=3)
    health_evaluate()
    waiting = in_doubt("toss", 3, due_in=600)
    other = in_doubt("nicepay", 1, due_in=600)

    with mock.patch.object(pg_health, "enqueue") as enqueue:
        calls("toss", answered=1)

    health = GatewayHealth.objects.get(gateway="toss")
    assert health.state == "UP" and health.recovered_at is not None
    now = timezone.now()
    for event in waiting:
        event.refresh_from_db()
        assert event.next_attempt_at <= now
    other[0].refresh_from_db()
    assert other[0].next_attempt_at > now  # another gateway's schedule is its own
    assert [c.args for c in enqueue.call_args_list] == [
        ("payments.recovery_scan",),
        ("payments.refund_recovery_scan",),
    ]


def test_a_scan_brings_a_gateway_up_when_answers_won_since_its_last_look(settings):
    # Answers another process added while it still took the gateway for UP (its state is
    # read at most once a second) are not lost: the scan turns the gateway UP itself.
    settings.GATEWAY_DOWN_MIN_FAILURES = 3
    calls("toss", failed=3)
    health_evaluate()
    GatewayHealth.objects.filter(gateway="toss").update(ok_calls=F("ok_calls") + 4)

    with mock.patch.object(pg_health, "enqueue"):
        assert health_evaluate() == set()

    health = GatewayHealth.objects.get(gateway="toss")
    assert health.state == "UP" and health.recovered_at is not None


@pytest.mark.parametrize(("status", "answered"), [(400, True), (500, False), (None, False)])
def test_a_transient_4xx_is_the_pg_answering_a_5xx_or_silence_is_not(status, answered):
    gateway = get_gateway("toss")
    failure = pg_errors.Retryable("x", code="PROVIDER_ERROR", http_status=status)
    event = PaymentEvent(gateway="toss", order_id="o", payment_key="k", total_amount=1)
    with mock.patch.object(type(gateway), "confirm", side_effect=[failure] * 3):
        pg.pg_confirm(event)
    pg_health.health_flush()

    health = GatewayHealth.objects.get(gateway="toss")
    assert (health.ok_calls, health.failed_calls) == ((3, 0) if answered else (0, 3))


def test_a_health_note_never_turns_an_answer_into_an_error():
    with mock.patch.object(pg_health, "_flush", side_effect=RuntimeError("db gone")):
        health_note("toss", answered=False)  # logged, not raised


# --- the breaker ----------------------------------------------------------------------


def test_a_scan_leases_only_probes_of_a_down_gateway_and_all_of_the_others(settings):
    settings.GATEWAY_DOWN_MIN_FAILURES, settings.GATEWAY_PROBES_PER_SCAN = 3, 2
    calls("toss", failed=3)
    health_evaluate()
    toss = {e.pk for e in in_doubt("toss", 5)}
    nicepay = {e.pk for e in in_doubt("nicepay", 3)}

    claimed = set(recovery_claim(owner="scan", limit=50))

    assert nicepay <= claimed
    assert len(claimed & toss) == 2 and len(claimed) == 5


def test_refund_recovery_leases_only_probes_of_a_down_gateway(settings, member_client):
    settings.GATEWAY_DOWN_MIN_FAILURES, settings.GATEWAY_PROBES_PER_SCAN = 3, 1
    calls("toss", failed=3)
    health_evaluate()
    events = in_doubt("toss", 3) + in_doubt("nicepay", 2)
    PaymentEvent.objects.update(status="SUCCESS")
    for n, event in enumerate(events):
        Refund.objects.create(
            event=event,
            pg_amount=100,
            reason="r",
            actor="buyer",
            status="UNKNOWN",
            next_attempt_at=timezone.now(),
            pg_idempotency_key=f"rf-{n}-{event.pk}",
        )

    claimed = Refund.objects.filter(pk__in=refund_recovery_claim(owner="scan", limit=50))

    gateways = sorted(r.event.gateway for r in claimed)
    assert gateways == ["nicepay", "nicepay", "toss"]


@pytest.mark.processes
def test_a_probe_that_gets_no_answer_from_a_down_gateway_spends_no_budget(
    member_client, sandbox, settings
):
    settings.RECOVERY_BACKOFF_SECONDS = [1, 2]  # one attempt left after the first
    settings.GATEWAY_DOWN_MIN_FAILURES = 3
    event = unknown_payment(
        member_client, sandbox, ProductFactory(price=5000, stock=5), timeout=True, holdSeconds=3
    )
    PaymentEvent.objects.filter(pk=event.pk).update(retry_count=1)
    sandbox.fault(operation="*", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")  # all 5xx
    calls("toss", failed=3)
    health_evaluate()

    for _ in range(3):  # its last attempt, three times over: the outage is not its fault
        PaymentEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        call_command("recover_payments")

    event.refresh_from_db()
    assert (event.status, event.retry_count) == ("UNKNOWN", 1)
    assert state("toss") == "DOWN"

    sandbox.http.delete(f"{sandbox.base}/sandbox/faults", timeout=5)
    while any(r["inFlight"] for r in sandbox.requests_for(event.order_id, "confirm")):
        time.sleep(0.05)  # the held confirm's key is "in process" until the sandbox lets go
    PaymentEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    call_command("recover_payments")  # the probe is answered: UP, and settled

    event.refresh_from_db()
    assert event.status == "SUCCESS"
    assert state("toss") == "UP"
