"""Recording a refund's outcome: the one place, with everything it owes.

Whoever learns how a cancel went (the request that sent it, refund recovery, an
operator) records it here, in one transaction with its effects:

- SUCCEEDED: what the refund reserved becomes refunded (the payment's canceled_amount and
  points_refunded, each line's canceled_quantity); the refunded units go back on the
  shelf; the payment moves to PARTIAL_CANCELED or CANCELED (a transition with its
  history row); one LEDGER outbox row owes the reversal's booking (the relay).
- FAILED: the reservation is released (and a top-up's held points given back).
- UNKNOWN: refund recovery asks the PG later (next_attempt_at).
- AWAITING_ACCOUNT: nothing moves; the buyer's bank account is asked for
  (payments.services.refund_account).

Once committed, each recorded outcome is counted (payment_refunds_total, and a success's
won in payment_refunded_won_total).

The stock goes back in the recording transaction itself, not through a later job as a
failed payment's does: the refund's status change and the restock commit together, so
they happen exactly once, and a failure of either (a deadlock) leaves the refund where it
was for recovery to record again (docs/decisions.md, "Refunds").
"""

import structlog
from django.db import transaction
from django.db.models import F, Sum

from ledger.services import points_give_back
from payments.metrics import REFUNDED_WON, REFUNDS
from payments.models import OutboxMessage, PaymentEvent, PaymentOrder, Purpose, Refund, RefundLine
from payments.models import PaymentStatus as S
from payments.models import RefundStatus as R
from payments.refund_states import refund_transition
from payments.services.refund_decisions import RefundOutcome
from payments.services.settle import next_attempt_fields, payment_notify
from payments.states import record_note, transition
from products.services import stock_release

log = structlog.get_logger(__name__)

FORGETS_ACCOUNT = frozenset({R.SUCCEEDED, R.FAILED, R.AWAITING_ACCOUNT})


class RefundBookkeepingError(Exception):
    """The payment's refund columns do not hold what the refund reserved: a bug."""


def refund_record_outcome(
    *,
    refund_id: int,
    outcome: RefundOutcome,
    actor: str,
    froms: set[str],
    attempt: int | None = None,
) -> bool:
    """Record `outcome` if the refund is in one of `froms`; True if this call did.
    `attempt` numbers a recovery attempt: an UNKNOWN then waits by the recovery schedule."""
    event_id = Refund.objects.values_list("event_id", flat=True).get(pk=refund_id)
    with transaction.atomic(durable=True):
        # The payment's row first, exclusively: the history row's foreign key takes a
        # shared lock on it, and two refunds of one payment holding that shared lock both
        # waited to upgrade it for the UPDATE of the refunded amounts (a deadlock).
        list(PaymentEvent.objects.select_for_update().filter(pk=event_id).values_list("pk"))
        moved = refund_transition(
            refund_id,
            to=outcome.status,
            reason=outcome.reason,
            actor=actor,
            froms=froms,
            pg_code=outcome.pg_code,
            pg_message=outcome.pg_message,
            **_fields(outcome, attempt),
        )
        if moved is None:
            return False
        refund = Refund.objects.select_related("event").get(pk=refund_id)
        if outcome.status == R.SUCCEEDED:
            _refunded(refund, actor)
        elif outcome.status == R.FAILED:
            refund_release(refund)
        if refund.refund_account_number and outcome.status in FORGETS_ACCOUNT:
            # The buyer's bank account was needed to send the cancel (and a resend); a
            # final refund never sends again, so it is not kept. One the PG refused waits
            # for an account again: the account may be what it refused.
            Refund.objects.filter(pk=refund_id).update(
                refund_bank_code="", refund_account_number="", refund_account_holder=""
            )
        transaction.on_commit(lambda: payment_notify(event_id))
    log.info("refund_outcome", refund_id=refund_id, status=outcome.status, reason=outcome.reason)
    # Counted once committed, so a rolled-back recording (a deadlock: recorded again later)
    # is never counted twice.
    gateway = refund.event.gateway
    REFUNDS.labels(gateway, outcome.status).inc()
    if outcome.status == R.SUCCEEDED:
        REFUNDED_WON.labels(gateway).inc(refund.amount)
    return True


def refund_release(refund: Refund) -> None:
    """Give back what a refund that will not happen reserved (in the caller's transaction)."""
    _move_reserved(refund, into_refunded=False)
    # A top-up's refund held the points it takes back; a false failure's held none.
    if refund.event.purpose == Purpose.POINT_CHARGE and refund.event.status != S.FAILURE:
        points_give_back(
            member_id=refund.event.buyer_id,
            points=refund.pg_amount,
            order_id=refund.reference,
            kind="REFUND_POINTS_RELEASED",
        )


