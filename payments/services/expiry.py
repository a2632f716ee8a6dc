"""Abandoned checkouts: NOT_STARTED past the PG's windows fail and give their stock back.

The same conditional UPDATE that claims a payment for confirm decides the race with a
late confirm: whichever moves NOT_STARTED first wins, the other sees it moved.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from payments.models import PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.decisions import Action, Decision
from payments.services.settle import payment_record_outcome

ABANDONED = Decision(
    Action.FAILURE, "ABANDONED", pg_message="not confirmed within the PG's windows"
)


def payment_expire_abandoned(*, actor: str, limit: int | None = None) -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS)
    events = PaymentEvent.objects.filter(status=S.NOT_STARTED, created_at__lt=cutoff).order_by(
        "created_at"
    )[: limit or settings.EXPIRY_BATCH_SIZE]
    return sum(
        payment_record_outcome(event=event, decision=ABANDONED, actor=actor, froms={S.NOT_STARTED})
        for event in list(events)
    )
