"""Celery: broker, reliability switches, time limits and the beat schedule.

Every task here is idempotent, so it is acknowledged late: a worker killed mid-task
leaves the message on the broker and another worker runs it again.
"""

from pathlib import Path

from celery.schedules import crontab

from config.env import VAR_DIR, env

_redis_url = env("REDIS_URL", default="")
# The embedded run needs no broker server: kombu's filesystem transport under var/.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or _redis_url or "filesystem://localhost//"

if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "celery" / "broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # Each task hop waits up to this long for the next poll (kombu's default is 1 s).
        "polling_interval": 0.2,
    }
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any countdown we schedule and any task's hard limit, so Redis never
        # hands a task that is still running to a second worker.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "socket_connect_timeout": 3,
        "socket_timeout": 10,
    }

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Tasks record their effects in the database; nobody waits on a result.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Above the gateways' total HTTP budget, so a PG call is never cut off by Celery first.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_TASK_ALWAYS_EAGER = False
# One queue for everything; a separate stack on the same broker (a test run) names its own.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="default")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = "Asia/Seoul"

CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
RECOVERY_INTERVAL_SECONDS = env.float("RECOVERY_INTERVAL_SECONDS", default=30)
COMPENSATION_INTERVAL_SECONDS = env.float("COMPENSATION_INTERVAL_SECONDS", default=60)
EXPIRY_INTERVAL_SECONDS = env.float("EXPIRY_INTERVAL_SECONDS", default=300)
DEPOSIT_WATCH_INTERVAL_SECONDS = env.float("DEPOSIT_WATCH_INTERVAL_SECONDS", default=60)
CONFIRM_RELAY_INTERVAL_SECONDS = env.float("CONFIRM_RELAY_INTERVAL_SECONDS", default=10)
OUTBOX_RELAY_INTERVAL_SECONDS = env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=2)

RECONCILE_HOUR_KST = env.int("RECONCILE_HOUR_KST", default=5)
RECONCILE_MINUTE_KST = env.int("RECONCILE_MINUTE_KST", default=10)

CELERY_BEAT_SCHEDULE = {
    # Run every 30 s: claim due UNKNOWN and stale EXECUTING payments, one task each.
    "payments-recovery": {
        "task": "payments.recovery_scan",
        "schedule": RECOVERY_INTERVAL_SECONDS,
        "options": {"expires": RECOVERY_INTERVAL_SECONDS * 0.9},
    },
    # With it: refunds whose cancel may or may not have happened, looked up at the PG.
    "payments-refund-recovery": {
        "task": "payments.refund_recovery_scan",
        "schedule": RECOVERY_INTERVAL_SECONDS,
        "options": {"expires": RECOVERY_INTERVAL_SECONDS * 0.9},
    },
    # Every CONFIRM_RELAY_SECONDS: asynchronous confirms whose task was lost, queued again.
    "payments-confirm-relay": {
        "task": "payments.confirm_relay",
        "schedule": CONFIRM_RELAY_INTERVAL_SECONDS,
        "options": {"expires": CONFIRM_RELAY_INTERVAL_SECONDS * 0.9},
    },
    # Every 2 s: book new successes in the ledger (the outbox relay), in leased batches.
    "payments-outbox-relay": {
        "task": "payments.outbox_scan",
        "schedule": OUTBOX_RELAY_INTERVAL_SECONDS,
        "options": {"expires": OUTBOX_RELAY_INTERVAL_SECONDS * 0.9},
    },
    # Run every 60 s: finish stock restores that failed (re-checking the PG first).
    "payments-compensation": {
        "task": "payments.compensation_scan",
        "schedule": COMPENSATION_INTERVAL_SECONDS,
        "options": {"expires": COMPENSATION_INTERVAL_SECONDS * 0.9},
    },
    # Run every 5 minutes: abandoned checkouts fail and give their stock back.
    "payments-expiry": {
        "task": "payments.expire_checkouts",
        "schedule": EXPIRY_INTERVAL_SECONDS,
        "options": {"expires": EXPIRY_INTERVAL_SECONDS * 0.9},
    },
    # Run every 60 s: virtual accounts near or past their due date are looked up.
    "payments-deposits": {
        "task": "payments.deposit_watch",
        "schedule": DEPOSIT_WATCH_INTERVAL_SECONDS,
        "options": {"expires": DEPOSIT_WATCH_INTERVAL_SECONDS * 0.9},
    },
    # Run every 60 s: webhooks whose processing task was lost (the inbox re-drive).
    "payments-webhooks": {
        "task": "payments.webhook_redrive",
        "schedule": COMPENSATION_INTERVAL_SECONDS,
        "options": {"expires": COMPENSATION_INTERVAL_SECONDS * 0.9},
    },
    # Early each morning (Korean time, CELERY_TIMEZONE): reconcile yesterday with every
    # PG's records, and book the PG payouts whose date has come.
    "payments-reconcile": {
        "task": "payments.reconcile_yesterday",
        "schedule": crontab(hour=RECONCILE_HOUR_KST, minute=RECONCILE_MINUTE_KST),
        "options": {"expires": 3600},
    },
    # Run every minute: proves beat -> broker -> worker end to end (/readyz reports its age).
    "celery-heartbeat": {
        "task": "config.tasks.celery_heartbeat",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}
