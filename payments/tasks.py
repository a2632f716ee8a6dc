"""Thin Celery tasks: ids in, a service called. Every task here is idempotent.

Services queue the tasks they need by name (payments.services.queue), never by importing
this module, so the import runs one way: tasks -> services.
"""

import structlog
from celery import shared_task
from django.conf import settings

from payments.services import deposits, queue, reconcile
from payments.services.compensation import compensation_retry_due
from payments.services.confirm import payment_confirm_owed, payment_confirm_relay
from payments.services.expiry import payment_expire_abandoned
from payments.services.pg_health import health_evaluate
from payments.services.recovery import new_lease_owner, recovery_attempt_many, recovery_claim
from payments.services.refund import refund_execute
from payments.services.refund_recovery import refund_recover_many, refund_recovery_claim
from payments.services.relay import relay_book_many, relay_claim
from payments.services.webhooks import webhook_process, webhook_redrive

log = structlog.get_logger(__name__)


def _log_if_any(event: str, **counts: int) -> None:
    """One line for a periodic job that did something, none for one that did not (beat
    runs them every few seconds; `make run`'s terminal stays readable)."""
    if any(counts.values()):
        log.info(event, **counts)


def _claim_and_share(event: str, claim, task) -> int:
    """Lease what recovery owes under a new owner, then queue it in small batches."""
    owner = new_lease_owner()
    claimed = claim(owner=owner, limit=settings.RECOVERY_BATCH_SIZE)
    size, expires = settings.RECOVERY_TASK_PAYMENTS, settings.RECOVERY_LEASE_SECONDS
    _share_out(task, claimed, size, expires, owner)
    _log_if_any(event, claimed=len(claimed))
    return len(claimed)


def _share_out(task, ids: list[int], size: int, expires: float, *args) -> None:
    """Queue `ids` to `task` in batches of `size`, so the workers share a claim."""
    for start in range(0, len(ids), size):
        task.apply_async((ids[start : start + size], *args), expires=expires)


@shared_task(name="payments.recovery_scan")
def recovery_scan() -> int:
    """Claim due payments and hand them out in small batches, so workers share the claim.

    A batch per task, not a payment per task: the task's own cost (message, log lines,
    Celery's bookkeeping) was a third of a recovery's CPU when each payment had its own.
    First, each gateway's health is judged from the calls since the last scan: of a
    gateway that is DOWN only a few probes are claimed (pg_health).
    """
    down = health_evaluate()
    _log_if_any("gateways_down", **dict.fromkeys(sorted(down), 1))
    return _claim_and_share("recovery_scan", recovery_claim, recover_payments)


@shared_task(name="payments.recover_payments")
def recover_payments(event_ids: list[int], owner: str) -> None:
    recovery_attempt_many(event_ids=event_ids, owner=owner, actor="worker")


@shared_task(name="payments.refund_recovery_scan")
def refund_recovery_scan() -> int:
    """Lease the refunds in doubt and share them out, like recovery_scan."""
    return _claim_and_share("refund_recovery_scan", refund_recovery_claim, recover_refunds)


@shared_task(name="payments.recover_refunds")
def recover_refunds(refund_ids: list[int], owner: str) -> None:
    refund_recover_many(refund_ids=refund_ids, owner=owner, actor="worker")


@shared_task(name=queue.EXECUTE_REFUND)
def execute_refund(refund_id: int) -> str:
    """A refund the system decided on (a false failure's): send it to the PG."""
    return refund_execute(refund_id=refund_id, actor="system").status


@shared_task(name="payments.compensation_scan")
def compensation_scan() -> dict:
    counts = compensation_retry_due(actor="beat")
    _log_if_any("compensation_scan", **counts)
    return counts


@shared_task(name="payments.expire_checkouts")
def expire_checkouts() -> int:
    expired = payment_expire_abandoned(actor="beat")
    _log_if_any("expire_checkouts", expired=expired)
    return expired


@shared_task(name="payments.deposit_watch")
def deposit_watch() -> dict[str, int]:
    return deposits.deposit_watch(actor="beat")  # logs one line when something settled


@shared_task(name=queue.PROCESS_WEBHOOK)
def process_webhook(webhook_id: int) -> str:
    return webhook_process(webhook_id=webhook_id)


@shared_task(name="payments.webhook_redrive")
def redrive_webhooks() -> int:
    done = webhook_redrive()
    _log_if_any("webhook_redrive", processed=done)
    return done


@shared_task(name=queue.CONFIRM_PAYMENT)
def confirm_payment(event_id: int) -> str:
    """An asynchronous confirm: call the PG for a payment the request claimed."""
    return payment_confirm_owed(event_id=event_id, actor="worker")


@shared_task(name="payments.confirm_relay")
def confirm_relay() -> int:
    queued = payment_confirm_relay()
    _log_if_any("confirm_relay", queued=queued)
    return queued


@shared_task(name="payments.outbox_scan")
def outbox_scan() -> int:
    """Lease the ledger bookings owed and share them out among the workers."""
    owner = new_lease_owner()
    claimed = relay_claim(owner=owner, limit=settings.OUTBOX_BATCH_SIZE)
    _share_out(relay_outbox, claimed, settings.OUTBOX_TASK_ROWS, settings.OUTBOX_LEASE_SECONDS)
    return len(claimed)


@shared_task(name="payments.relay_outbox")
def relay_outbox(message_ids: list[int]) -> dict:
    counts = relay_book_many(message_ids=message_ids)
    if counts["booked"] or counts["failed"] or counts["parked"]:  # not for replays alone
        log.info("outbox_relay", **counts)
    return counts


@shared_task(name="payments.reconcile_yesterday")
def reconcile_yesterday() -> dict[str, str]:
    """Early each morning: yesterday against every PG's records (reconcile.py)."""
    results = reconcile.reconcile_yesterday()
    log.info("reconciliation_nightly", **results)
    return results
