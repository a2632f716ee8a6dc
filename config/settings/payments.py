"""Payment rules: limits, the confirm retry policy, the books, the shop's return URLs."""

from decimal import Decimal, InvalidOperation

from config.env import VAR_DIR, env

# Checkout limits: anything outside is a 400 before a row is written.
CHECKOUT_MAX_LINES = env.int("CHECKOUT_MAX_LINES", default=20)
CHECKOUT_MAX_QUANTITY = env.int("CHECKOUT_MAX_QUANTITY", default=100)
# What one member may hold of the shelf (payments/services/holding.py): unpaid checkouts
# at once, units of one product across open payments, and checkouts a minute.
CHECKOUT_MAX_OPEN_PER_MEMBER = env.int("CHECKOUT_MAX_OPEN_PER_MEMBER", default=5)
CHECKOUT_MAX_HELD_PER_PRODUCT = env.int("CHECKOUT_MAX_HELD_PER_PRODUCT", default=20)
CHECKOUT_RATE_PER_MINUTE = env.int("CHECKOUT_RATE_PER_MINUTE", default=20)
PAYMENT_MAX_AMOUNT = env.int("PAYMENT_MAX_AMOUNT", default=100_000_000)
POINT_CHARGE_MIN_AMOUNT = env.int("POINT_CHARGE_MIN_AMOUNT", default=1_000)
POINT_CHARGE_MAX_AMOUNT = env.int("POINT_CHARGE_MAX_AMOUNT", default=1_000_000)

# Confirm: transient PG errors are retried with the same Idempotency-Key, exponential
# backoff with full jitter, at most this many attempts inside this total budget.
CONFIRM_MAX_ATTEMPTS = env.int("CONFIRM_MAX_ATTEMPTS", default=3)
CONFIRM_BACKOFF_BASE_SECONDS = env.float("CONFIRM_BACKOFF_BASE_SECONDS", default=0.2)
CONFIRM_BACKOFF_MAX_SECONDS = env.float("CONFIRM_BACKOFF_MAX_SECONDS", default=2.0)
CONFIRM_BUDGET_SECONDS = env.float("CONFIRM_BUDGET_SECONDS", default=35.0)
# Confirm mode when the request does not say (`Prefer: respond-async` asks for async):
# sync calls the PG in the request; async claims the payment, writes a CONFIRM outbox
# row, answers 202 and lets a worker call the PG.
CONFIRM_MODE = env("CONFIRM_MODE", default="sync")
if CONFIRM_MODE not in ("sync", "async"):
    raise ValueError(f"CONFIRM_MODE must be sync or async, not {CONFIRM_MODE!r}")
# A CONFIRM outbox row still PENDING this long is queued again (its task was lost).
CONFIRM_RELAY_SECONDS = env.int("CONFIRM_RELAY_SECONDS", default=10)

# `GET /payments/{orderId}` with `Prefer: wait=N` holds its answer at most this long for
# an outcome (the asynchronous confirm's client waits instead of polling).
PAYMENT_MAX_WAIT_SECONDS = env.float("PAYMENT_MAX_WAIT_SECONDS", default=30)
# Each wait holds a web thread: one member holds at most this many at once (more are
# answered at once, with the payment as it is).
PAYMENT_MAX_WAITS_PER_MEMBER = env.int("PAYMENT_MAX_WAITS_PER_MEMBER", default=3)

# Webhooks: a PG's notice is a few KB; a body over this is refused (413) before it is
# read. A notice prompts a look at the PG at most once per payment in this interval.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=64 * 1024)
WEBHOOK_RECHECK_INTERVAL_SECONDS = env.int("WEBHOOK_RECHECK_INTERVAL_SECONDS", default=60)
# Smaller body limits than MAX_REQUEST_BODY_BYTES for some paths (a prefix -> bytes).
REQUEST_BODY_LIMITS = {"/api/v1/webhooks/": WEBHOOK_MAX_BODY_BYTES}

