"""Virtual accounts (가상계좌) waiting for the buyer's deposit (AWAITING_DEPOSIT).

A confirm that the PG answers with an issued account records AWAITING_DEPOSIT through
the one settle path (the account and its due date in PaymentDetail, the secret as a
digest); stock and points stay held. What ends the wait, each through the same path:

- the deposit: the DEPOSIT_CALLBACK and PAYMENT_STATUS_CHANGED notices (webhooks.py, the
  callback's secret compared first), or the deposit watch below, look the payment up
  and record SUCCESS (the outbox books it, points settle);
- the due date: the watch looks each payment up from DEPOSIT_WATCH_AHEAD_SECONDS before
  its due date, every DEPOSIT_WATCH_RETRY_SECONDS until it is settled, and records
  FAILURE (DEPOSIT_EXPIRED) once the PG says so, or DEPOSIT_EXPIRY_GRACE_SECONDS after
  the date: the stock restore gives stock and points back. A deposit that lands after
  that is a false failure, refunded by the refund path;
- the rare reversal (the bank takes a deposit back: DONE -> WAITING_FOR_DEPOSIT at
  Toss): SUCCESS goes back to AWAITING_DEPOSIT with a history row, an ERROR log line
  and payment_deposits_reversed_total, keeping the sale and its stock; not paid in again
  by its due date, it goes to NEEDS_ATTENTION (its sale is booked), not FAILURE.

Recovery never sees these payments (it asks about UNKNOWN and EXECUTING only), so an
issued account is never confirmed again and never becomes NEEDS_ATTENTION for waiting.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from payments.metrics import DEPOSITS_REVERSED
from payments.models import PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.decisions import Action, Decision, decide_deposit, judge
from payments.services.pg import PgRecord, pg_lookup
from payments.services.settle import payment_record_outcome

log = structlog.get_logger(__name__)


def deposit_watch(*, actor: str = "worker", limit: int | None = None) -> dict[str, int]:
    """Look up every account whose look is due; what came of them."""
    now = timezone.now()
    due = PaymentEvent.objects.filter(status=S.AWAITING_DEPOSIT, next_attempt_at__lte=now)
    batch = due.order_by("next_attempt_at", "id")[: limit or settings.DEPOSIT_WATCH_BATCH_SIZE]
    counts = {"deposited": 0, "expired": 0, "waiting": 0, "other": 0}
    for event in list(batch):
        try:
            record = pg_lookup(event).record
            decision = payment_deposit_check(event=event, record=record, actor=actor)
        except Exception:
            # One payment's bug must not stop the batch behind it: logged, looked at again.
            log.exception("deposit_watch_failed", orderId=event.order_id)
            decision = Decision(Action.LEAVE, "DEPOSIT_CHECK_FAILED")
        # Whatever came of it, one still waiting is looked at again later, never at once:
        # a decision that could not be recorded must not hold the head of the queue.
        retry = now + timedelta(seconds=settings.DEPOSIT_WATCH_RETRY_SECONDS)
        PaymentEvent.objects.filter(
            pk=event.pk, status=S.AWAITING_DEPOSIT, next_attempt_at__lte=now
        ).update(next_attempt_at=retry)
        if decision.action == Action.LEAVE:
            counts["waiting"] += 1
        elif decision.action == Action.SUCCESS:
            counts["deposited"] += 1
        elif decision.reason == "DEPOSIT_EXPIRED":
            counts["expired"] += 1
        else:
            counts["other"] += 1
    if any(counts[k] for k in ("deposited", "expired", "other")):
        log.info("deposit_watch", **counts)
    return counts


def payment_deposit_check(*, event: PaymentEvent, record, actor: str) -> Decision:
    """Record what the PG's record settles for an AWAITING_DEPOSIT payment (decide_deposit).

    A payment whose deposit the bank took back is never failed by itself: its sale is
    booked (and its points settled), so giving the stock and points back would unbalance
    the books. Unpaid past its due date, it goes to an operator instead."""
    grace = timedelta(seconds=settings.DEPOSIT_EXPIRY_GRACE_SECONDS)
    decision = decide_deposit(event, record, now=timezone.now(), grace=grace)
    if decision.action == Action.FAILURE and _reversed(event):
        decision = Decision(
            Action.NEEDS_ATTENTION,
            "DEPOSIT_REVERSED_NOT_PAID",
            decision.pg_code,
            "입금 취소 후 미입금",
        )
    if decision.action != Action.LEAVE:
        payment_record_outcome(
            event=event, decision=decision, actor=actor, froms={S.AWAITING_DEPOSIT}
        )
    return decision


def _reversed(event: PaymentEvent) -> bool:
    return event.history.filter(reason="PG_DEPOSIT_REVERSED").exists()


def payment_deposit_reversed(*, event: PaymentEvent, record: PgRecord, actor: str) -> bool:
    """A SUCCESS whose deposit the bank took back (the PG says waiting again): back to
    AWAITING_DEPOSIT, the sale and its stock kept, an operator told."""
    decision = judge(event, record)
    if decision.action != Action.AWAIT_DEPOSIT:
        return False
    reversed_ = Decision(
        Action.AWAIT_DEPOSIT, "PG_DEPOSIT_REVERSED", record.raw_status, record=record
    )
    if not payment_record_outcome(event=event, decision=reversed_, actor=actor, froms={S.SUCCESS}):
        return False
    DEPOSITS_REVERSED.labels(event.gateway).inc()
    log.error("deposit_reversed", orderId=event.order_id)
    return True
