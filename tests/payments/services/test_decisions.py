"""payments/services/decisions.py: one test per row of each decision table."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from payments.models import PaymentEvent
from payments.services.decisions import (
    Action,
    Decision,
    decide_after_cancel,
    decide_after_confirm,
    decide_after_decline_check,
    decide_budget_spent,
    decide_deposit,
    decide_in_recovery,
    decide_key_check,
    decide_operator_recheck,
    decide_operator_resolve,
    decide_restore_recheck,
    decide_webhook,
    decide_webhook_recheck,
    judge,
)
from payments.services.pg import PgAnswer, PgError, PgRecord, PgStatus

EVENT = PaymentEvent(order_id="ord-abcdef", payment_key="pk-1", total_amount=15000, gateway="toss")
APPROVED_AT = datetime(2026, 11, 21)


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
        approved_at=APPROVED_AT,
    )


def found(record, operation="lookup") -> PgAnswer:
    return PgAnswer(operation, record=record)


def failed(error: PgError, code="CODE", operation="lookup", **more) -> PgAnswer:
    return PgAnswer(operation, error=error, code=code, message="the PG's words", **more)


def no_record(code="NOT_FOUND_PAYMENT"):
    return PgAnswer("lookup", error=PgError.NOT_FOUND, code=code)


# --- judge: the PG's record against ours -----------------------------------------------


def test_judge_approved_with_matching_values_is_success_at_the_pgs_time():
    decision = judge(EVENT, pg(PgStatus.APPROVED, raw="DONE"))
    assert (decision.action, decision.reason, decision.pg_code) == (
        Action.SUCCESS,
        "PG_APPROVED",
        "DONE",
    )
    assert decision.approved_at == APPROVED_AT


def test_judge_approved_for_another_amount_is_cancelled_with_the_record():
    record = pg(PgStatus.APPROVED, amount=1000)
    decision = judge(EVENT, record)
    assert (decision.action, decision.reason) == (Action.CANCEL_AND_FAIL, "PG_AMOUNT_MISMATCH")
    assert decision.record is record and "1000" in decision.pg_message


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (pg(PgStatus.APPROVED, order_id="ord-other"), "PG_IDENTITY_MISMATCH"),
        (pg(PgStatus.APPROVED, key="pk-2"), "PG_IDENTITY_MISMATCH"),
        (pg(PgStatus.PARTIALLY_CANCELED), "PG_PARTIALLY_CANCELED"),
    ],
    ids=["order", "key", "partial"],
)
def test_judge_a_record_that_contradicts_ours_needs_a_person(record, reason):
    assert judge(EVENT, record) == Decision(Action.NEEDS_ATTENTION, reason, "X")


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (PgStatus.FAILED, "PG_FAILED"),
        (PgStatus.EXPIRED, "PG_EXPIRED"),
        (PgStatus.CANCELED, "PG_CANCELED"),
    ],
)
def test_judge_refused_expired_or_fully_cancelled_is_failure(status, reason):
    decision = judge(EVENT, pg(status))
    assert (decision.action, decision.reason) == (Action.FAILURE, reason)


def test_judge_a_refusal_carries_the_pgs_failure_code():
    record = replace(pg(PgStatus.FAILED), failure_code="REJECT_CARD_COMPANY")
    assert judge(EVENT, record).pg_code == "REJECT_CARD_COMPANY"


def test_judge_authenticated_not_approved_is_pending():
    decision = judge(EVENT, pg(PgStatus.PENDING, raw="IN_PROGRESS"))
    assert (decision.action, decision.reason, decision.pg_code) == (
        Action.BACK_OFF,
        "PG_PENDING",
        "IN_PROGRESS",
    )


def test_judge_an_issued_virtual_account_of_our_amount_awaits_its_deposit_with_the_record():
    record = pg(PgStatus.AWAITING_DEPOSIT, raw="WAITING_FOR_DEPOSIT")
    decision = judge(EVENT, record)
    assert (decision.action, decision.reason, decision.pg_code) == (
        Action.AWAIT_DEPOSIT,
        "PG_AWAITING_DEPOSIT",
        "WAITING_FOR_DEPOSIT",
    )
    assert decision.record is record  # its account and due date are stored with it


def test_judge_a_virtual_account_for_another_amount_is_cancelled():
    decision = judge(EVENT, pg(PgStatus.AWAITING_DEPOSIT, amount=1000))
    assert (decision.action, decision.reason) == (Action.CANCEL_AND_FAIL, "PG_AMOUNT_MISMATCH")


def test_recovery_never_reconfirms_an_issued_virtual_account():
    answer = found(pg(PgStatus.AWAITING_DEPOSIT, raw="WAITING_FOR_DEPOSIT"))
    for window_passed in (False, True):
        decision = decide_in_recovery(EVENT, answer, window_passed=window_passed)
        assert decision.action == Action.AWAIT_DEPOSIT


# --- a virtual account waiting for its deposit -------------------------------------------

DUE = datetime(2026, 12, 7, 12, tzinfo=UTC)


def awaiting() -> PaymentEvent:
    return PaymentEvent(
        order_id="ord-abcdef",
        payment_key="pk-1",
        total_amount=15000,
        gateway="toss",
        status="AWAITING_DEPOSIT",
        deposit_due_at=DUE,
    )


GRACE = timedelta(minutes=10)
BEFORE, AFTER = DUE - timedelta(hours=1), DUE + timedelta(seconds=1)
PAST_GRACE = DUE + GRACE + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("record", "now", "action", "reason"),
    [
        (None, BEFORE, Action.LEAVE, "DEPOSIT_CHECK"),
        (None, AFTER, Action.LEAVE, "DEPOSIT_CHECK"),
        (pg(PgStatus.APPROVED, raw="DONE"), BEFORE, Action.SUCCESS, "PG_DEPOSITED"),
        (pg(PgStatus.APPROVED, raw="DONE"), AFTER, Action.SUCCESS, "PG_DEPOSITED"),
        (pg(PgStatus.AWAITING_DEPOSIT), BEFORE, Action.LEAVE, "DEPOSIT_CHECK"),
        (pg(PgStatus.AWAITING_DEPOSIT), AFTER, Action.LEAVE, "DEPOSIT_CHECK"),
        (pg(PgStatus.AWAITING_DEPOSIT), PAST_GRACE, Action.FAILURE, "DEPOSIT_EXPIRED"),
        (pg(PgStatus.PENDING, raw="IN_PROGRESS"), AFTER, Action.LEAVE, "DEPOSIT_CHECK"),
        (pg(PgStatus.EXPIRED, raw="EXPIRED"), AFTER, Action.FAILURE, "DEPOSIT_EXPIRED"),
        (pg(PgStatus.EXPIRED, raw="EXPIRED"), BEFORE, Action.FAILURE, "DEPOSIT_EXPIRED"),
        (pg(PgStatus.CANCELED, raw="CANCELED"), AFTER, Action.FAILURE, "DEPOSIT_EXPIRED"),
        (pg(PgStatus.CANCELED, raw="CANCELED"), BEFORE, Action.FAILURE, "PG_CANCELED"),
        (pg(PgStatus.APPROVED, amount=1000), BEFORE, Action.CANCEL_AND_FAIL, "PG_AMOUNT_MISMATCH"),
        (pg(PgStatus.APPROVED, key="pk-2"), BEFORE, Action.NEEDS_ATTENTION, "PG_IDENTITY_MISMATCH"),
    ],
    ids=[
        "unreachable",
        "unreachable-past-due",
        "paid-in",
        "paid-in-past-due",
        "waiting",
        "still-waiting-within-the-grace",
        "still-waiting-past-the-grace",
        "pending",
        "expired",
        "expired-by-the-pgs-clock-before-ours",
        "cancelled-past-due",
        "cancelled-before-due",
        "another-amount",
        "another-key",
    ],
)
def test_decide_deposit(record, now, action, reason):
    decision = decide_deposit(awaiting(), record, now=now, grace=GRACE)
    assert (decision.action, decision.reason) == (action, reason)
    if action == Action.SUCCESS:
        assert decision.approved_at == APPROVED_AT and decision.record is record


# --- after a confirm ---------------------------------------------------------------------


def test_after_confirm_a_record_is_judged():
    assert decide_after_confirm(EVENT, found(pg(PgStatus.APPROVED), "confirm")).action == (
        Action.SUCCESS
    )


def test_after_confirm_already_processed_then_a_failed_lookup_backs_off():
    decision = decide_after_confirm(EVENT, failed(PgError.NO_ANSWER, "READ_TIMEOUT"))
    assert (decision.action, decision.reason) == (Action.BACK_OFF, "LOOKUP_FAILED")


def test_after_confirm_a_first_decline_is_final():
    decision = decide_after_confirm(
        EVENT, failed(PgError.DECLINED, "REJECT_CARD_COMPANY", "confirm")
    )
    assert decision == Decision(
        Action.FAILURE, "PG_DECLINED", "REJECT_CARD_COMPANY", "the PG's words"
    )


def test_after_confirm_a_decline_after_an_unseen_attempt_is_verified():
    answer = failed(PgError.DECLINED, "REJECT_CARD_COMPANY", "confirm", after_retry=True)
    assert decide_after_confirm(EVENT, answer).action == Action.VERIFY_DECLINE


@pytest.mark.parametrize(
    ("in_recovery", "reason"), [(False, "PG_OUTCOME_UNKNOWN"), (True, "RECONFIRM_FAILED")]
)
def test_after_confirm_no_usable_answer_backs_off(in_recovery, reason):
    answer = failed(PgError.NO_ANSWER, "READ_TIMEOUT", "confirm")
    decision = decide_after_confirm(EVENT, answer, in_recovery=in_recovery)
    assert (decision.action, decision.reason, decision.pg_code) == (
        Action.BACK_OFF,
        reason,
        "READ_TIMEOUT",
    )


@pytest.mark.parametrize(("may_rotate", "action"), [(True, "CHECK_KEY"), (False, "BACK_OFF")])
def test_after_confirm_a_replayed_error_is_checked_only_where_a_new_key_may_follow(
    may_rotate, action
):
    answer = failed(PgError.NO_ANSWER, "PROVIDER_ERROR", "confirm", key_replayed=True)
    decision = decide_after_confirm(EVENT, answer, in_recovery=True, may_rotate=may_rotate)
    assert (decision.action, decision.pg_code) == (action, "PROVIDER_ERROR")


# --- may the key change? -----------------------------------------------------------------

REPLAYED = Decision(Action.CHECK_KEY, "PG_KEY_REPLAYED", "PROVIDER_ERROR")


def test_key_check_authenticated_not_approved_rotates():
    decision = decide_key_check(EVENT, REPLAYED, found(pg(PgStatus.PENDING, raw="IN_PROGRESS")))
    assert (decision.action, decision.reason, decision.pg_code) == (
        Action.ROTATE_KEY,
        "IDEMPOTENCY_KEY_ROTATED",
        "PROVIDER_ERROR",
    )
    assert "IN_PROGRESS" in decision.pg_message


@pytest.mark.parametrize(
    ("status", "action"),
    [(PgStatus.APPROVED, Action.SUCCESS), (PgStatus.FAILED, Action.FAILURE)],
)
def test_key_check_any_other_record_is_judged_and_the_key_stays(status, action):
    assert decide_key_check(EVENT, REPLAYED, found(pg(status))).action == action


@pytest.mark.parametrize("answer", [failed(PgError.NO_ANSWER), no_record()])
def test_key_check_without_a_record_there_is_no_proof(answer):
    decision = decide_key_check(EVENT, REPLAYED, answer)
    assert (decision.action, decision.reason) == (Action.BACK_OFF, "KEY_REPLAY_UNVERIFIED")


# --- verifying a decline -----------------------------------------------------------------

DECLINE = Decision(Action.VERIFY_DECLINE, "PG_DECLINED", "REJECT_CARD_COMPANY", "declined")


def test_decline_check_a_record_is_judged_and_an_approval_wins():
    decision = decide_after_decline_check(EVENT, DECLINE, found(pg(PgStatus.APPROVED)))
    assert decision.action == Action.SUCCESS


def test_decline_check_no_record_means_the_decline_stands():
    decision = decide_after_decline_check(EVENT, DECLINE, no_record())
    assert decision == Decision(Action.FAILURE, "PG_DECLINED", "REJECT_CARD_COMPANY", "declined")


def test_decline_check_no_usable_answer_backs_off():
    decision = decide_after_decline_check(EVENT, DECLINE, failed(PgError.NO_ANSWER))
    assert (decision.action, decision.reason) == (Action.BACK_OFF, "DECLINE_UNVERIFIED")


# --- cancelling an approval for the wrong amount -----------------------------------------

MISMATCH = Decision(Action.CANCEL_AND_FAIL, "PG_AMOUNT_MISMATCH", "DONE", "PG approved 1000")


@pytest.mark.parametrize(
    "answer",
    [found(pg(PgStatus.CANCELED), "cancel"), failed(PgError.ALREADY_DONE, operation="cancel")],
    ids=["cancelled", "cancelled-before"],
)
def test_after_cancel_the_money_is_back_so_the_payment_fails(answer):
    assert decide_after_cancel(MISMATCH, answer) == Decision(
        Action.FAILURE, "PG_AMOUNT_MISMATCH", "PG_AMOUNT_MISMATCH", "PG approved 1000"
    )


@pytest.mark.parametrize("error", [PgError.NO_ANSWER, PgError.DECLINED])
def test_after_cancel_money_kept_for_the_wrong_amount_needs_a_person(error):
    decision = decide_after_cancel(MISMATCH, failed(error, "COMMON_ERROR", "cancel"))
    assert (decision.action, decision.reason, decision.pg_code) == (
        Action.NEEDS_ATTENTION,
        "PG_AMOUNT_MISMATCH_NOT_CANCELLED",
        "COMMON_ERROR",
    )


# --- recovery (a lookup of an UNKNOWN or stale EXECUTING payment) ------------------------


def decide(record=None, error=None, window_passed=False):
    answer = PgAnswer("lookup", record=record) if error is None else error
    return decide_in_recovery(EVENT, answer, window_passed=window_passed)


def test_approved_with_matching_values_is_success():
    assert decide(pg(PgStatus.APPROVED, raw="DONE")).action == Action.SUCCESS


def test_approved_for_another_amount_is_cancelled_and_failed():
    decision = decide(pg(PgStatus.APPROVED, amount=1000))
    assert (decision.action, decision.reason) == (Action.CANCEL_AND_FAIL, "PG_AMOUNT_MISMATCH")


@pytest.mark.parametrize(
    "record",
    [
        pg(PgStatus.APPROVED, order_id="ord-other"),
        pg(PgStatus.APPROVED, key="pk-2"),
        pg(PgStatus.PARTIALLY_CANCELED),
    ],
    ids=["order", "key", "partial"],
)
def test_a_contradicting_record_needs_a_person(record):
    assert decide(record).action == Action.NEEDS_ATTENTION


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


def test_a_lookup_refused_as_a_bad_request_backs_off_too():
    decision = decide(error=failed(PgError.DECLINED, "INVALID_REQUEST"))
    assert (decision.action, decision.reason) == (Action.BACK_OFF, "PG_UNREACHABLE")


def test_when_the_budget_is_spent_an_undecided_last_check_goes_to_a_person():
    last = Decision(Action.BACK_OFF, "PG_UNREACHABLE", "READ_TIMEOUT")
    assert decide_budget_spent(last) == Decision(
        Action.NEEDS_ATTENTION, "RECOVERY_BUDGET_SPENT", "READ_TIMEOUT"
    )


def test_when_the_budget_is_spent_a_last_check_that_decides_stands():
    settled = Decision(Action.SUCCESS, "PG_APPROVED", "DONE")
    assert decide_budget_spent(settled) is settled


# --- an operator's re-check of NEEDS_ATTENTION -------------------------------------------


@pytest.mark.parametrize(
    ("record", "action"),
    [
        (pg(PgStatus.APPROVED, raw="DONE"), Action.SUCCESS),
        (pg(PgStatus.EXPIRED, raw="EXPIRED"), Action.FAILURE),
        (pg(PgStatus.APPROVED, amount=1000, raw="DONE"), Action.CANCEL_AND_FAIL),
    ],
    ids=["approved", "expired", "wrong-amount"],
)
def test_recheck_records_what_settles_the_payment(record, action):
    assert decide_operator_recheck(EVENT, found(record), window_passed=False).action == action


@pytest.mark.parametrize(
    "answer",
    [
        found(pg(PgStatus.PENDING, raw="IN_PROGRESS")),
        found(pg(PgStatus.PARTIALLY_CANCELED, raw="PARTIAL_CANCELED")),
        no_record(),
        failed(PgError.NO_ANSWER, "READ_TIMEOUT"),
    ],
    ids=["pending", "partial", "no-record", "unreachable"],
)
def test_recheck_leaves_a_note_of_what_the_pg_said_otherwise(answer):
    decision = decide_operator_recheck(EVENT, answer, window_passed=True)
    assert (decision.action, decision.reason, decision.pg_code) == (
        Action.LEAVE,
        "OPERATOR_RECHECK",
        answer.said,
    )


# --- an operator resolving NEEDS_ATTENTION as failed -------------------------------------


def resolve(answer, window_passed=True):
    return decide_operator_resolve(EVENT, answer, window_passed=window_passed)


def test_resolve_no_record_past_the_window_fails():
    assert resolve(no_record()) == Decision(
        Action.FAILURE, "OPERATOR_RESOLVED_FAILED", "NOT_FOUND_PAYMENT"
    )


def test_resolve_no_record_inside_the_window_is_refused():
    decision = resolve(no_record(), window_passed=False)
    assert (decision.action, decision.reason) == (Action.LEAVE, "OPERATOR_RESOLVE_REFUSED")
    assert "may still get one" in decision.note


def test_resolve_refuses_when_the_pg_cannot_be_asked():
    decision = resolve(failed(PgError.NO_ANSWER, "READ_TIMEOUT"))
    assert decision.action == Action.LEAVE and "READ_TIMEOUT" in decision.note


@pytest.mark.parametrize("status", [PgStatus.FAILED, PgStatus.EXPIRED, PgStatus.CANCELED])
def test_resolve_fails_what_the_pg_refused_expired_or_cancelled(status):
    decision = resolve(found(pg(status, raw="EXPIRED")))
    assert decision == Decision(Action.FAILURE, "OPERATOR_RESOLVED_FAILED", "EXPIRED")


def test_resolve_fails_what_was_authenticated_once_the_window_is_over():
    assert resolve(found(pg(PgStatus.PENDING))).action == Action.FAILURE


def test_resolve_refuses_while_the_buyer_may_still_be_confirming():
    decision = resolve(found(pg(PgStatus.PENDING)), window_passed=False)
    assert decision.action == Action.LEAVE and "window is still open" in decision.note


@pytest.mark.parametrize(
    "record",
    [pg(PgStatus.APPROVED), pg(PgStatus.APPROVED, amount=1000), pg(PgStatus.PARTIALLY_CANCELED)],
    ids=["approved", "wrong-amount", "partial"],
)
def test_resolve_refuses_what_the_pg_approved(record):
    decision = resolve(found(record))
    assert decision.action == Action.LEAVE and "re-check it instead" in decision.note


# --- the stock restore's re-check --------------------------------------------------------

FAILED_EVENT = PaymentEvent(
    order_id="ord-abcdef", payment_key="pk-1", total_amount=15000, status="FAILURE"
)


def test_restore_recheck_waits_while_the_pg_cannot_be_asked():
    decision = decide_restore_recheck(FAILED_EVENT, failed(PgError.NO_ANSWER, "READ_TIMEOUT"))
    assert (decision.action, decision.pg_code) == (Action.LEAVE, "READ_TIMEOUT")


def test_restore_recheck_an_approval_is_a_false_failure():
    decision = decide_restore_recheck(FAILED_EVENT, found(pg(PgStatus.APPROVED, raw="DONE")))
    assert (decision.action, decision.reason, decision.approved_at) == (
        Action.SUCCESS,
        "PG_APPROVED_FALSE_FAILURE",
        APPROVED_AT,
    )


@pytest.mark.parametrize(
    ("event", "answer"),
    [
        (FAILED_EVENT, no_record()),
        (FAILED_EVENT, found(pg(PgStatus.EXPIRED))),
        (FAILED_EVENT, found(pg(PgStatus.APPROVED, amount=1000))),
        (EVENT, found(pg(PgStatus.APPROVED))),  # not a FAILURE here: nothing to turn around
    ],
    ids=["no-record", "expired", "wrong-amount", "not-failed"],
)
def test_restore_recheck_otherwise_the_failure_stands_and_the_stock_goes_back(event, answer):
    assert decide_restore_recheck(event, answer).action == Action.FAILURE


# --- a webhook ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "in_flight", "note"),
    [
        (None, False, "no such payment here"),
        ("EXECUTING", True, "confirm in flight"),
        ("CANCELED", False, "payment is CANCELED"),
        ("NEEDS_ATTENTION", False, "payment is NEEDS_ATTENTION"),
    ],
)
def test_a_webhook_is_ignored_where_it_cannot_change_anything(status, in_flight, note):
    decision = decide_webhook(status, confirm_in_flight=in_flight)
    assert (decision.action, decision.note) == (Action.LEAVE, note)


@pytest.mark.parametrize("status", ["UNKNOWN", "EXECUTING"])
def test_a_webhook_about_a_payment_in_doubt_makes_us_ask_the_pg(status):
    assert decide_webhook(status, confirm_in_flight=False).action == Action.RECHECK


@pytest.mark.parametrize("status", ["SUCCESS", "PARTIAL_CANCELED", "FAILURE", "AWAITING_DEPOSIT"])
def test_a_webhook_about_a_finished_payment_compares_it_with_the_pg(status):
    assert decide_webhook(status, confirm_in_flight=False).action == Action.COMPARE


# --- the look a webhook prompted ------------------------------------------------------


@pytest.mark.parametrize(
    "answer, window_passed, action, reason",
    [
        (found(pg(PgStatus.APPROVED)), False, Action.SUCCESS, "PG_APPROVED"),
        (
            found(pg(PgStatus.APPROVED, amount=1)),
            False,
            Action.CANCEL_AND_FAIL,
            "PG_AMOUNT_MISMATCH",
        ),
        (found(pg(PgStatus.FAILED)), False, Action.FAILURE, "PG_FAILED"),
        (
            found(pg(PgStatus.APPROVED, order_id="ord-other")),
            False,
            Action.NEEDS_ATTENTION,
            "PG_IDENTITY_MISMATCH",
        ),
        (no_record(), True, Action.FAILURE, "PG_NO_RECORD"),
    ],
    ids=["approved", "wrong-amount", "refused", "someone-elses", "no-record-past-window"],
)
def test_a_webhook_recheck_records_what_the_pg_settles(answer, window_passed, action, reason):
    decision = decide_webhook_recheck(EVENT, answer, window_passed=window_passed)
    assert (decision.action, decision.reason) == (action, reason)


@pytest.mark.parametrize(
    "answer, window_passed",
    [
        (found(pg(PgStatus.PENDING, raw="IN_PROGRESS")), False),
        (found(pg(PgStatus.PENDING, raw="IN_PROGRESS")), True),
        (no_record(), False),
        (failed(PgError.NO_ANSWER, "READ_TIMEOUT"), False),
    ],
    ids=["pending", "pending-past-window", "no-record-yet", "unreachable"],
)
def test_a_webhook_recheck_leaves_the_rest_to_recovery(answer, window_passed):
    """Nothing that would spend an attempt: no BACK_OFF, no RECONFIRM."""
    decision = decide_webhook_recheck(EVENT, answer, window_passed=window_passed)
    assert (decision.action, decision.reason) == (Action.LEAVE, "WEBHOOK_RECHECK")
