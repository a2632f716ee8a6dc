"""Prometheus metrics of payments: counters written where things happen, and gauges read
from the database at scrape time (correct whichever process did the work)."""

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from config.metrics import LATENCY_BUCKETS
from payments.selectors import (
    gateway_health_summary,
    payment_operations_summary,
    reconciliation_summary,
)

CONFIRMS = Counter(
    "payment_confirms_total",
    "Confirm requests, by gateway and result (the status answered, or the error code)",
    ["gateway", "result"],
)
CONFIRM_SECONDS = Histogram(
    "payment_confirm_duration_seconds",
    "Confirm request latency, PG call and retries included",
    ["gateway"],
    buckets=LATENCY_BUCKETS,
)
RECOVERY_ATTEMPTS = Counter(
    "payment_recovery_attempts_total",
    "Recovery attempts, by gateway, the decision taken and the status it left",
    ["gateway", "action", "status"],
)
WEBHOOKS_DROPPED = Counter(
    "payment_webhooks_dropped_total",
    "PG notices answered but not stored, by gateway and why (unknown_order, bad_secret)",
    ["gateway", "reason"],
)
DEPOSITS_REVERSED = Counter(
    "payment_deposits_reversed_total",
    "Virtual-account deposits the bank took back after SUCCESS (the PG waits again)",
    ["gateway"],
)
COMPENSATIONS = Counter(
    "payment_compensations_total",
    "Stock restores: restored, failed (left for a retry) or false_failure (PG had approved)",
    ["result"],
)

OUTBOX_BOOKINGS = Counter(
    "payment_outbox_bookings_total",
    "Outbox rows the relay worked: booked, failed (retried later) or parked (for an operator)",
    ["result"],
)

REFUNDS = Counter(
    "payment_refunds_total",
    "Refund outcomes recorded, by gateway and status (SUCCEEDED, FAILED, UNKNOWN, "
    "NEEDS_ATTENTION, AWAITING_ACCOUNT)",
    ["gateway", "status"],
)
REFUNDED_WON = Counter(
    "payment_refunded_won_total",
    "Won given back by SUCCEEDED refunds, at the PG and as points",
    ["gateway"],
)


# (metric, key in payment_operations_summary, help): one number each, read at scrape time.
SUMMARY_GAUGES = [
    (
        "payments_stuck",
        "stuck",
        "EXECUTING or UNKNOWN payments unchanged for over PAYMENT_STUCK_SECONDS",
    ),
    ("payments_needs_attention", "needs_attention", "Payments an operator must resolve"),
    (
        "payment_compensations_backlog",
        "compensation_backlog",
        "Stock restores still owed (PROCESSING) older than PAYMENT_STUCK_SECONDS",
    ),
    (
        "payment_webhooks_backlog",
        "webhooks_waiting",
        "Webhooks still unprocessed older than PAYMENT_STUCK_SECONDS",
    ),
    (
        "payment_outbox_backlog",
        "outbox_backlog",
        "Ledger bookings still PENDING older than OUTBOX_STALE_SECONDS",
    ),
    (
        "payment_outbox_parked",
        "outbox_parked",
        "Ledger bookings that failed OUTBOX_MAX_ATTEMPTS times and wait for an operator",
    ),
    (
        "payment_refunds_in_doubt",
        "refunds_in_doubt",
        "Refunds REQUESTED, EXECUTING or UNKNOWN over PAYMENT_STUCK_SECONDS, and NEEDS_ATTENTION",
    ),
    (
        "payment_refunds_awaiting_account",
        "refunds_awaiting_account",
        "Refunds of late virtual-account deposits waiting for the buyer's bank account",
    ),
    (
        "payment_refunds_awaiting_account_oldest_seconds",
        "refunds_awaiting_account_oldest_seconds",
        "How long the oldest refund waiting for the buyer's bank account has waited (0: none)",
    ),
]


class PaymentGauges:
    """A collector (settings.METRICS_COLLECTORS): the operator's numbers, computed per scrape."""

    def describe(self):
        return []  # computed per scrape: never collected at registration time

    def collect(self):
        summary = payment_operations_summary()
        by_status = GaugeMetricFamily(
            "payments_by_status",
            "Payments in each open status (NOT_STARTED, EXECUTING, UNKNOWN, NEEDS_ATTENTION, "
            "AWAITING_DEPOSIT)",
            labels=["status"],
        )
        for status, count in sorted(summary["by_status"].items()):
            by_status.add_metric([status], count)
        yield by_status

        for name, key, help_text in SUMMARY_GAUGES:
            yield GaugeMetricFamily(name, help_text, value=summary[key])

        yield from gateway_gauges(gateway_health_summary())
        yield from reconciliation_gauges(reconciliation_summary())


def gateway_gauges(summary: dict[str, dict]):
    """Each configured gateway's health (payments.services.pg_health), a sample each."""
    up = GaugeMetricFamily(
        "payment_gateway_up",
        "1 while the gateway is UP (or has no health row yet), 0 while it is DOWN",
        labels=["gateway"],
    )
    in_doubt = GaugeMetricFamily(
        "payment_gateway_in_doubt",
        "In-doubt payments (UNKNOWN, EXECUTING) and refunds (REQUESTED, EXECUTING, UNKNOWN)",
        labels=["gateway", "kind"],
    )
    recovered = GaugeMetricFamily(
        "payment_gateway_recovered_in_doubt_seconds",
        "Seconds since the UP gateway recovered while something in doubt then still is; else 0",
        labels=["gateway"],
    )
    for gateway, health in sorted(summary.items()):
        up.add_metric([gateway], 1 if health["up"] else 0)
        in_doubt.add_metric([gateway, "payment"], health["payments_in_doubt"])
        in_doubt.add_metric([gateway, "refund"], health["refunds_in_doubt"])
        recovered.add_metric([gateway], health["recovered_in_doubt_seconds"])
    yield from (up, in_doubt, recovered)


def reconciliation_gauges(summary: dict[str, dict]):
    """Each gateway's reconciliation (payments.services.reconcile), a sample each: what
    waits for an operator, and whether the nightly run happened."""
    open_rows = GaugeMetricFamily(
        "payment_reconciliation_open_discrepancies",
        "Discrepancies with the PG's records OPEN, waiting for an operator",
        labels=["gateway"],
    )
    oldest = GaugeMetricFamily(
        "payment_reconciliation_oldest_open_seconds",
        "Age of the oldest OPEN discrepancy (since it was found); 0 if none",
        labels=["gateway"],
    )
    last_run = GaugeMetricFamily(
        "payment_reconciliation_last_run_timestamp_seconds",
        "When the gateway's newest DONE reconciliation run (latest day) finished; 0 if never",
        labels=["gateway"],
    )
    for gateway, row in sorted(summary.items()):
        open_rows.add_metric([gateway], row["open"])
        oldest.add_metric([gateway], row["oldest_open_seconds"])
        last_run.add_metric([gateway], row["last_run"])
    yield from (open_rows, oldest, last_run)
