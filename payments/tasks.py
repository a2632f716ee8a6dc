"""Thin Celery tasks: ids in, a service called. Every task here is idempotent.

Services queue the tasks they need by name (payments.services.queue), never by importing
this module, so the import runs one way: tasks -> services.
"""

import structlog
from celery import shared_task
from django.conf import settings

from payments.services import queue
from payments.services.compensation import compensation_retry_due
from payments.services.confirm import payment_confirm_owed, payment_confirm_relay
from payments.services.expiry import payment_expire_abandoned
from payments.services.recovery import new_lease_owner, recovery_attempt_many, recovery_claim
from payments.services.relay import relay_book_many, relay_claim
from payments.services.webhooks import webhook_process, webhook_redrive

log = structlog.get_logger(__name__)


@shared_task(name="payments.recovery_scan")
def recovery_scan() -> int:
    """Claim due payments and hand them out in small batches, so workers share the claim.

    A batch per task, not a payment per task: the task's own cost (message, log lines,
    Celery's bookkeeping) was a third of a recovery's CPU when each payment had its own.
    """
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
    recovery_attempt_many(event_ids=event_ids, owner=owner, actor="worker")


@shared_task(name="payments.compensation_scan")
def compensation_scan() -> dict:
    counts = compensation_retry_due(actor="beat")
    if any(counts.values()):
        log.info("compensation_scan", **counts)
    return counts


@shared_task(name="payments.expire_checkouts")
def expire_checkouts() -> int:
    expired = payment_expire_abandoned(actor="beat")
    if expired:
        log.info("expire_checkouts", expired=expired)
    return expired


@shared_task(name=queue.PROCESS_WEBHOOK)
def process_webhook(webhook_id: int) -> str:
    return webhook_process(webhook_id=webhook_id)


@shared_task(name="payments.webhook_redrive")
def redrive_webhooks() -> int:
    done = webhook_redrive()
    if done:
        log.info("webhook_redrive", processed=done)
    return done


@shared_task(name=queue.CONFIRM_PAYMENT)
def confirm_payment(event_id: int) -> str:
    """An asynchronous confirm: call the PG for a payment the request claimed."""
    return payment_confirm_owed(event_id=event_id, actor="worker")


@shared_task(name="payments.confirm_relay")
def confirm_relay() -> int:
    queued = payment_confirm_relay()
    if queued:
        log.info("confirm_relay", queued=queued)
    return queued


@shared_task(name="payments.outbox_scan")
def outbox_scan() -> int:
    """Lease the ledger bookings owed and share them out among the workers."""
    owner = new_lease_owner()
    claimed = relay_claim(owner=owner, limit=settings.OUTBOX_BATCH_SIZE)
    size = settings.OUTBOX_TASK_ROWS
    for start in range(0, len(claimed), size):
        relay_outbox.apply_async(
            (claimed[start : start + size],), expires=settings.OUTBOX_LEASE_SECONDS
        )
    return len(claimed)


@shared_task(name="payments.relay_outbox")
def relay_outbox(message_ids: list[int]) -> dict:
    counts = relay_book_many(message_ids=message_ids)
    if counts["booked"] or counts["failed"] or counts["parked"]:
        log.info("outbox_relay", **counts)
    return counts
