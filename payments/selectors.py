from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from payments.models import (
    CompensationJob,
    Discrepancy,
    DiscrepancyStatus,
    GatewayHealth,
    GatewayState,
    Method,
    OutboxMessage,
    PaymentDetail,
    PaymentEvent,
    PaymentHistory,
    PaymentStatus,
    ReconciliationRun,
    Refund,
    RefundStatus,
    RunStatus,
    WebhookEvent,
)


def payment_list_for_buyer(*, buyer) -> QuerySet[PaymentEvent]:
    payments = PaymentEvent.objects.filter(buyer=buyer)
    return payments.select_related("detail").prefetch_related("lines")


def payment_detail_of(event: PaymentEvent) -> PaymentDetail | None:
    """What the PG said about how the payment was paid; None until it has said."""
    try:
        return event.detail
    except PaymentDetail.DoesNotExist:
        return None


def paid_by_virtual_account(event: PaymentEvent) -> bool:
    """Whether the buyer paid into a virtual account: its money goes back by bank
    transfer, to an account the buyer names (Toss refundReceiveAccount)."""
    detail = payment_detail_of(event)
    return detail is not None and detail.method == Method.VIRTUAL_ACCOUNT


def payment_get_for_buyer(*, buyer, order_id: str) -> PaymentEvent | None:
    """The buyer's own payment with its lines, history and refunds; another member's is
    None."""
    return (
        PaymentEvent.objects.filter(buyer=buyer, order_id=order_id)
        .select_related("detail")
        .prefetch_related(
            "lines",
            Prefetch("history", queryset=PaymentHistory.objects.order_by("id")),
            Prefetch(
                "refunds", queryset=Refund.objects.order_by("id").prefetch_related("lines__line")
            ),
        )
        .first()
    )


def payment_status_for_buyer(*, buyer, order_id: str) -> tuple[int | None, str | None]:
    """(id, status) of the buyer's own payment, or (None, None): one light query."""
    row = (
        PaymentEvent.objects.filter(buyer=buyer, order_id=order_id)
        .values_list("id", "status")
        .first()
    )
    return row or (None, None)


OPEN_STATUSES = [
    PaymentStatus.NOT_STARTED,
    PaymentStatus.EXECUTING,
    PaymentStatus.UNKNOWN,
    PaymentStatus.NEEDS_ATTENTION,
    PaymentStatus.AWAITING_DEPOSIT,
]
FINISHED_STATUSES = [s for s in PaymentStatus.values if s not in OPEN_STATUSES]


def payment_operations_summary(*, now=None) -> dict:
    """The numbers an operator (admin index) and Prometheus (gauges) watch.

    Each is an index range over open payments only: the cost does not grow with the
    finished payments the table holds (bench/recovery_load.py measures it with a million
    of them). How many finish, and how, is what the counters are for.
    """
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.PAYMENT_STUCK_SECONDS)
    by_status = dict.fromkeys(OPEN_STATUSES, 0) | _count_by_status(status__in=OPEN_STATUSES)
    return {
        "by_status": by_status,
        "stuck": PaymentEvent.objects.filter(
            status__in=[PaymentStatus.EXECUTING, PaymentStatus.UNKNOWN],
            updated_at__lte=stuck_before,
        ).count(),
        "needs_attention": by_status[PaymentStatus.NEEDS_ATTENTION],
        "compensation_backlog": CompensationJob.objects.filter(
            status=CompensationJob.Status.PROCESSING, created_at__lte=stuck_before
        ).count(),
        "webhooks_waiting": WebhookEvent.objects.filter(
            status=WebhookEvent.Status.RECEIVED, received_at__lte=stuck_before
        ).count(),
        # Bookings the relay owes: PENDING past OUTBOX_STALE_SECONDS, and PARKED ones.
        "outbox_backlog": OutboxMessage.objects.filter(
            kind=OutboxMessage.Kind.LEDGER,
            status=OutboxMessage.Status.PENDING,
            created_at__lte=now - timedelta(seconds=settings.OUTBOX_STALE_SECONDS),
        ).count(),
        "outbox_parked": OutboxMessage.objects.filter(
            kind=OutboxMessage.Kind.LEDGER, status=OutboxMessage.Status.PARKED
        ).count(),
        "refunds_in_doubt": _refunds_in_doubt(stuck_before=stuck_before),
        **_refunds_awaiting_account(now),
    }


def _refunds_awaiting_account(now) -> dict:
    """Late deposits' refunds waiting for the buyer's bank account: how many, and how long
    the oldest has waited since it was made (0 if none): a refund the PG keeps refusing
    whatever account it is given still reaches an operator. Only the few waiting rows
    are read (a range of the (status, ...) indexes)."""
    waiting = Refund.objects.filter(status=RefundStatus.AWAITING_ACCOUNT).aggregate(
        n=Count("id"), oldest=Min("created_at")
    )
    oldest = waiting["oldest"]
    return {
        "refunds_awaiting_account": waiting["n"],
        "refunds_awaiting_account_oldest_seconds": (now - oldest).total_seconds() if oldest else 0,
    }


# Refunds whose outcome is still open (their money stays reserved meanwhile): in doubt
# once unchanged for PAYMENT_STUCK_SECONDS, as refund recovery should have settled them.
REFUND_PENDING_STATUSES = [RefundStatus.REQUESTED, RefundStatus.EXECUTING, RefundStatus.UNKNOWN]


def _refunds_in_doubt(*, stuck_before) -> int:
    """Refunds REQUESTED, EXECUTING or UNKNOWN unchanged since `stuck_before`, plus every
    NEEDS_ATTENTION one (recovery gave up on it, whatever its age). Two counts, each a
    range of the (status, updated_at) index, where one OR of both may scan the table."""
    pending = Refund.objects.filter(
        status__in=REFUND_PENDING_STATUSES, updated_at__lte=stuck_before
    ).count()
    return pending + Refund.objects.filter(status=RefundStatus.NEEDS_ATTENTION).count()


