from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from payments.models import (
    CompensationJob,
    PaymentEvent,
    PaymentHistory,
    PaymentStatus,
    WebhookEvent,
)


def payment_list_for_buyer(*, buyer) -> QuerySet[PaymentEvent]:
    return PaymentEvent.objects.filter(buyer=buyer).prefetch_related("lines")


def payment_get_for_buyer(*, buyer, order_id: str) -> PaymentEvent | None:
    """The buyer's own payment with its lines and history; another member's is None."""
    return (
        PaymentEvent.objects.filter(buyer=buyer, order_id=order_id)
        .prefetch_related(
            "lines", Prefetch("history", queryset=PaymentHistory.objects.order_by("id"))
        )
        .first()
    )


def payment_operations_summary(*, now=None) -> dict:
    """The numbers an operator (admin index) and Prometheus (gauges) watch.

    Every count is served by a (status, time) index, so a scrape stays cheap however many
    finished payments the table holds.
    """
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.PAYMENT_STUCK_SECONDS)
    by_status = dict.fromkeys(PaymentStatus.values, 0)
    by_status |= dict(PaymentEvent.objects.values_list("status").annotate(n=Count("id")).order_by())
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
    }
