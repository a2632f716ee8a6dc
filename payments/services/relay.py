"""The outbox relay: books every SUCCESS and every refund in the ledger, exactly once.

A SUCCESS writes one LEDGER outbox row in its own transaction (payments.services.settle),
whichever path recorded it; a refund that SUCCEEDED writes one with ref "refund:<id>"
(payments.services.refund_settle). The relay takes PENDING rows with a lease (relay_claim: a
conditional UPDATE, so two relays never take the same row at once) and books each in one
transaction (relay_book): the row PENDING -> DONE by a conditional UPDATE, the journal
entry with its postings and balances (ledger.services.entry_post), and the payment's
flags (`ledger_updated`, `wallet_updated` on its lines, `is_payment_done` on it). A relay
killed halfway commits nothing, and its lease runs out for the next one; a second relay
that reaches a row already DONE changes nothing, and the entry's unique (kind, reference)
would refuse it anyway.

A booking that fails (a deadlock, a lost connection, a bug) is retried after a pause that
doubles; after OUTBOX_MAX_ATTEMPTS the row is PARKED with its error for an operator (the
admin's retry action, the OutboxParked alert), never dropped.

What a payment's entry says (docs/books.md has a worked example of each):
- goods: debit the PG's receivable with what the PG charged, debit the buyer's held
  points with the points used, credit each seller its lines less commission, credit the
  commission revenue;
- a point top-up: debit the PG's receivable, credit the member's points;
- a refund: the reverse of its share of the payment (refund_postings).
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ledger import accounts
from ledger.services import entry_post
from payments.metrics import OUTBOX_BOOKINGS
from payments.models import OutboxMessage, PaymentEvent, PaymentOrder, Purpose, Refund, RefundLine

log = structlog.get_logger(__name__)

LEDGER = OutboxMessage.Kind.LEDGER
PENDING = OutboxMessage.Status.PENDING


def relay_claim(*, owner: str, limit: int) -> list[int]:
    """Lease up to `limit` due LEDGER rows to `owner`, oldest first; returns their ids."""
    now = timezone.now()
    due = Q(available_at__isnull=True) | Q(available_at__lte=now)
    rows = OutboxMessage.objects.filter(due, kind=LEDGER, status=PENDING)
    ids = list(rows.order_by("id").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    lease = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    rows.filter(pk__in=ids).update(available_at=lease, lease_owner=owner)
    return list(
        OutboxMessage.objects.filter(pk__in=ids, lease_owner=owner, status=PENDING)
        .order_by("id")
        .values_list("pk", flat=True)
    )


def relay_book_many(*, message_ids: list[int]) -> dict[str, int]:
    """Book each row; how many were booked, already done, failed or parked."""
    counts = {"booked": 0, "already_done": 0, "failed": 0, "parked": 0}
    for message_id in message_ids:
        counts[relay_book(message_id=message_id)] += 1
    return counts


def relay_book(*, message_id: int) -> str:
    """Book one LEDGER row: booked, already_done, failed (retried later) or parked."""
    try:
        with transaction.atomic(durable=True):
            taken = OutboxMessage.objects.filter(pk=message_id, status=PENDING).update(
                status=OutboxMessage.Status.DONE,
                processed_at=timezone.now(),
                attempts=F("attempts") + 1,
                lease_owner="",
                available_at=None,
                last_error="",
            )
            if not taken:
                return "already_done"
            event_id, ref = OutboxMessage.objects.values_list("event_id", "ref").get(pk=message_id)
            if ref.startswith("refund:"):
                _book_refund(Refund.objects.select_related("event").get(pk=ref.split(":")[1]))
            else:
                _book_payment(PaymentEvent.objects.get(pk=event_id))
    except Exception as exc:  # anything: the row must say why, and never be lost
        result = _record_failure(message_id, exc)
        OUTBOX_BOOKINGS.labels(result).inc()
        return result
    OUTBOX_BOOKINGS.labels("booked").inc()
    return "booked"


def relay_retry_parked(*, message_id: int) -> bool:
    """An operator's retry: a PARKED row back to PENDING with a fresh budget of attempts."""
    return bool(
        OutboxMessage.objects.filter(pk=message_id, status=OutboxMessage.Status.PARKED).update(
            status=PENDING, attempts=0, available_at=None, lease_owner=""
        )
    )