# What recovery works on: payments UNKNOWN or EXECUTING (payments.services.decisions.
# RECOVERABLE), refunds REQUESTED, EXECUTING or UNKNOWN (refund_recovery.IN_DOUBT). Named
# again here, as importing those services from here is circular; a test keeps them equal.
PAYMENTS_IN_DOUBT = [PaymentStatus.UNKNOWN, PaymentStatus.EXECUTING]
REFUNDS_IN_DOUBT = REFUND_PENDING_STATUSES


def gateway_health_summary(*, now=None) -> dict[str, dict]:
    """Each configured gateway's health, for the gauges (payments.services.pg_health).

    {gateway: {"up", "payments_in_doubt", "refunds_in_doubt", "recovered_in_doubt_seconds"}}
    for every key of PAYMENT_GATEWAYS: up unless its GatewayHealth row says DOWN (no row
    yet is UP); in-doubt payments (UNKNOWN, EXECUTING) and refunds (REQUESTED, EXECUTING,
    UNKNOWN); and, while it is UP after a recovery, the seconds since recovered_at if
    anything created by then is still in doubt (else 0).

    Three queries whatever the number of gateways: the health rows, and one count per
    kind grouped by gateway over the (status, ...) indexes of open rows only; the oldest
    created_at of each group says whether anything predates the recovery.
    """
    now = now or timezone.now()
    health = {
        gateway: (state, recovered_at)
        for gateway, state, recovered_at in GatewayHealth.objects.values_list(
            "gateway", "state", "recovered_at"
        )
    }
    payments = _in_doubt_by_gateway(
        PaymentEvent.objects.filter(status__in=PAYMENTS_IN_DOUBT), "gateway"
    )
    refunds = _in_doubt_by_gateway(
        Refund.objects.filter(status__in=REFUNDS_IN_DOUBT), "event__gateway"
    )
    summary = {}
    for gateway in settings.PAYMENT_GATEWAYS:
        state, recovered_at = health.get(gateway, (GatewayState.UP, None))
        n_payments, oldest_payment = payments.get(gateway, (0, None))
        n_refunds, oldest_refund = refunds.get(gateway, (0, None))
        up = state != GatewayState.DOWN
        waiting = 0.0
        if up and recovered_at is not None:
            oldest = [t for t in (oldest_payment, oldest_refund) if t is not None]
            if oldest and min(oldest) <= recovered_at:
                waiting = max((now - recovered_at).total_seconds(), 0.0)
        summary[gateway] = {
            "up": up,
            "payments_in_doubt": n_payments,
            "refunds_in_doubt": n_refunds,
            "recovered_in_doubt_seconds": waiting,
        }
    return summary


def _in_doubt_by_gateway(rows: QuerySet, field: str) -> dict[str, tuple]:
    """{gateway: (count, oldest created_at)} of the rows, in one grouped query."""
    grouped = rows.values_list(field).annotate(n=Count("id"), oldest=Min("created_at"))
    return {gateway: (n, oldest) for gateway, n, oldest in grouped.order_by()}


def reconciliation_summary(*, now=None) -> dict[str, dict]:
    """Each gateway's reconciliation, for the gauges (payments.services.reconcile).

    {gateway: {"open", "oldest_open_seconds", "last_run"}} for every key of
    PAYMENT_GATEWAYS (and any other gateway that has OPEN discrepancies): how many
    discrepancies are OPEN and the age of the oldest (by created_at; 0 if none), and when
    its newest DONE run (the latest day reconciled) finished, in unix seconds (0 if
    never). The newest by day, not the latest finished_at: running an old day again must
    not hide that the nightly run of yesterday is missing (the ReconciliationMissing
    alert); a FAILED or REFUSED run of a day does not count either.

    Two queries whatever the number of gateways: the OPEN ones grouped by gateway over
    the (status, created_at) index, and the DONE runs of each gateway's newest DONE day.
    """
    now = now or timezone.now()
    open_rows = (
        Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN)
        .values_list("run__gateway")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by()
    )
    opened = {gateway: (n, oldest) for gateway, n, oldest in open_rows}
    done = ReconciliationRun.objects.filter(status=RunStatus.DONE)
    newest_day = done.filter(gateway=OuterRef("gateway")).order_by("-day").values("day")[:1]
    last_runs = dict(done.filter(day=Subquery(newest_day)).values_list("gateway", "finished_at"))
    summary = {}
    for gateway in [
        *settings.PAYMENT_GATEWAYS,
        *sorted(set(opened) - set(settings.PAYMENT_GATEWAYS)),
    ]:
        n, oldest = opened.get(gateway, (0, None))
        finished_at = last_runs.get(gateway)
        summary[gateway] = {
            "open": n,
            "oldest_open_seconds": max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
            "last_run": finished_at.timestamp() if finished_at else 0.0,
        }
    return summary


def payment_finished_recently(*, hours: int = 1, now=None) -> dict[str, int]:
    """Finished payments created in the last `hours`, by status (the admin index only: its
    cost grows with the traffic of that window)."""
    since = (now or timezone.now()) - timedelta(hours=hours)
    return dict.fromkeys(FINISHED_STATUSES, 0) | _count_by_status(
        status__in=FINISHED_STATUSES, created_at__gte=since
    )


def _count_by_status(**conditions) -> dict[str, int]:
    rows = PaymentEvent.objects.filter(**conditions).values_list("status").annotate(n=Count("id"))
    return dict(rows.order_by())
