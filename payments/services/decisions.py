"""What we do about what the PG said: the decision tables, as pure functions.

Every flow that asks a PG reads its answer (a PgAnswer from the PG port) through one of
these tables and gets a Decision: confirm (the request's, the asynchronous worker's, or
recovery's re-confirm), recovery, a webhook, an operator's re-check or resolve, and the
stock restore's re-check. Nothing here does I/O: payments.services.settle carries a
decision out (the further PG calls some need) and records it. Each row of each table has
its test in tests/payments/services/test_decisions.py.

    action            what happens
    ----------------  ------------------------------------------------------------------
    SUCCESS           recorded SUCCESS (outbox rows with it)
    FAILURE           recorded FAILURE (stock restored)
    NEEDS_ATTENTION   recorded NEEDS_ATTENTION: a person decides
    BACK_OFF          recorded UNKNOWN: recovery asks the PG again later
    RECONFIRM         confirm again with its key, then decide on that answer
    CANCEL_AND_FAIL   approved for another amount: cancel it at the PG, then decide
    VERIFY_DECLINE    a decline after an attempt we did not see: look the payment up
    CHECK_KEY         the key keeps getting one stored error back: look the payment up
    ROTATE_KEY        the lookup proved the PG did nothing: a new key, then RECONFIRM
    LEAVE             nothing is recorded (a note, a refusal, a wait)
    RECHECK           a webhook: ask the PG now, through recovery
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from payments.models import PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.pg import PgAnswer, PgError, PgRecord, PgStatus


class Action(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    BACK_OFF = "BACK_OFF"
    RECONFIRM = "RECONFIRM"
    CANCEL_AND_FAIL = "CANCEL_AND_FAIL"
    VERIFY_DECLINE = "VERIFY_DECLINE"
    CHECK_KEY = "CHECK_KEY"
    ROTATE_KEY = "ROTATE_KEY"
    LEAVE = "LEAVE"
    RECHECK = "RECHECK"
    # A finished payment: compare it with the PG's record (a cancel made in its dashboard,
    # an approval of a payment we failed, a deposit into a virtual account).
    COMPARE = "COMPARE"
    # The PG issued a virtual account: wait for the buyer's deposit (deposits.py).
    AWAIT_DEPOSIT = "AWAIT_DEPOSIT"


# The actions that are recorded as the payment's status, and the status each records.
RECORDED = {
    Action.SUCCESS: S.SUCCESS,
    Action.FAILURE: S.FAILURE,
    Action.NEEDS_ATTENTION: S.NEEDS_ATTENTION,
    Action.BACK_OFF: S.UNKNOWN,
    Action.AWAIT_DEPOSIT: S.AWAITING_DEPOSIT,
}
RECOVERABLE = frozenset({S.UNKNOWN, S.EXECUTING})


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str  # the history row's reason code
    pg_code: str = ""
    pg_message: str = ""
    approved_at: datetime | None = None  # SUCCESS: the PG's approval time, when it gave one
    # CANCEL_AND_FAIL: the approval to cancel; SUCCESS, AWAIT_DEPOSIT: the PG's record,
    # whose details (how it was paid, the virtual account) are stored with the outcome.
    record: PgRecord | None = None
    note: str = ""  # LEAVE: why, in words, for an operator


def judge(event: PaymentEvent, record: PgRecord) -> Decision:
    """The PG's record against ours: orderId, paymentKey and amount must agree.

    record says                             | then
    ----------------------------------------+------------------------------------------
    another orderId or paymentKey           | NEEDS_ATTENTION (PG_IDENTITY_MISMATCH)
    approved, our amount                    | SUCCESS (PG_APPROVED)
    approved, another amount                | CANCEL_AND_FAIL (PG_AMOUNT_MISMATCH)
    refused or expired                      | FAILURE (PG_FAILED, PG_EXPIRED)
    cancelled in full (no money taken)      | FAILURE (PG_CANCELED)
    partly cancelled                        | NEEDS_ATTENTION (PG_PARTIALLY_CANCELED)
    a virtual account issued, our amount    | AWAIT_DEPOSIT (PG_AWAITING_DEPOSIT)
    a virtual account, another amount       | CANCEL_AND_FAIL (PG_AMOUNT_MISMATCH)
    authenticated, not approved             | BACK_OFF (PG_PENDING)
    """
    if record.order_id != event.order_id or (
        event.payment_key and record.payment_key != event.payment_key
    ):
        return Decision(Action.NEEDS_ATTENTION, "PG_IDENTITY_MISMATCH", record.raw_status)
    if record.status in (PgStatus.APPROVED, PgStatus.AWAITING_DEPOSIT):
        if record.total_amount != event.total_amount:
            return Decision(
                Action.CANCEL_AND_FAIL,
                "PG_AMOUNT_MISMATCH",
                record.raw_status,
                f"PG approved {record.total_amount}, the order is {event.total_amount}",
                record=record,
            )
        if record.status == PgStatus.AWAITING_DEPOSIT:
            return Decision(
                Action.AWAIT_DEPOSIT, "PG_AWAITING_DEPOSIT", record.raw_status, record=record
            )
        return Decision(
            Action.SUCCESS,
            "PG_APPROVED",
            record.raw_status,
            approved_at=record.approved_at,
            record=record,
        )
    if record.status in (PgStatus.FAILED, PgStatus.EXPIRED):
        return Decision(
            Action.FAILURE,
            f"PG_{record.status}",
            record.failure_code or record.raw_status,
            record.failure_message or "",
        )
    if record.status == PgStatus.CANCELED:
        return Decision(Action.FAILURE, "PG_CANCELED", record.raw_status)
    if record.status == PgStatus.PARTIALLY_CANCELED:
        return Decision(Action.NEEDS_ATTENTION, "PG_PARTIALLY_CANCELED", record.raw_status)
    return Decision(Action.BACK_OFF, "PG_PENDING", record.raw_status)


def decide_after_confirm(
    event: PaymentEvent, answer: PgAnswer, *, in_recovery: bool = False, may_rotate: bool = False
) -> Decision:
    """A confirm's answer: the request's, the asynchronous worker's, or recovery's.

    PG answered                              | then
    -----------------------------------------+-----------------------------------------
    its record                               | judge()
    "already processed", then no lookup      | BACK_OFF (LOOKUP_FAILED)
    a decline                                | FAILURE (PG_DECLINED)
    a decline after an unseen attempt        | VERIFY_DECLINE
    the same stored error, every attempt     | CHECK_KEY (PG_KEY_REPLAYED), if may_rotate:
      (answer.key_replayed)                  |   recovery, not yet rotated this attempt
    nothing usable                           | BACK_OFF (PG_OUTCOME_UNKNOWN; in recovery
                                             |   RECONFIRM_FAILED)
    """
    if isinstance(answer.record, PgRecord):
        return judge(event, answer.record)
    if answer.operation == "lookup":  # pg_confirm looks it up when the PG says "already done"
        return Decision(Action.BACK_OFF, "LOOKUP_FAILED", answer.code, answer.message)
    if answer.error == PgError.DECLINED:
        action = Action.VERIFY_DECLINE if answer.after_retry else Action.FAILURE
        return Decision(action, "PG_DECLINED", answer.code, answer.message)
    if may_rotate and answer.key_replayed:
        return Decision(Action.CHECK_KEY, "PG_KEY_REPLAYED", answer.code, answer.message)
    reason = "RECONFIRM_FAILED" if in_recovery else "PG_OUTCOME_UNKNOWN"
    return Decision(Action.BACK_OFF, reason, answer.code, answer.message)


def decide_key_check(event: PaymentEvent, replayed: Decision, answer: PgAnswer) -> Decision:
    """CHECK_KEY: may recovery continue under a new key? Only if the lookup, made after
    the key's last (answered) request, proves the PG has not approved the payment.

    lookup answered                      | then
    -------------------------------------+------------------------------------------
    authenticated, not approved          | ROTATE_KEY (IDEMPOTENCY_KEY_ROTATED)
    any other record                     | judge(): approved after all, refused, ...
    nothing usable, or no such payment   | BACK_OFF (KEY_REPLAY_UNVERIFIED): no proof
    """
    if not isinstance(answer.record, PgRecord):
        return Decision(Action.BACK_OFF, "KEY_REPLAY_UNVERIFIED", replayed.pg_code, answer.code)
    decision = judge(event, answer.record)
    if decision.action != Action.BACK_OFF:
        return decision
    note = f"{replayed.pg_code} replayed; the PG says {answer.record.raw_status}"
    return Decision(Action.ROTATE_KEY, "IDEMPOTENCY_KEY_ROTATED", replayed.pg_code, note)


def decide_after_decline_check(
    event: PaymentEvent, decline: Decision, answer: PgAnswer
) -> Decision:
    """VERIFY_DECLINE: the lookup's answer says whether an earlier attempt went through.

    lookup answered            | then
    ---------------------------+----------------------------------------------------
    its record                 | judge()
    no such payment            | FAILURE (the decline stands: PG_DECLINED)
    nothing usable             | BACK_OFF (DECLINE_UNVERIFIED)
    """
    if isinstance(answer.record, PgRecord):
        return judge(event, answer.record)
    if answer.error == PgError.NOT_FOUND:
        return Decision(Action.FAILURE, "PG_DECLINED", decline.pg_code, decline.pg_message)
    return Decision(Action.BACK_OFF, "DECLINE_UNVERIFIED", answer.code, answer.message)


def decide_after_cancel(decision: Decision, answer: PgAnswer) -> Decision:
    """CANCEL_AND_FAIL: the cancel of an approval for another amount.

    cancel answered                   | then
    ----------------------------------+-----------------------------------------------
    cancelled, or cancelled before    | FAILURE (PG_AMOUNT_MISMATCH): no money kept
    anything else                     | NEEDS_ATTENTION (PG_AMOUNT_MISMATCH_NOT_CANCELLED):
                                      |   the PG holds money for the wrong amount
    """
    if answer.record is not None or answer.error == PgError.ALREADY_DONE:
        return Decision(
            Action.FAILURE, "PG_AMOUNT_MISMATCH", "PG_AMOUNT_MISMATCH", decision.pg_message
        )
    return Decision(
        Action.NEEDS_ATTENTION,
        "PG_AMOUNT_MISMATCH_NOT_CANCELLED",
        answer.code,
        decision.pg_message,
    )


def decide_in_recovery(event: PaymentEvent, answer: PgAnswer, *, window_passed: bool) -> Decision:
    """A lookup's answer about an UNKNOWN or stale EXECUTING payment.

    PG says                           | when                | then
    ----------------------------------+---------------------+--------------------------
    its record, not pending           |                     | judge()
    authenticated, not approved       | inside the window   | RECONFIRM (PG_PENDING)
    authenticated, not approved       | past the window     | BACK_OFF (the PG expires it)
    no such payment                   | past the window     | FAILURE (PG_NO_RECORD)
    no such payment                   | inside the window   | BACK_OFF (PG_NO_RECORD_YET)
    nothing usable (down, 5xx, ...)   |                     | BACK_OFF (PG_UNREACHABLE)
    """
    if answer.error == PgError.NOT_FOUND:
        if window_passed:
            return Decision(Action.FAILURE, "PG_NO_RECORD", answer.code)
        return Decision(Action.BACK_OFF, "PG_NO_RECORD_YET", answer.code)
    if not isinstance(answer.record, PgRecord):
        return Decision(Action.BACK_OFF, "PG_UNREACHABLE", answer.code)
    decision = judge(event, answer.record)
    if decision.action != Action.BACK_OFF:
        return decision
    if window_passed:
        return Decision(Action.BACK_OFF, "PG_PENDING_PAST_WINDOW", decision.pg_code)
    return Decision(Action.RECONFIRM, "PG_PENDING", decision.pg_code)


def decide_budget_spent(last_check: Decision) -> Decision:
    """The last attempt's second look: still BACK_OFF means a person decides."""
    if last_check.action == Action.BACK_OFF:
        return Decision(Action.NEEDS_ATTENTION, "RECOVERY_BUDGET_SPENT", last_check.pg_code)
    return last_check


