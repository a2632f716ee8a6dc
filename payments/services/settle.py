"""Settling a payment: carry a decision out, then record it with everything it owes.

Whoever learns an outcome (the confirm request, its asynchronous worker, recovery, a
webhook through recovery, an operator, the stock restore's re-check, checkout, expiry)
records it through payment_record_outcome, and nothing else writes an outcome:

- the status change is a conditional UPDATE from the statuses the caller read, with its
  history row (payments.states.transition), and it gives up any recovery lease;
- SUCCESS writes its LEDGER outbox row (the booking the relay makes) in the same
  transaction; a false failure's stock restore is closed unrun;
- FAILURE creates its stock-restore job in the same transaction, and tries the restore
  at once after the commit;
- UNKNOWN (BACK_OFF) schedules the next recovery attempt;
- a final status wakes requests waiting on the payment, after the commit.

Some decisions need one more PG call before they can be recorded (re-confirm, verify a
decline, cancel an approval for the wrong amount): payment_record_outcome makes it first
(decision_carry_out), so no caller can record such a decision without it.
"""

import random
from datetime import timedelta
from functools import cache

import redis
import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.models import CompensationJob, OutboxMessage, PaymentEvent, RefundStatus
from payments.models import PaymentStatus as S
from payments.services.decisions import (
    RECORDED,
    Action,
    Decision,
    decide_after_cancel,
    decide_after_confirm,
    decide_after_decline_check,
    decide_key_check,
)
from payments.services.details import payment_details_record
from payments.services.key_rotation import payment_key_rotate
from payments.services.pg import pg_cancel, pg_confirm, pg_lookup
from payments.services.queue import EXECUTE_REFUND, enqueue
from payments.services.refund_request import refund_request_false_failure
from payments.services.stock_restore import compensation_close_unrun, compensation_restore_for
from payments.states import transition

log = structlog.get_logger(__name__)
# Outcomes whose deciding record tells how the buyer paid (kept in PaymentDetail).
DETAILED = frozenset({Action.SUCCESS, Action.AWAIT_DEPOSIT})


class _AlreadyRestored(Exception):
    """A false failure turned out approved, but its stock is already back on sale."""


def decision_carry_out(
    *, event: PaymentEvent, decision: Decision, actor: str = "worker"
) -> Decision:
    """Make the PG call a decision needs before it can be recorded, and decide again.

    Ends: a re-confirm's answer is never RECONFIRM, a decline check's never
    VERIFY_DECLINE, and a cancel's is FAILURE or NEEDS_ATTENTION. The key changes at most
    once (key_rotation.py): a replay under the new key backs off.
    """
    rotated = False
    while True:
        if decision.action == Action.RECONFIRM:
            answer = pg_confirm(event)
            decision = decide_after_confirm(event, answer, in_recovery=True, may_rotate=not rotated)
        elif decision.action == Action.CHECK_KEY:
            decision = decide_key_check(event, decision, pg_lookup(event))
        elif decision.action == Action.ROTATE_KEY:
            if not payment_key_rotate(event=event, decision=decision, actor=actor):
                # Moved, rotated by another, or our lease ran out: back off, no new key.
                return Decision(Action.BACK_OFF, "KEY_ROTATION_LOST", decision.pg_code)
            rotated = True
            decision = Decision(Action.RECONFIRM, "KEY_ROTATED")
        elif decision.action == Action.VERIFY_DECLINE:
            decision = decide_after_decline_check(event, decision, pg_lookup(event))
        elif decision.action == Action.CANCEL_AND_FAIL:
            # Approved for another amount: not a success. Give the money back, then fail it.
            log.error("pg_amount_mismatch", detail=decision.pg_message)
            answer = pg_cancel(
                event,
                payment_key=decision.record.payment_key,
                amount=None,
                reason="결제 금액 불일치",
                idempotency_key=f"{event.pg_idempotency_key}-amount-mismatch",
            )
            decision = decide_after_cancel(decision, answer)
        else:
            return decision


