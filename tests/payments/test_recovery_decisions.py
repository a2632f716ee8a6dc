"""recovery_decide: one test per row of the decision table (payments/services/recovery.py)."""

from datetime import datetime

import pytest

from gateways import errors
from gateways.types import GatewayPayment, PgStatus
from payments.models import PaymentEvent
from payments.services.recovery import Action, recovery_decide

EVENT = PaymentEvent(order_id="ord-abcdef", payment_key="pk-1", total_amount=15000, gateway="toss")


def pg(
    status: PgStatus, amount: int = 15000, order_id: str = "ord-abcdef", key: str = "pk-1", raw="X"
):
    return GatewayPayment(
        gateway="toss",
        order_id=order_id,
        payment_key=key,
        status=status,
        raw_status=raw,
        total_amount=amount,
        balance_amount=amount,
        approved_at=datetime(2026, 11, 21),
    )


def decide(found=None, error=None, window_passed=False):
    return recovery_decide(event=EVENT, found=found, error=error, window_passed=window_passed)


def test_approved_with_matching_values_is_success():
    assert decide(pg(PgStatus.APPROVED, raw="DONE")).action == Action.SUCCESS


def test_approved_for_another_amount_is_cancelled_and_failed():
    decision = decide(pg(PgStatus.APPROVED, amount=1000))
    assert (decision.action, decision.reason) == (Action.CANCEL_AND_FAIL, "PG_AMOUNT_MISMATCH")


@pytest.mark.parametrize(
    "found",
    [
        pg(PgStatus.APPROVED, order_id="ord-other"),
        pg(PgStatus.APPROVED, key="pk-2"),
        pg(PgStatus.PARTIALLY_CANCELED),
    ],
    ids=["order", "key", "partial"],
)
def test_a_contradicting_record_needs_a_person(found):
    assert decide(found).action == Action.NEEDS_ATTENTION


@pytest.mark.parametrize("status", [PgStatus.FAILED, PgStatus.EXPIRED, PgStatus.CANCELED])
def test_aborted_expired_or_cancelled_is_failure(status):
    assert decide(pg(status)).action == Action.FAILURE


def test_authenticated_not_approved_inside_the_window_is_confirmed_again():
    assert decide(pg(PgStatus.PENDING, raw="IN_PROGRESS")).action == Action.RECONFIRM


def test_authenticated_not_approved_past_the_window_backs_off():
    assert decide(pg(PgStatus.PENDING), window_passed=True).action == Action.BACK_OFF


def test_no_record_past_the_window_is_failure():
    decision = decide(error=errors.PaymentNotFound(code="NOT_FOUND_PAYMENT"), window_passed=True)
    assert (decision.action, decision.reason) == (Action.FAILURE, "PG_NO_RECORD")


def test_no_record_inside_the_window_backs_off():
    assert decide(error=errors.PaymentNotFound(code="NOT_FOUND_PAYMENT")).action == Action.BACK_OFF


@pytest.mark.parametrize(
    "error",
    [
        errors.Retryable(code="CONNECT_FAILED"),
        errors.OutcomeUnknown(code="READ_TIMEOUT"),
        errors.Retryable(code="FAILED_INTERNAL_SYSTEM_PROCESSING"),
    ],
    ids=["unreachable", "timeout", "5xx"],
)
def test_an_unreachable_pg_backs_off(error):
    decision = decide(error=error)
    assert decision.action == Action.BACK_OFF and decision.pg_code == error.code