def decide_operator_recheck(
    event: PaymentEvent, answer: PgAnswer, *, window_passed: bool
) -> Decision:
    """An operator's re-check of a NEEDS_ATTENTION payment: the recovery table, where it
    settles the payment; anything else leaves it as it is (a note of what the PG said)."""
    if isinstance(answer.record, PgRecord):
        decision = decide_in_recovery(event, answer, window_passed=window_passed)
        if decision.action in (
            Action.SUCCESS,
            Action.FAILURE,
            Action.CANCEL_AND_FAIL,
            Action.AWAIT_DEPOSIT,
        ):
            return decision
    return Decision(Action.LEAVE, "OPERATOR_RECHECK", answer.said)


def decide_operator_resolve(
    event: PaymentEvent, answer: PgAnswer, *, window_passed: bool
) -> Decision:
    """An operator resolving NEEDS_ATTENTION as failed: only where the PG proves that no
    money was taken and none can be.

    PG says                               | then
    --------------------------------------+-------------------------------------------
    no such payment, past the window      | FAILURE (OPERATOR_RESOLVED_FAILED)
    no such payment, inside the window    | LEAVE: it may still get one
    nothing usable                        | LEAVE: the PG could not be asked
    refused, expired, cancelled           | FAILURE
    authenticated, window over            | FAILURE (the PG expires it)
    authenticated, window open            | LEAVE: the buyer may still be confirming
    approved, or a record that differs    | LEAVE: re-check it instead
    """
    failed = Decision(Action.FAILURE, "OPERATOR_RESOLVED_FAILED", answer.said)
    refused = "OPERATOR_RESOLVE_REFUSED"
    if answer.error == PgError.NOT_FOUND:
        if window_passed:
            return failed
        note = "the PG has no record yet, but may still get one"
        return Decision(Action.LEAVE, refused, answer.said, note=note)
    if not isinstance(answer.record, PgRecord):
        return Decision(
            Action.LEAVE, refused, answer.said, note=f"the PG could not be asked ({answer.code})"
        )
    decision = decide_in_recovery(event, answer, window_passed=window_passed)
    if decision.action in (Action.FAILURE, Action.BACK_OFF):
        return failed
    if decision.action == Action.RECONFIRM:
        note = "the buyer authenticated it and its confirm window is still open"
    else:
        note = f"the PG approved it ({decision.reason}); re-check it instead"
    return Decision(Action.LEAVE, refused, answer.said, note=note)


