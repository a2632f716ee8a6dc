"""The stock restore a FAILURE owes, exactly once, with the points the order spent.

The job is created PROCESSING in the FAILURE's transaction (payments.services.settle).
The restore flips the job to DONE with a conditional UPDATE and puts the stock back in
the same transaction, with the order's points (ledger.services.points_give_back), so it
happens exactly once however many workers try: a second one
finds the job DONE (or waits on its row lock and then does) and changes nothing. If the
restore fails (a deadlock, a lock timeout, a crash), the job stays PROCESSING and the
periodic retry (payments.services.compensation) finishes it.
"""

import structlog
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from ledger.services import points_give_back
from payments.metrics import COMPENSATIONS
from payments.models import CompensationJob, PaymentOrder
from products.services import stock_release

log = structlog.get_logger(__name__)


def compensation_restore(*, job_id: int) -> bool:
    """Restore the stock of one job. True if this call did it; never raises a DB error."""
    try:
        with transaction.atomic(durable=True):
            job = CompensationJob.objects.filter(pk=job_id)
            if not _close(job, attempts=F("attempts") + 1, last_error="", restored=True):
                return False
            event_id, buyer_id, points, order_id = CompensationJob.objects.values_list(
                "event_id", "event__buyer_id", "event__points_used", "event__order_id"
            ).get(pk=job_id)
            stock_release(quantities=_held_stock(event_id))
            if points:
                points_give_back(member_id=buyer_id, points=points, order_id=order_id)
    except DatabaseError as exc:
        _record_failed_attempt(job_id, exc)
        COMPENSATIONS.labels("failed").inc()
        return False
    COMPENSATIONS.labels("restored").inc()
    log.info("stock_restored", job_id=job_id)
    return True


def compensation_restore_for(*, event_id: int) -> bool:
    """Try a failed payment's restore right away; if it fails, the periodic retry finishes it."""
    job_id = CompensationJob.objects.filter(event_id=event_id).values_list("pk", flat=True).first()
    return job_id is not None and compensation_restore(job_id=job_id)


def compensation_close_unrun(*, event_id: int) -> bool:
    """Close a payment's job without a restore: a false failure, whose stock was never
    given back. False if the job was already done (the stock is back on sale)."""
    job = CompensationJob.objects.filter(event_id=event_id)
    return _close(job, last_error="closed without a restore: the PG had approved the payment")


def _close(job, **fields) -> bool:
    """PROCESSING -> DONE with a conditional UPDATE: True for the one caller that did it."""
    now = timezone.now()
    return bool(
        job.filter(status=CompensationJob.Status.PROCESSING).update(
            status=CompensationJob.Status.DONE, completed_at=now, updated_at=now, **fields
        )
    )


def _held_stock(event_id: int) -> dict[int, int]:
    """What the payment's lines still hold, by product (refunded quantities went back)."""
    held: dict[int, int] = {}
    lines = PaymentOrder.objects.filter(event_id=event_id, product__isnull=False).values_list(
        "product_id", "quantity", "canceled_quantity"
    )
    for product_id, quantity, canceled in lines:
        held[product_id] = held.get(product_id, 0) + quantity - canceled
    return held


def _record_failed_attempt(job_id: int, exc: Exception) -> None:
    log.warning("stock_restore_failed", job_id=job_id, error=f"{type(exc).__name__}: {exc}"[:200])
    try:
        with transaction.atomic(durable=True):
            CompensationJob.objects.filter(
                pk=job_id, status=CompensationJob.Status.PROCESSING
            ).update(
                attempts=F("attempts") + 1,
                last_error=f"{type(exc).__name__}: {exc}"[:255],
                updated_at=timezone.now(),
            )
    except DatabaseError:
        log.exception("stock_restore_bookkeeping_failed", job_id=job_id)
