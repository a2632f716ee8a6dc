"""The one place an outcome is recorded, whoever learned it (DESIGN section 3).

SUCCESS always writes its outbox rows, FAILURE always creates its stock-restore job, in
the same transaction as the status change. No path skips them.
"""

from dataclasses import dataclass
from datetime import datetime

import structlog
from django.db import transaction
from django.utils import timezone

from gateways.types import GatewayPayment
from payments.models import CompensationJob, OutboxMessage, PaymentEvent, Purpose
from payments.models import PaymentStatus as S
from payments.services.waiting import payment_notify
from payments.states import transition

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str  # SUCCESS, FAILURE, UNKNOWN or NEEDS_ATTENTION
    reason: str
    pg_code: str = ""
    pg_message: str = ""
    approved_at: datetime | None = None
    next_attempt_at: datetime | None = None
    retry_count: int | None = None


def approved(reason: str, pg_code: str, pg: GatewayPayment) -> Outcome:
    """SUCCESS for a payment the PG approved, at the PG's approval time when it gave one."""
    return Outcome(S.SUCCESS, reason, pg_code, approved_at=pg.approved_at or timezone.now())


class _AlreadyRestored(Exception):
    """A false failure turned out approved, but its stock is already back on sale."""


def outcome_fields(outcome: Outcome) -> dict:
    """The payment's columns an outcome writes, besides its status."""
    # Whoever records an outcome also gives up any recovery lease on the payment.
    fields = {"lease_until": None, "lease_owner": ""}
    if outcome.retry_count is not None:
        fields["retry_count"] = outcome.retry_count
    if outcome.status == S.SUCCESS:
        fields |= {"approved_at": outcome.approved_at, "failure_code": "", "failure_message": ""}
    elif outcome.status == S.FAILURE:
        fields |= {
            "failure_code": outcome.pg_code or outcome.reason,
            "failure_message": outcome.pg_message[:255],
        }
    elif outcome.status == S.UNKNOWN:
        fields |= {"next_attempt_at": outcome.next_attempt_at}
    return fields


def payment_record_outcome(
    *, event_id: int, outcome: Outcome, actor: str, froms: set[str] | None = None
) -> bool:
    """Apply the outcome if the payment is still in a state it may leave; False if not."""
    fields = outcome_fields(outcome)
    try:
        with transaction.atomic(durable=True):
            moved = transition(
                event_id,
                to=outcome.status,
                froms=froms,
                reason=outcome.reason,
                actor=actor,
                pg_code=outcome.pg_code,
                pg_message=outcome.pg_message,
                **fields,
            )
            if moved is None:
                return False
            if outcome.status == S.SUCCESS:
                if moved == S.FAILURE:
                    _close_compensation_of_false_failure(event_id)
                _write_outbox(event_id)
            elif outcome.status == S.FAILURE:
                CompensationJob.objects.create(event_id=event_id)
            if outcome.status != S.UNKNOWN:
                transaction.on_commit(lambda: payment_notify(event_id))
    except _AlreadyRestored:
        # Its stock is back on sale: turning it into a sale now could oversell. The PG
        # holds money for it, so a person must refund it.
        log.error("false_failure_after_restore", event_id=event_id)
        return False
    log.info(
        "payment_outcome",
        status=outcome.status,
        reason=outcome.reason,
        pg_code=outcome.pg_code or None,
    )
    return True


def _close_compensation_of_false_failure(event_id: int) -> None:
    """FAILURE -> SUCCESS is only right while the stock is still held: close the job unrun."""
    now = timezone.now()
    closed = CompensationJob.objects.filter(
        event_id=event_id, status=CompensationJob.Status.PROCESSING
    ).update(
        status=CompensationJob.Status.DONE,
        completed_at=now,
        updated_at=now,
        last_error="closed without a restore: the PG had approved the payment",
    )
    if not closed:
        raise _AlreadyRestored(event_id)


def _write_outbox(event_id: int) -> None:
    # One query: the payment joined to its lines (a LEFT JOIN: one row, lines None, if none).
    rows = list(
        PaymentEvent.objects.filter(pk=event_id)
        .order_by("lines__id")
        .values(
            "order_id",
            "total_amount",
            "purpose",
            "buyer_id",
            "lines__id",
            "lines__seller_id",
            "lines__amount",
        )
    )
    event = rows[0]
    lines = [
        {
            "lineId": row["lines__id"],
            "sellerId": row["lines__seller_id"],
            "amount": row["lines__amount"],
        }
        for row in rows
        if row["lines__id"] is not None
    ]
    ledger = {"orderId": event["order_id"], "amount": event["total_amount"], "lines": lines}
    messages = [OutboxMessage(event_id=event_id, kind=OutboxMessage.Kind.LEDGER, payload=ledger)]
    if event["purpose"] == Purpose.POINT_CHARGE:
        points = {"memberId": event["buyer_id"], "amount": event["total_amount"]}
        messages.append(
            OutboxMessage(event_id=event_id, kind=OutboxMessage.Kind.POINTS, payload=points)
        )
    else:
        by_seller: dict[int, int] = {}
        for line in lines:
            by_seller[line["sellerId"]] = by_seller.get(line["sellerId"], 0) + line["amount"]
        wallet = {"sellers": [{"sellerId": s, "amount": a} for s, a in sorted(by_seller.items())]}
        messages.append(
            OutboxMessage(event_id=event_id, kind=OutboxMessage.Kind.WALLET, payload=wallet)
        )
    OutboxMessage.objects.bulk_create(messages)