def decide_restore_recheck(event: PaymentEvent, answer: PgAnswer) -> Decision:
    """A failed stock restore, retried: did the PG approve the payment after all?

    PG says                                  | then
    -----------------------------------------+------------------------------------------
    nothing usable                           | LEAVE: ask again at the next run
    approved for our amount (a FAILURE here) | SUCCESS (PG_APPROVED_FALSE_FAILURE): the
                                             |   restore is closed unrun
    anything else, or no such payment        | FAILURE: the recorded failure stands, so
                                             |   its stock goes back
    """
    if answer.record is None and answer.error != PgError.NOT_FOUND:
        return Decision(Action.LEAVE, "PG_UNREACHABLE", answer.code)
    if isinstance(answer.record, PgRecord) and event.status == S.FAILURE:
        decision = judge(event, answer.record)
        if decision.action == Action.SUCCESS:
            return Decision(
                Action.SUCCESS,
                "PG_APPROVED_FALSE_FAILURE",
                decision.pg_code,
                approved_at=decision.approved_at,
                record=decision.record,
            )
    return Decision(Action.FAILURE, "FAILURE_STANDS")


def decide_webhook(status: str | None, *, confirm_in_flight: bool) -> Decision:
    """A PG's notification proves nothing: at most it makes us ask the PG sooner.

    our payment                        | then
    -----------------------------------+---------------------------------------------
    none with that orderId             | LEAVE (ignored)
    EXECUTING, its confirm still going | LEAVE: that request records the outcome
    SUCCESS, PARTIAL_CANCELED, FAILURE | COMPARE with the PG's record: a cancel made in
                                       |   its dashboard, a failure it approved, a
                                       |   deposit the bank took back
    AWAITING_DEPOSIT                   | COMPARE: the deposit came, or the due date passed
    CANCELED, NEEDS_ATTENTION          | LEAVE: nothing a notice can add
    UNKNOWN, or EXECUTING gone stale   | RECHECK through recovery, under its lease
    """
    if status is None:
        return Decision(Action.LEAVE, "WEBHOOK_IGNORED", note="no such payment here")
    if confirm_in_flight:
        return Decision(Action.LEAVE, "WEBHOOK_IGNORED", note="confirm in flight")
    if status in (S.SUCCESS, S.PARTIAL_CANCELED, S.FAILURE, S.AWAITING_DEPOSIT):
        return Decision(Action.COMPARE, "WEBHOOK")
    if status not in RECOVERABLE:
        return Decision(Action.LEAVE, "WEBHOOK_IGNORED", note=f"payment is {status}")
    return Decision(Action.RECHECK, "WEBHOOK")


