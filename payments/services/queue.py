"""Queueing a Celery task from a service, by the task's registered name.

Services never import payments.tasks: the tasks call the services, so an import the
other way would be a cycle. A lost enqueue costs only time: every task queued from here
has a relay or re-drive that queues it again (the confirm relay, the webhook re-drive,
refund recovery for a refund left REQUESTED).
"""

import structlog

from config.celery_app import app

log = structlog.get_logger(__name__)

# The names payments/tasks.py registers (tests/payments/test_tasks.py checks they exist).
CONFIRM_PAYMENT = "payments.confirm_payment"
PROCESS_WEBHOOK = "payments.process_webhook"
EXECUTE_REFUND = "payments.execute_refund"
PAYMENT_RECOVERY_SCAN = "payments.recovery_scan"
REFUND_RECOVERY_SCAN = "payments.refund_recovery_scan"


def enqueue(task: str, *args) -> None:
    """Send the task to the broker; log and go on if the broker cannot be reached."""
    try:
        app.send_task(task, args=args)
    except Exception as exc:
        log.warning("task_enqueue_failed", task=task, args=args, error=type(exc).__name__)
