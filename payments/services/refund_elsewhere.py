"""Cancels made elsewhere (the PG's dashboard), and approvals of payments we failed.

When a look at the PG (prompted by a webhook) shows a finished payment other than we
recorded it, this brings our records to the PG's:

- a paid payment with a cancel none of our refunds made: it becomes a Refund with actor
  `pg`. A cancel of everything the PG still held refunds the whole order (every line
  restocked, the points given back) and is SUCCEEDED at once; a partial one is recorded
  NEEDS_ATTENTION with its money reserved, for an operator to say which lines it was for
  (the PG does not know our lines);
- a FAILURE the PG approved for our amount: recorded SUCCESS while its stock is still
  held, else refunded in full by itself (payments.services.settle, a false failure).
"""

import structlog
from django.db import IntegrityError

from config.errors import DomainError
from payments.models import PaymentEvent, Refund
from payments.models import PaymentStatus as S
from payments.models import RefundStatus as R
from payments.services.decisions import Action, judge
from payments.services.deposits import payment_deposit_check, payment_deposit_reversed
from payments.services.pg import PgRecord
from payments.services.refund_decisions import RefundOutcome
from payments.services.refund_request import REFUNDABLE, refund_request
from payments.services.refund_settle import refund_record_outcome
from payments.services.settle import payment_record_outcome

log = structlog.get_logger(__name__)
PG = "pg"


def payment_sync_with_pg(*, event: PaymentEvent, record: PgRecord, actor: str) -> str:
    """Bring a finished payment in line with the PG's record; a note of what was done."""
    if event.status == S.FAILURE:
        decision = judge(event, record)
        if decision.action == Action.SUCCESS and payment_record_outcome(
            event=event, decision=decision, actor=actor, froms={S.FAILURE}
        ):
            return "the PG had approved it: SUCCESS"
        return f"FAILURE; the PG says {record.raw_status}"
    if event.status == S.AWAITING_DEPOSIT:
        decision = payment_deposit_check(event=event, record=record, actor=actor)
        return f"AWAITING_DEPOSIT: {decision.reason} ({record.raw_status})"
    if event.status == S.SUCCESS and payment_deposit_reversed(
        event=event, record=record, actor=actor
    ):
        return "the bank took the deposit back: AWAITING_DEPOSIT again"
    if event.status in REFUNDABLE:
        found = refund_record_cancels_elsewhere(event=event, record=record)
        return f"{found} cancel(s) made at the PG recorded" if found else "in line with the PG"
    return f"{event.status}; nothing to compare"


def refund_record_cancels_elsewhere(*, event: PaymentEvent, record: PgRecord) -> int:
    """Record the PG's cancels that none of our refunds made; how many there were."""
    keys = ("pg_idempotency_key", "pg_transaction_key")
    ours = list(Refund.objects.filter(event=event).values_list(*keys))
    found = 0
    for cancel in record.cancels:
        if not cancel.transaction_key or any(
            key in cancel.note or (tx and tx == cancel.transaction_key) for key, tx in ours
        ):
            continue
        event.refresh_from_db()
        pg_left = event.total_amount - event.canceled_amount - event.refund_reserved
        whole = cancel.amount == pg_left and record.balance_amount == 0
        try:
            refund = refund_request(
                event=event,
                actor=PG,
                reason="결제사에서 전액 취소" if whole else "결제사에서 부분 취소",
                amount=None if whole else cancel.amount,
                key=f"pg-{cancel.transaction_key}"[:64],
                made_at_pg=cancel.transaction_key,
            )
        except (IntegrityError, DomainError) as exc:
            # Recorded meanwhile by another look (the key is unique), or our own refunds in
            # flight hold the money (or a top-up's points are spent): logged for the next
            # look (a webhook, an operator's re-check, reconciliation) to try again.
            log.warning("pg_cancel_elsewhere_not_recorded", error=type(exc).__name__)
            continue
        # Created EXECUTING with the PG's key: if this process dies here, recovery finds the
        # cancel at the PG by that key and records it; nothing ever sends it.
        if whole:
            tx = cancel.transaction_key
            outcome = RefundOutcome(R.SUCCEEDED, "PG_CANCELED_ELSEWHERE", transaction_key=tx)
        else:
            outcome = RefundOutcome(R.NEEDS_ATTENTION, "PG_CANCEL_NEEDS_LINES")
        refund_record_outcome(refund_id=refund.pk, outcome=outcome, actor=PG, froms={R.EXECUTING})
        log.warning("pg_cancel_elsewhere", refund_id=refund.pk, amount=cancel.amount, whole=whole)
        found += 1
    return found
