"""payments/services/key_rotation.py: a new Idempotency-Key only after a lookup proved it
safe, never while a request under the old one may be in flight, never for NicePay or
KakaoPay; against a sandbox that stores transient errors under their key (and one that
does not)."""

from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from gateways import errors as pg_errors
from gateways.base import get_gateway
from payments.models import PaymentEvent, PaymentHistory, Refund
from payments.services import pg, settle
from payments.services.refund_recovery import refund_recover, refund_recovery_claim
from tests.factories import ProductFactory, SellerFactory
from tests.payments.helpers import checkout, confirm, unknown_payment
from tests.payments.refund_helpers import cancel, fault, paid, pg_cancelled

pytestmark = [pytest.mark.django_db, pytest.mark.processes]


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10, seller=SellerFactory(commission_rate="0.10"))


def recover() -> None:
    PaymentEvent.objects.filter(status="UNKNOWN").update(next_attempt_at=timezone.now())
    call_command("recover_payments")


def rotations(event: PaymentEvent) -> list[PaymentHistory]:
    return list(event.history.filter(reason="IDEMPOTENCY_KEY_ROTATED"))


def confirm_keys(sandbox, event: PaymentEvent) -> list[str]:
    return [r["idempotencyKey"] for r in sandbox.requests_for(event.order_id, "confirm")]


# --- payments -------------------------------------------------------------------------


def test_a_replayed_error_is_left_behind_under_a_new_key_after_the_lookup_proves_it_safe(
    member_client, sandbox, product
):
    sandbox.replay_errors()
    event = unknown_payment(member_client, sandbox, product, errorCode="PROVIDER_ERROR")
    assert event.status == "UNKNOWN"

    recover()

    event.refresh_from_db()
    assert event.status == "SUCCESS"
    assert event.pg_key_generation == 1
    assert sandbox.record(event.order_id)["sandbox"]["approvals"] == 1
    (row,) = rotations(event)
    # The row says what was replayed, what the lookup said, and which key replaced which.
    assert row.pg_code == "PROVIDER_ERROR"
    assert "IN_PROGRESS" in row.pg_message
    assert f"{event.pg_idempotency_key} -> {event.pg_idempotency_key}.1" in row.pg_message
    keys = confirm_keys(sandbox, event)
    assert set(keys) == {event.pg_idempotency_key, f"{event.pg_idempotency_key}.1"}
    assert keys[-1] == f"{event.pg_idempotency_key}.1"
    # The lookup came after the last answer under the old key, and before the new key.
    calls = sandbox.requests_for(event.order_id)
    last_old = max(i for i, c in enumerate(calls) if c.get("idempotencyKey") == keys[0])
    first_new = min(i for i, c in enumerate(calls) if c.get("idempotencyKey") == keys[-1])
    assert any(c["operation"] == "lookup" for c in calls[last_old + 1 : first_new])


def test_a_pg_that_does_not_store_errors_needs_no_new_key(
    member_client, sandbox, product, settings
):
    settings.CONFIRM_MAX_ATTEMPTS = 1  # else the request's own retry gets through
    event = unknown_payment(member_client, sandbox, product, errorCode="PROVIDER_ERROR")

    recover()

    event.refresh_from_db()
    assert (event.status, event.pg_key_generation) == ("SUCCESS", 0)
    assert rotations(event) == []
    assert set(confirm_keys(sandbox, event)) == {event.pg_idempotency_key}


def confirmed_under(member_client, sandbox, product, **spec) -> PaymentEvent:
    """A payment whose confirm met this fault, left in place for recovery to meet too."""
    answer = checkout(member_client, [(product.id, 1)]).json()
    payment_key = sandbox.authorize(answer["orderId"], 5000)
    sandbox.fault(operation="confirm", orderId=answer["orderId"], **spec)
    assert confirm(member_client, answer["orderId"], payment_key, 5000).status_code == 202
    return PaymentEvent.objects.get(order_id=answer["orderId"])


def test_no_new_key_while_the_pg_says_a_request_with_the_old_one_is_in_process(
    member_client, sandbox, product
):
    sandbox.replay_errors()
    event = confirmed_under(
        member_client,
        sandbox,
        product,
        errorCode="IDEMPOTENT_REQUEST_PROCESSING",
        httpStatus=409,
    )

    recover()

    event.refresh_from_db()
    assert (event.status, event.pg_key_generation) == ("UNKNOWN", 0)
    assert rotations(event) == []
    assert set(confirm_keys(sandbox, event)) == {event.pg_idempotency_key}
    assert len(confirm_keys(sandbox, event)) == 6  # the request's three, recovery's three


def test_no_new_key_when_a_confirm_timed_out(member_client, sandbox, product):
    # A confirm whose answer never came may still be working at the PG: the answers under
    # the key are not all one answered error, so nothing is proved.
    sandbox.replay_errors()
    event = confirmed_under(member_client, sandbox, product, timeout=True, holdSeconds=2.5)

    recover()

    event.refresh_from_db()
    assert (event.status, event.pg_key_generation) == ("UNKNOWN", 0)
    assert rotations(event) == []


