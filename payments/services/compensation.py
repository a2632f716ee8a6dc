"""The stock restore owed by a FAILURE (the double-failure case, DESIGN section 4).

The job is created PROCESSING in the FAILURE's transaction. The restore flips the job to
DONE with a conditional UPDATE and puts the stock back in the same transaction, so it
happens exactly once however many workers try: a second one finds the job DONE (or
waits on its row lock and then does) and changes nothing. If the restore fails, the job
stays PROCESSING and the periodic retry finishes it.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from gateways import errors as pg_errors
from gateways.base import get_gateway
from payments.metrics import COMPENSATIONS
from payments.models import CompensationJob, PaymentOrder
from payments.models import PaymentStatus as S
from payments.services.outcome import approved, payment_record_outcome
from payments.services.pg_calls import payment_ref
from payments.services.verdict import Verdict, payment_judge
from products.models import Product

log = structlog.get_logger(__name__)


def compensation_restore(*, job_id: int) -> bool:
    """Restore the stock of one job. True if this call did it; never raises a DB error."""
    try:
        with transaction.atomic(durable=True):
            now = timezone.now()
            claimed = CompensationJob.objects.filter(
                pk=job_id, status=CompensationJob.Status.PROCESSING
            ).update(
                status=CompensationJob.Status.DONE,
                completed_at=now,
                updated_at=now,
                attempts=F("attempts") + 1,
                last_error="",
                restored=True,
            )
            if not claimed:
                return False
            event_id = CompensationJob.objects.values_list("event_id", flat=True).get(pk=job_id)
            # Fixed order (by product id), the same as checkout's: no lock-order deadlocks.
            lines = PaymentOrder.objects.filter(event_id=event_id, product__isnull=False).order_by(
                "product_id"
            )
            for line in lines:
                Product.objects.filter(pk=line.product_id).update(
                    stock=F("stock") + line.quantity - line.canceled_quantity
                )
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


def compensation_retry_due(*, actor: str, limit: int | None = None) -> dict[str, int]:
    """Finish restores that failed, oldest first, re-checking the PG before each.

    If the PG says it approved the payment after all, the failure was false: the payment
    becomes SUCCESS and the job closes without a restore (the stock was never given back).
    If the PG cannot be asked, the job waits for the next run.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.COMPENSATION_STALE_SECONDS)
    jobs = (
        CompensationJob.objects.filter(
            status=CompensationJob.Status.PROCESSING, updated_at__lte=cutoff
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[: limit or settings.COMPENSATION_BATCH_SIZE]
    )
    counts = {"restored": 0, "false_failures": 0, "waiting": 0, "already_done": 0}
    for job_id in list(jobs):
        counts[compensation_retry(job_id=job_id, actor=actor)] += 1
    return counts


def compensation_retry(*, job_id: int, actor: str) -> str:
    """Re-check the PG, then restore one job: restored, false_failures, waiting or already_done."""
    job = CompensationJob.objects.select_related("event").get(pk=job_id)
    event = job.event
    structlog.contextvars.bind_contextvars(
        orderId=event.order_id, gateway=event.gateway, paymentKey=event.payment_key
    )
    try:
        found = get_gateway(event.gateway).lookup(payment_ref(event))
    except pg_errors.PaymentNotFound:
        found = None
    except pg_errors.GatewayError as exc:
        log.warning("compensation_recheck_failed", code=exc.code)
        return "waiting"
    if found is not None and event.status == S.FAILURE:
        judgement = payment_judge(event=event, pg=found, payment_key=event.payment_key)
        if judgement.verdict == Verdict.SUCCESS:
            outcome = approved("PG_APPROVED_FALSE_FAILURE", judgement.pg_code, found)
            if payment_record_outcome(
                event_id=event.pk, outcome=outcome, actor=actor, froms={S.FAILURE}
            ):
                COMPENSATIONS.labels("false_failure").inc()
                return "false_failures"
    if compensation_restore(job_id=job_id):
        return "restored"
    if CompensationJob.objects.filter(pk=job_id, status=CompensationJob.Status.DONE).exists():
        return "already_done"
    return "waiting"
