"""Finishing stock restores that failed (the double-failure case).

A restore that failed leaves its job PROCESSING (payments.services.stock_restore). Once
it is COMPENSATION_STALE_SECONDS old, the periodic retry asks the PG first: if the PG
approved the payment after all, the failure was false, so the payment becomes SUCCESS and
the job closes without a restore (the stock was never given back). If the PG cannot be
asked, the job waits for the next run. Otherwise the restore runs, exactly once.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from payments.metrics import COMPENSATIONS
from payments.models import CompensationJob
from payments.models import PaymentStatus as S
from payments.services.decisions import Action, decide_restore_recheck
from payments.services.pg import pg_lookup
from payments.services.settle import payment_record_outcome
from payments.services.stock_restore import compensation_restore

log = structlog.get_logger(__name__)


def compensation_retry_due(*, actor: str, limit: int | None = None) -> dict[str, int]:
    """Finish restores that failed, oldest first, re-checking the PG before each."""
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
    answer = pg_lookup(event)
    decision = decide_restore_recheck(event, answer)
    if decision.action == Action.LEAVE:
        log.warning("compensation_recheck_failed", code=answer.code)
        return "waiting"
    if decision.action == Action.SUCCESS and payment_record_outcome(
        event=event, decision=decision, actor=actor, froms={S.FAILURE}
    ):
        COMPENSATIONS.labels("false_failure").inc()
        return "false_failures"
    if compensation_restore(job_id=job_id):
        return "restored"
    if CompensationJob.objects.filter(pk=job_id, status=CompensationJob.Status.DONE).exists():
        return "already_done"
    return "waiting"
