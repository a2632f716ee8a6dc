"""decide_in_recovery: one test per row of its table (payments/services/decisions.py)."""

from datetime import datetime

import pytest

from payments.models import PaymentEvent
from payments.services.decisions import Action, decide_in_recovery
from payments.services.pg import PgAnswer, PgError, PgRecord, PgStatus

EVENT = PaymentEvent(order_id="ord-abcdef", payment_key="pk-1", total_amount=15000, gateway="toss")


def pg(
    status: PgStatus, amount: int = 15000, order_id: str = "ord-abcdef", key: str = "pk-1", raw="X"
):
    return PgRecord(
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
    answer = PgAnswer("lookup", record=found) if error is None else error
    return decide_in_recovery(EVENT, answer, window_passed=window_passed)


def no_record(code="NOT_FOUND_PAYMENT"):
    return PgAnswer("lookup", error=PgError.NOT_FOUND, code=code)


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
    decision = decide(error=no_record(), window_passed=True)
    assert (decision.action, decision.reason) == (Action.FAILURE, "PG_NO_RECORD")


def test_no_record_inside_the_window_backs_off():
    assert decide(error=no_record()).action == Action.BACK_OFF


@pytest.mark.parametrize(
    "error",
    [
        PgAnswer("lookup", error=PgError.NO_ANSWER, code="CONNECT_FAILED"),
        PgAnswer("lookup", error=PgError.NO_ANSWER, code="READ_TIMEOUT"),
        PgAnswer("lookup", error=PgError.NO_ANSWER, code="FAILED_INTERNAL_SYSTEM_PROCESSING"),
    ],
    ids=["unreachable", "timeout", "5xx"],
)
def test_an_unreachable_pg_backs_off(error):
    decision = decide(error=error)
    assert decision.action == Action.BACK_OFF and decision.pg_code == error.code