def payment_record_outcome(
    *,
    event: PaymentEvent,
    decision: Decision,
    actor: str,
    froms: set[str],
    attempt: int | None = None,
    lease_owner: str = "",
) -> bool:
    """Record a decision's outcome (SUCCESS, FAILURE, NEEDS_ATTENTION or BACK_OFF), from
    `froms` only, after the PG calls it needs (decision_carry_out: a re-confirm, a decline
    check, a cancel of an approval for the wrong amount).

    `attempt` numbers a recovery attempt: a BACK_OFF then waits by the recovery schedule
    (else the first recovery delay). True if recorded: `event` is updated in memory. False
    if the payment was not in `froms` (someone else moved it first): `event` is re-read,
    and the lease is given back if `lease_owner` still holds it.
    """
    decision = decision_carry_out(event=event, decision=decision, actor=actor)
    fields = _outcome_fields(decision, attempt)
    status = RECORDED[decision.action]
    try:
        with transaction.atomic(durable=True):
            moved = transition(
                event.pk,
                to=status,
                froms=froms,
                reason=decision.reason,
                actor=actor,
                pg_code=decision.pg_code,
                pg_message=decision.pg_message,
                **fields,
            )
            if moved is not None:
                if decision.record is not None and decision.action in DETAILED:
                    payment_details_record(event_id=event.pk, record=decision.record)
                _after_effects(event.pk, status, moved)
    except _AlreadyRestored:
        # Its stock is back on sale: turning it into a sale now could oversell. The PG
        # holds money for it, so it is refunded in full, by itself.
        log.error("false_failure_after_restore", event_id=event.pk)
        refund = refund_request_false_failure(event_id=event.pk)
        if refund is not None and refund.status == RefundStatus.REQUESTED:
            enqueue(EXECUTE_REFUND, refund.pk)
        moved = None
    if moved is None:
        if lease_owner:
            payment_release_lease(event_id=event.pk, owner=lease_owner)
        event.refresh_from_db()
        return False
    log.info(
        "payment_outcome",
        status=status,
        reason=decision.reason,
        pg_code=decision.pg_code or None,
    )
    event.status = status
    for field, value in fields.items():
        setattr(event, field, value)
    if status == S.FAILURE:
        compensation_restore_for(event_id=event.pk)  # if it fails, the periodic retry does it
    return True


def payment_release_lease(*, event_id: int, owner: str) -> None:
    PaymentEvent.objects.filter(pk=event_id, lease_owner=owner).update(
        lease_until=None, lease_owner=""
    )


def _after_effects(event_id: int, status: str, moved_from: str) -> None:
    """What a recorded outcome owes, written in the transition's own transaction."""
    if status == S.SUCCESS:
        # FAILURE -> SUCCESS is only right while the stock is still held.
        if moved_from == S.FAILURE and not compensation_close_unrun(event_id=event_id):
            raise _AlreadyRestored(event_id)
        _write_outbox(event_id)
    elif status == S.FAILURE:
        CompensationJob.objects.create(event_id=event_id)
    if status != S.UNKNOWN:
        transaction.on_commit(lambda: payment_notify(event_id))


def outcome_channel(event_id: int) -> str:
    """The Redis channel a payment's final outcome is published on (waiting.py listens)."""
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'payments')}:outcome:{event_id}"


def payment_notify(event_id: int) -> None:
    """Wake whoever waits on this payment; a lost notice only costs them their timeout."""
    if not settings.REDIS_URL:
        return
    try:
        _notices().publish(outcome_channel(event_id), "1")
    except Exception as exc:
        log.warning("outcome_notify_failed", error=type(exc).__name__)


@cache
def _notices():
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def _outcome_fields(decision: Decision, attempt: int | None) -> dict:
    """The payment's columns a decision writes, besides its status."""
    # Whoever records an outcome also gives up any recovery lease on the payment.
    fields = {"lease_until": None, "lease_owner": ""}
    if decision.action == Action.SUCCESS:
        fields |= {
            "approved_at": decision.approved_at or timezone.now(),
            "failure_code": "",
            "failure_message": "",
        }
    elif decision.action == Action.FAILURE:
        fields |= {
            "failure_code": decision.pg_code or decision.reason,
            "failure_message": decision.pg_message[:255],
        }
    elif decision.action == Action.BACK_OFF:
        fields |= next_attempt_fields(attempt)
    elif decision.action == Action.AWAIT_DEPOSIT:
        details = decision.record.details if decision.record else None
        account = details.virtual_account if details else None
        due = account.due_date if account else None
        # The deposit watch (deposits.py) looks first shortly before the due date; an
        # account without one is looked at after the first recovery delay.
        ahead = timedelta(seconds=settings.DEPOSIT_WATCH_AHEAD_SECONDS)
        first_look = due - ahead if due else next_attempt_fields(None)["next_attempt_at"]
        fields |= {
            "deposit_due_at": due,
            "next_attempt_at": first_look,
            "approved_at": None,  # a deposit the bank took back is not an approval any more
        }
    return fields


def next_attempt_fields(attempt: int | None) -> dict:
    """When recovery asks next: after the first delay, or by the recovery schedule
    (RECOVERY_BACKOFF_SECONDS, each pause jittered to 50-100 %)."""
    if attempt is None:
        pause = settings.RECOVERY_FIRST_DELAY_SECONDS
        return {"next_attempt_at": timezone.now() + timedelta(seconds=pause)}
    schedule = settings.RECOVERY_BACKOFF_SECONDS
    pause = schedule[min(attempt - 1, len(schedule) - 1)] * random.uniform(0.5, 1.0)  # noqa: S311
    return {"next_attempt_at": timezone.now() + timedelta(seconds=pause), "retry_count": attempt}


def _write_outbox(event_id: int) -> None:
    # One row owes the whole booking (the journal entry, seller wallets, member points):
    # the relay (payments.services.relay) reads the payment and its lines when it runs.
    OutboxMessage.objects.create(event_id=event_id, kind=OutboxMessage.Kind.LEDGER)