def decide_webhook_recheck(
    event: PaymentEvent, answer: PgAnswer, *, window_passed: bool
) -> Decision:
    """The look a notice prompted: what the PG's answer settles is recorded; anything else
    leaves the payment to recovery's own schedule, its attempts and budget untouched (a
    forged notice must not bring a payment closer to NEEDS_ATTENTION).

    PG says                                  | then
    -----------------------------------------+-----------------------------------------
    approved, refused, cancelled, mismatched | the recovery table's outcome (judge())
    no such payment, past the window         | FAILURE (PG_NO_RECORD)
    pending, not found yet, nothing usable   | LEAVE: recovery asks again on its schedule
    """
    decision = decide_in_recovery(event, answer, window_passed=window_passed)
    if decision.action in (Action.BACK_OFF, Action.RECONFIRM):
        return Decision(Action.LEAVE, "WEBHOOK_RECHECK", answer.said, note=decision.reason)
    return decision


def decide_deposit(
    event: PaymentEvent, record: PgRecord | None, *, now: datetime, grace: timedelta
) -> Decision:
    """A virtual account waiting for its deposit (AWAITING_DEPOSIT), looked at again: by
    the deposit watch near and after its due date, or because a notice came.

    PG says                                  | then
    -----------------------------------------+-----------------------------------------
    nothing usable                           | LEAVE: look again at the next watch
    paid in, our amount                      | SUCCESS (PG_DEPOSITED)
    still waiting, before the due date and   | LEAVE (the grace: a transfer made at the
      `grace` after it                       |   last second is reported a little late)
    still waiting, past due date and grace   | FAILURE (DEPOSIT_EXPIRED): a deposit that
                                             |   lands later is a false failure, refunded
    expired (whatever our clock says: the    | FAILURE (DEPOSIT_EXPIRED)
      PG's clock closed it)                  |
    cancelled, past the due date             | FAILURE (DEPOSIT_EXPIRED)
    cancelled before the due date            | FAILURE (PG_CANCELED: at the PG, unpaid)
    another identity or amount, partly       | judge()'s outcome (NEEDS_ATTENTION,
      cancelled                              |   CANCEL_AND_FAIL)
    """
    if not isinstance(record, PgRecord):
        return Decision(Action.LEAVE, "DEPOSIT_CHECK", note="the PG could not be asked")
    decision = judge(event, record)
    if decision.action == Action.SUCCESS:
        return Decision(
            Action.SUCCESS,
            "PG_DEPOSITED",
            decision.pg_code,
            approved_at=decision.approved_at,
            record=record,
        )
    due = event.deposit_due_at
    past_due = due is not None and now > due
    past_grace = due is not None and now > due + grace
    if decision.action == Action.BACK_OFF:
        return Decision(Action.LEAVE, "DEPOSIT_CHECK", note=f"the PG says {record.raw_status}")
    if decision.action == Action.AWAIT_DEPOSIT and not past_grace:
        return Decision(Action.LEAVE, "DEPOSIT_CHECK", note="still waiting for the deposit")
    expired = decision.action == Action.FAILURE and (past_due or record.status == PgStatus.EXPIRED)
    if decision.action == Action.AWAIT_DEPOSIT or expired:
        # Toss may end an unpaid account as EXPIRED or as CANCELED (not documented which):
        # past its due date, either is the deposit that never came.
        return Decision(Action.FAILURE, "DEPOSIT_EXPIRED", record.raw_status, "입금 기한 만료")
    return decision