def payment_postings(event: PaymentEvent, lines: list[dict]) -> list[tuple[str, int]]:
    """The postings of a payment's entry (debits positive); they sum to zero when the
    lines add up to what the PG charged plus the points used."""
    if event.purpose == Purpose.POINT_CHARGE:
        return [
            (accounts.pg_receivable(event.gateway), event.total_amount),
            (accounts.member_points(event.buyer_id), -event.total_amount),
        ]
    postings = [
        (accounts.pg_receivable(event.gateway), event.total_amount),
        (accounts.member_points_held(event.buyer_id), event.points_used),
    ]
    for line in lines:
        postings.append(
            (accounts.seller_payable(line["seller_id"]), -(line["amount"] - line["commission"]))
        )
        postings.append((accounts.COMMISSION, -line["commission"]))
    return postings


def _book_payment(event: PaymentEvent) -> None:
    lines = list(
        PaymentOrder.objects.filter(event_id=event.pk)
        .order_by("id")
        .values("seller_id", "amount", "commission")
    )
    kind = "TOP_UP_PAID" if event.purpose == Purpose.POINT_CHARGE else "GOODS_PAID"
    entry_post(
        kind=kind,
        reference=event.order_id,
        postings=payment_postings(event, lines),
        memo=event.order_name,
    )
    PaymentOrder.objects.filter(event_id=event.pk).update(ledger_updated=True, wallet_updated=True)
    PaymentEvent.objects.filter(pk=event.pk).update(is_payment_done=True)


def refund_postings(refund: Refund, shares: list[dict]) -> list[tuple[str, int]]:
    """The reversal of a refund (debits positive): the PG's share back out of its
    receivable, the points given back; each line's seller gives back its money less the
    commission share, which comes back out of revenue. A top-up's refund takes back the
    points held for it when it was requested."""
    event = refund.event
    postings = [(accounts.pg_receivable(event.gateway), -refund.pg_amount)]
    if event.purpose == Purpose.POINT_CHARGE:
        return [*postings, (accounts.member_points_held(event.buyer_id), refund.pg_amount)]
    postings.append((accounts.member_points(event.buyer_id), -refund.points_amount))
    for share in shares:
        seller = accounts.seller_payable(share["line__seller_id"])
        postings.append((seller, share["amount"] - share["commission"]))
        postings.append((accounts.COMMISSION, share["commission"]))
    return postings


def _book_refund(refund: Refund) -> None:
    shares = list(
        RefundLine.objects.filter(refund=refund)
        .order_by("line_id")
        .values("line__seller_id", "amount", "commission")
    )
    goods = refund.event.purpose == Purpose.GOODS
    entry_post(
        kind="GOODS_REFUNDED" if goods else "TOP_UP_REFUNDED",
        reference=refund.reference,
        postings=refund_postings(refund, shares),
        memo=refund.reason,
    )


def _record_failure(message_id: int, exc: Exception) -> str:
    error = f"{type(exc).__name__}: {exc}"[:255]
    row = OutboxMessage.objects.filter(pk=message_id, status=PENDING)
    attempts = (row.values_list("attempts", flat=True).first() or 0) + 1
    parked = attempts >= settings.OUTBOX_MAX_ATTEMPTS
    pause = min(settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 600)
    try:
        row.update(
            attempts=attempts,
            last_error=error,
            lease_owner="",
            available_at=timezone.now() + timedelta(seconds=pause),
            status=OutboxMessage.Status.PARKED if parked else PENDING,
        )
    except Exception:
        log.exception("outbox_bookkeeping_failed", message_id=message_id)
        return "failed"  # the lease runs out and the next relay tries again
    if parked:
        log.error("outbox_parked", message_id=message_id, attempts=attempts, error=error)
        return "parked"
    log.warning("outbox_booking_failed", message_id=message_id, attempts=attempts, error=error)
    return "failed"
