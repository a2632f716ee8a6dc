from django.db.models import Prefetch, QuerySet

from payments.models import PaymentEvent, PaymentHistory


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
