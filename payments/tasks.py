"""Thin Celery tasks: ids in, a service called. Every task here is idempotent."""

import structlog
from celery import shared_task
from django.conf import settings

log = structlog.get_logger(__name__)


@shared_task(name="payments.recovery_scan")
def recovery_scan() -> int:
    """Claim due payments and hand them out in small batches, so workers share the claim.

    A batch per task, not a payment per task: the task's own cost (message, log lines,
    Celery's bookkeeping) was a third of a recovery's CPU when each payment had its own.
    """
    from payments.services.recovery import new_lease_owner, recovery_claim

    owner = new_lease_owner()
    claimed = recovery_claim(owner=owner, limit=settings.RECOVERY_BATCH_SIZE)
    size = settings.RECOVERY_TASK_PAYMENTS
    for start in range(0, len(claimed), size):
        recover_payments.apply_async(
            (claimed[start : start + size], owner), expires=settings.RECOVERY_LEASE_SECONDS
        )
    if claimed:
        log.info("recovery_scan", claimed=len(claimed))
    return len(claimed)


@shared_task(name="payments.recover_payments")
def recover_payments(event_ids: list[int], owner: str) -> None:
    from payments.services.recovery import recovery_attempt_many

    recovery_attempt_many(event_ids=event_ids, owner=owner, actor="worker")


@shared_task(name="payments.compensation_scan")
def compensation_scan() -> dict:
    from payments.services.compensation import compensation_retry_due

    counts = compensation_retry_due(actor="beat")
    if any(counts.values()):
        log.info("compensation_scan", **counts)
    return counts


@shared_task(name="payments.expire_checkouts")
def expire_checkouts() -> int:
    from payments.services.expiry import payment_expire_abandoned

    expired = payment_expire_abandoned(actor="beat")
    if expired:
        log.info("expire_checkouts", expired=expired)
    return expired


@shared_task(name="payments.process_webhook")
def process_webhook(webhook_id: int) -> str:
    from payments.services.webhooks import webhook_process

    return webhook_process(webhook_id=webhook_id)


@shared_task(name="payments.webhook_redrive")
def webhook_redrive() -> int:
    from payments.services.webhooks import webhook_redrive as redrive

    done = redrive()
    if done:
        log.info("webhook_redrive", processed=done)
    return done


@shared_task(name="payments.confirm_payment")
def confirm_payment(event_id: int) -> str:
    """An asynchronous confirm: call the PG for a payment the request claimed."""
    from payments.services.confirm import payment_confirm_owed

    return payment_confirm_owed(event_id=event_id, actor="worker")


@shared_task(name="payments.confirm_relay")
def confirm_relay() -> int:
    from payments.services.confirm import payment_confirm_relay

    queued = payment_confirm_relay()
    if queued:
        log.info("confirm_relay", queued=queued)
    return queued
