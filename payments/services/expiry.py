"""Abandoned checkouts: NOT_STARTED past the PG's windows fail and give their stock back.

The same conditional UPDATE that claims a payment for confirm decides the race with a
late confirm: whichever moves NOT_STARTED first wins, the other sees it moved.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from payments.models import PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.compensation import compensation_restore_for
from payments.services.outcome import Outcome, payment_record_outcome


def payment_expire_abandoned(*, actor: str, limit: int | None = None) -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS)
    ids = list(
        PaymentEvent.objects.filter(status=S.NOT_STARTED, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[: limit or settings.EXPIRY_BATCH_SIZE]
    )
    expired = 0
    outcome = Outcome(S.FAILURE, "ABANDONED", pg_message="not confirmed within the PG's windows")
    for event_id in ids:
        if payment_record_outcome(
            event_id=event_id, outcome=outcome, actor=actor, froms={S.NOT_STARTED}
        ):
            compensation_restore_for(event_id=event_id)
            expired += 1
    return expired