def _refunded(refund: Refund, actor: str) -> None:
    _move_reserved(refund, into_refunded=True)
    if refund.restock:
        quantities: dict[int, int] = {}
        for product_id, quantity in refund.lines.filter(
            quantity__gt=0, line__product__isnull=False
        ).values_list("line__product_id", "quantity"):
            quantities[product_id] = quantities.get(product_id, 0) + quantity
        stock_release(quantities=quantities)
    event = PaymentEvent.objects.get(pk=refund.event_id)
    if event.status == S.FAILURE:
        # A false failure's refund: nothing was sold or booked, so nothing moves but the
        # money; the payment's timeline says why it was given back.
        record_note(event.pk, reason="FALSE_FAILURE_REFUNDED", actor=actor)
        return
    everything = (
        event.canceled_amount == event.total_amount and event.points_refunded == event.points_used
    )
    to = S.CANCELED if everything else S.PARTIAL_CANCELED
    if not transition(
        event.pk, to=to, froms={S.SUCCESS, S.PARTIAL_CANCELED}, reason="REFUNDED", actor=actor
    ):
        raise RefundBookkeepingError(f"payment {event.pk} is {event.status}, not refundable")
    OutboxMessage.objects.create(
        event_id=event.pk, kind=OutboxMessage.Kind.LEDGER, ref=f"refund:{refund.pk}"
    )


def _move_reserved(refund: Refund, *, into_refunded: bool) -> None:
    """The refund's reservation, released or made final (conditional UPDATEs: a refund
    can never take back what it did not reserve)."""
    pg, points = refund.pg_amount, refund.points_amount
    done = {"canceled_amount": F("canceled_amount") + pg} if into_refunded else {}
    if into_refunded:
        done["points_refunded"] = F("points_refunded") + points
    moved = PaymentEvent.objects.filter(
        pk=refund.event_id, refund_reserved__gte=pg, points_refund_reserved__gte=points
    ).update(
        refund_reserved=F("refund_reserved") - pg,
        points_refund_reserved=F("points_refund_reserved") - points,
        **done,
    )
    if not moved:
        raise RefundBookkeepingError(f"payment {refund.event_id} holds less than {refund}")
    for share in RefundLine.objects.filter(refund=refund).order_by("line_id"):
        fields = {"refund_reserved_quantity": F("refund_reserved_quantity") - share.quantity}
        if into_refunded:
            fields["canceled_quantity"] = F("canceled_quantity") + share.quantity
        else:
            fields["refund_claimed_amount"] = F("refund_claimed_amount") - share.amount
        if not PaymentOrder.objects.filter(
            pk=share.line_id,
            refund_reserved_quantity__gte=share.quantity,
            refund_claimed_amount__gte=share.amount,
        ).update(**fields):
            raise RefundBookkeepingError(f"line {share.line_id} holds less than {refund}")
        if into_refunded:
            _take_back_commission(share)


def _take_back_commission(share: RefundLine) -> None:
    """The commission share of a refunded line's money, which the books take back from
    revenue: what the line's refunds have given back so far, at the line's rate, rounded
    down, less what earlier refunds took. So a line refunded in full, in any number of
    parts, gives back exactly its commission. The line's row is locked (the UPDATE
    above), so refunds of one line are counted one after the other."""
    line = PaymentOrder.objects.values("amount", "commission").get(pk=share.line_id)
    before = (
        RefundLine.objects.filter(line_id=share.line_id, refund__status=R.SUCCEEDED)
        .exclude(pk=share.pk)
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )
    rate, amount = line["commission"], line["amount"]
    part = rate * (before + share.amount) // amount - rate * before // amount
    RefundLine.objects.filter(pk=share.pk).update(commission=part)


def _fields(outcome: RefundOutcome, attempt: int | None) -> dict:
    fields = {"lease_until": None, "lease_owner": ""}
    if outcome.status == R.SUCCEEDED:
        fields |= {"pg_transaction_key": outcome.transaction_key[:64], "failure_code": ""}
    elif outcome.status == R.FAILED:
        fields |= {
            "failure_code": (outcome.pg_code or outcome.reason)[:64],
            "failure_message": outcome.pg_message[:255],
        }
    elif outcome.status == R.UNKNOWN:
        fields |= next_attempt_fields(attempt)
    return fields