# Recovery: payments whose outcome is unknown are asked about at the PG, with backoff.
# When recovery first looks at a payment the confirm left UNKNOWN.
RECOVERY_FIRST_DELAY_SECONDS = env.int("RECOVERY_FIRST_DELAY_SECONDS", default=10)
# Pauses between attempts (jittered to 50-100 %); after the last one, a final check, then
# NEEDS_ATTENTION.
RECOVERY_BACKOFF_SECONDS = env.list(
    "RECOVERY_BACKOFF_SECONDS", cast=float, default=[10, 30, 60, 120, 300, 600, 1800]
)
# EXECUTING this long is a confirm that died (web killed mid-call): longer than any confirm.
RECOVERY_STALE_EXECUTING_SECONDS = env.int("RECOVERY_STALE_EXECUTING_SECONDS", default=120)
# A worker owns a claimed payment this long; a lost worker's claim simply runs out.
RECOVERY_LEASE_SECONDS = env.int("RECOVERY_LEASE_SECONDS", default=120)
RECOVERY_BATCH_SIZE = env.int("RECOVERY_BATCH_SIZE", default=200)
# Payments per recovery task: each task asks the PG about them one after another, so a
# batch must stay well inside half the lease even when every call is slow.
RECOVERY_TASK_PAYMENTS = env.int("RECOVERY_TASK_PAYMENTS", default=10)
# Gateway health (payments/services/pg_health.py): a gateway is DOWN once this many of its
# calls failed since recovery's last scan, and more failed than were answered. While it is
# DOWN, each scan leases only this many of its payments (and refunds) as probes, and
# their failed attempts do not count against the budget above. Each process adds its
# answered calls to the counts at most this often (failures at once).
GATEWAY_DOWN_MIN_FAILURES = env.int("GATEWAY_DOWN_MIN_FAILURES", default=5)
GATEWAY_PROBES_PER_SCAN = env.int("GATEWAY_PROBES_PER_SCAN", default=2)
GATEWAY_HEALTH_FLUSH_SECONDS = env.float("GATEWAY_HEALTH_FLUSH_SECONDS", default=1.0)
# A failed stock restore is retried (after re-checking the PG) once it is this old.
COMPENSATION_STALE_SECONDS = env.int("COMPENSATION_STALE_SECONDS", default=60)
COMPENSATION_BATCH_SIZE = env.int("COMPENSATION_BATCH_SIZE", default=200)
# NOT_STARTED past the PG's windows (authentication 30 min + confirm 10 min) is abandoned:
# it fails and gives its stock back. Recovery also treats "no PG record" as final after it.
CHECKOUT_EXPIRY_SECONDS = env.int("CHECKOUT_EXPIRY_SECONDS", default=40 * 60)
EXPIRY_BATCH_SIZE = env.int("EXPIRY_BATCH_SIZE", default=500)
# Operators and alerts: EXECUTING or UNKNOWN unchanged this long counts as stuck, and so
# does a stock restore still owed (and a webhook still unprocessed) after it.
PAYMENT_STUCK_SECONDS = env.int("PAYMENT_STUCK_SECONDS", default=5 * 60)

# The books (payments/services/relay.py). The platform's cut of each sale line, unless
# the seller has its own rate: whole won, rounded down (the seller never gets less than
# its share).
try:
    PLATFORM_COMMISSION_RATE = Decimal(env("PLATFORM_COMMISSION_RATE", default="0.10"))
except InvalidOperation as exc:
    raise ValueError("PLATFORM_COMMISSION_RATE must be a decimal such as 0.10") from exc
if not Decimal(0) <= PLATFORM_COMMISSION_RATE < 1:
    raise ValueError("PLATFORM_COMMISSION_RATE must be at least 0 and below 1")
# The relay leases a batch of LEDGER outbox rows this long; a relay that dies loses it.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=60)
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=500)
# Rows per relay task: a batch is shared out among the workers in tasks of this many.
OUTBOX_TASK_ROWS = env.int("OUTBOX_TASK_ROWS", default=100)
# A booking that fails is retried after 5, 10, 20 ... s (at most 10 min); after this many
# attempts it is PARKED for an operator.
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_RETRY_BASE_SECONDS = env.float("OUTBOX_RETRY_BASE_SECONDS", default=5)
# A booking still PENDING this long counts in the payment_outbox_backlog gauge (alerted).
OUTBOX_STALE_SECONDS = env.int("OUTBOX_STALE_SECONDS", default=60)

# Virtual accounts (payments/services/deposits.py): the watch looks an account up this
# long before its due date, then again every RETRY seconds until it is settled.
DEPOSIT_WATCH_AHEAD_SECONDS = env.int("DEPOSIT_WATCH_AHEAD_SECONDS", default=600)
DEPOSIT_WATCH_RETRY_SECONDS = env.int("DEPOSIT_WATCH_RETRY_SECONDS", default=300)
DEPOSIT_WATCH_BATCH_SIZE = env.int("DEPOSIT_WATCH_BATCH_SIZE", default=200)
# Still waiting this long after its due date, an account is failed (a transfer made at
# the last second may be reported a little late).
DEPOSIT_EXPIRY_GRACE_SECONDS = env.int("DEPOSIT_EXPIRY_GRACE_SECONDS", default=600)

# Where the PG's window sends the buyer back (the shop frontend's pages).
SHOP_SUCCESS_URL = env("SHOP_SUCCESS_URL", default="http://127.0.0.1:8000/shop/payments/success")
SHOP_FAIL_URL = env("SHOP_FAIL_URL", default="http://127.0.0.1:8000/shop/payments/fail")

# Reconciliation (docs/reconciliation.md). Settlement files of PGs without an API are read
# from here, as <gateway>-<YYYY-MM-DD>.csv (the nightly run's time: settings/celery.py).
SETTLEMENT_FILE_DIR = env("SETTLEMENT_FILE_DIR", default=str(VAR_DIR / "settlement"))