def test_no_new_key_when_the_lookup_cannot_prove_the_pg_did_nothing(
    member_client, sandbox, product
):
    sandbox.replay_errors()
    event = unknown_payment(member_client, sandbox, product, errorCode="PROVIDER_ERROR")
    # Recovery's own look answers; the look that would prove the rotation safe does not.
    silent = pg.PgAnswer("lookup", error=pg.PgError.NO_ANSWER, code="READ_TIMEOUT")
    with mock.patch.object(settle, "pg_lookup", return_value=silent):
        recover()

    event.refresh_from_db()
    assert (event.status, event.pg_key_generation) == ("UNKNOWN", 0)
    assert rotations(event) == []
    assert event.history.last().reason == "KEY_REPLAY_UNVERIFIED"


# --- the rule at the port: which answers count as a replay ----------------------------


def _answers(code: str, *raised: pg_errors.GatewayError) -> pg.PgAnswer:
    gateway = get_gateway(code)
    with mock.patch.object(type(gateway), "confirm", side_effect=list(raised)):
        event = PaymentEvent(gateway=code, order_id="o", payment_key="k", total_amount=1)
        return pg.pg_confirm(event)


def _err(kind=pg_errors.Retryable, code="PROVIDER_ERROR", status=400):
    return kind("stored", code=code, http_status=status)


@pytest.mark.parametrize(
    ("raised", "replayed"),
    [
        ((_err(), _err(), _err()), True),
        ((_err(), _err(code="COMMON_ERROR"), _err()), False),  # not one stored answer
        ((_err(status=500), _err(status=500), _err(status=500)), False),  # 5xx: may act
        ((_err(code="IDEMPOTENT_REQUEST_PROCESSING", status=409),) * 3, False),  # in flight
        ((_err(), _err(pg_errors.OutcomeUnknown, "READ_TIMEOUT", None)), False),  # timed out
        ((_err(pg_errors.Retryable, "CONNECT_FAILED", None), _err(), _err()), False),
    ],
)
def test_only_the_same_answered_4xx_every_time_counts_as_a_replay(raised, replayed):
    assert _answers("toss", *raised).key_replayed is replayed


@pytest.mark.parametrize("code", ["nicepay", "kakaopay"])
def test_nicepay_and_kakaopay_never_count_a_replay_their_guard_is_not_a_key(code, settings):
    # (the `gateways` fixture is not needed: nothing is sent)
    assert get_gateway(code).keyed_idempotency is False
    assert _answers(code, _err(), _err(), _err()).key_replayed is False


# --- refunds --------------------------------------------------------------------------


def unknown_refund(member_client, sandbox, product, gateway="toss", **spec):
    event = paid(member_client, sandbox, [(product.id, 2)], gateway)
    fault(sandbox, event, operation="cancel", count=1, **spec)
    one = {"items": [{"productId": product.id, "quantity": 1}]}
    assert cancel(member_client, event.order_id, one).status_code == 202
    sandbox.http.delete(f"{sandbox.base}/sandbox/faults", timeout=5)
    return event, Refund.objects.get(event=event)


def recover_refunds() -> list[str]:
    Refund.objects.filter(status="UNKNOWN").update(next_attempt_at=timezone.now())
    return [
        refund_recover(refund_id=i, owner="t") for i in refund_recovery_claim(owner="t", limit=9)
    ]


def test_a_refund_whose_cancel_error_is_replayed_goes_on_under_a_new_key_once(
    member_client, sandbox, product
):
    sandbox.replay_errors()
    event, refund = unknown_refund(member_client, sandbox, product, errorCode="PROVIDER_ERROR")
    assert refund.status == "UNKNOWN" and pg_cancelled(sandbox, event) == []

    assert recover_refunds() == ["SUCCEEDED"]

    refund.refresh_from_db()
    assert refund.pg_key_generation == 1
    assert pg_cancelled(sandbox, event) == [5000]  # one cancel, under the new key
    (row,) = refund.history.filter(reason="IDEMPOTENCY_KEY_ROTATED")
    assert row.pg_code == "PROVIDER_ERROR" and "not among its cancels" in row.pg_message
    # Found again later by its first key, whichever generation made it.
    assert recover_refunds() == []
    event.refresh_from_db()
    assert (event.status, event.canceled_amount) == ("PARTIAL_CANCELED", 5000)


def test_a_refund_is_not_sent_under_a_new_key_while_its_old_one_is_in_process(
    member_client, sandbox, product
):
    sandbox.replay_errors()
    event = paid(member_client, sandbox, [(product.id, 2)])
    spec = {"errorCode": "IDEMPOTENT_REQUEST_PROCESSING", "httpStatus": 409}
    fault(sandbox, event, operation="cancel", **spec)
    one = {"items": [{"productId": product.id, "quantity": 1}]}
    assert cancel(member_client, event.order_id, one).status_code == 202

    assert recover_refunds() == ["UNKNOWN"]

    refund = Refund.objects.get(event=event)
    assert refund.pg_key_generation == 0
    assert not refund.history.filter(reason="IDEMPOTENCY_KEY_ROTATED").exists()
    assert pg_cancelled(sandbox, event) == []


@pytest.mark.usefixtures("gateways")
@pytest.mark.parametrize("gateway", ["nicepay", "kakaopay"])
def test_a_nicepay_or_kakaopay_refund_keeps_its_key_whatever_comes_back(
    member_client, sandbox, product, gateway
):
    event, refund = unknown_refund(member_client, sandbox, product, gateway, failBeforeCommit=True)
    fault(sandbox, event, operation="cancel", failBeforeCommit=True)

    recover_refunds()

    refund.refresh_from_db()
    assert refund.pg_key_generation == 0
    assert not refund.history.filter(reason="IDEMPOTENCY_KEY_ROTATED").exists()
