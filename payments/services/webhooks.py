"""The webhook inbox: store a PG's notification first, then act on the PG's own word.

A notification carries no proof (Toss's payment events have no signature), so it is only
a reason to look now: processing looks the payment up at the PG (recovery_recheck),
which records what the PG's answer settles through the one outcome function and never
spends recovery's attempts; one such look per payment per
WEBHOOK_RECHECK_INTERVAL_SECONDS, however many notices come. Bodies over
WEBHOOK_MAX_BODY_BYTES are refused before they are read, and notices about orders we do
not have, or deposit callbacks whose secret is not the one the PG gave us with the
account, are not stored. Duplicates
are stored once (unique on gateway + the notification's identity); out-of-order ones
change nothing, because the PG's current record decides, not the notification.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from payments.metrics import WEBHOOKS_DROPPED
from payments.models import PaymentEvent, WebhookEvent
from payments.models import PaymentStatus as S
from payments.services.decisions import Action, decide_webhook
from payments.services.details import deposit_secret_matches
from payments.services.pg import PgRecord, WebhookNotice, pg_lookup, pg_read_webhook
from payments.services.queue import PROCESS_WEBHOOK, enqueue
from payments.services.recovery import recovery_claim, recovery_recheck
from payments.services.refund_elsewhere import payment_sync_with_pg

log = structlog.get_logger(__name__)
DEPOSIT_CALLBACK = "DEPOSIT_CALLBACK"  # Toss's notice of a virtual account's deposit

REDRIVE_AFTER_SECONDS = 60


def webhook_accept(*, gateway: str, body: bytes) -> tuple[str, str]:
    """Store a delivery and queue its processing; the answer the PG wants (body, type).

    A notice about an order we never created is answered the same and not stored: the
    PG has nothing to retry, and a stranger cannot fill the inbox with them.
    """
    notice, ack = pg_read_webhook(gateway, body)
    stored = webhook_receive(gateway=gateway, notice=notice)
    if stored is not None:
        enqueue(PROCESS_WEBHOOK, stored.pk)
    return ack


def webhook_receive(*, gateway: str, notice: WebhookNotice) -> WebhookEvent | None:
    """Store the notification; None if this one was stored before (a duplicate), or if
    it is about no payment of ours (dropped)."""
    event_id = (
        PaymentEvent.objects.filter(order_id=notice.order_id, gateway=gateway)
        .values_list("id", flat=True)
        .first()
    )
    if event_id is None:
        WEBHOOKS_DROPPED.labels(gateway, "unknown_order").inc()
        return None
    if notice.event_type == DEPOSIT_CALLBACK and not deposit_secret_matches(
        event_id=event_id, secret=notice.secret
    ):
        # Not the secret the PG gave us with this account: not from the PG (or about an
        # account we never recorded). The deposit watch still asks the PG itself.
        WEBHOOKS_DROPPED.labels(gateway, "bad_secret").inc()
        log.warning("webhook_bad_secret", gateway=gateway, orderId=notice.order_id)
        return None
    try:
        with transaction.atomic(durable=True):
            return WebhookEvent.objects.create(
                gateway=gateway,
                event_key=notice.event_key,
                event_type=notice.event_type,
                order_id=notice.order_id,
                pg_status=notice.pg_status,
                event_id=event_id,
                payload=notice.payload,
            )
    except IntegrityError:
        log.info("webhook_duplicate", gateway=gateway, orderId=notice.order_id)
        return None


def webhook_process(*, webhook_id: int) -> str:
    """Look the payment up at the PG if its outcome is still open. Returns the new status."""
    webhook = WebhookEvent.objects.get(pk=webhook_id)
    if webhook.status != WebhookEvent.Status.RECEIVED:
        return webhook.status
    WebhookEvent.objects.filter(pk=webhook_id).update(attempts=F("attempts") + 1)
    structlog.contextvars.bind_contextvars(orderId=webhook.order_id, gateway=webhook.gateway)
    event = PaymentEvent.objects.filter(pk=webhook.event_id).first() or (
        PaymentEvent.objects.filter(order_id=webhook.order_id, gateway=webhook.gateway).first()
    )
    stale = timezone.now() - timedelta(seconds=settings.RECOVERY_STALE_EXECUTING_SECONDS)
    in_flight = event is not None and event.status == S.EXECUTING and event.updated_at > stale
    decision = decide_webhook(event.status if event else None, confirm_in_flight=in_flight)
    if decision.action not in (Action.RECHECK, Action.COMPARE):
        event_id = event.pk if event else None
        return _finish(webhook_id, WebhookEvent.Status.IGNORED, decision.note, event_id)
    # A deposit callback was checked against the account's secret when it was stored:
    # only the PG can send it, so it is acted on at once whatever came before it.
    verified = webhook.event_type == DEPOSIT_CALLBACK
    if not verified and _looked_at_lately(event.pk):
        if event.status == S.AWAITING_DEPOSIT:
            # Maybe the deposit, maybe a forgery: the deposit watch looks soon, not at
            # the due date (a notice can bring its look forward, never push it back).
            soon = timezone.now() + timedelta(seconds=settings.WEBHOOK_RECHECK_INTERVAL_SECONDS)
            PaymentEvent.objects.filter(
                pk=event.pk, status=S.AWAITING_DEPOSIT, next_attempt_at__gt=soon
            ).update(next_attempt_at=soon)
        note = "the PG was looked at lately for this payment"
        return _finish(webhook_id, WebhookEvent.Status.IGNORED, note, event.pk)
    if decision.action == Action.COMPARE:
        return _compare(webhook_id, event)
    owner = f"webhook:{webhook_id}"
    if not recovery_claim(owner=owner, limit=1, order_id=event.order_id):
        note = "recovery is checking it"
        return _finish(webhook_id, WebhookEvent.Status.PROCESSED, note, event.pk)
    result = recovery_recheck(event_id=event.pk, owner=owner, actor="webhook")
    note = f"re-checked at the PG: {result.action} -> {result.status}" if result else "re-checked"
    return _finish(webhook_id, WebhookEvent.Status.PROCESSED, note, event.pk, rechecked=True)


def _compare(webhook_id: int, event: PaymentEvent) -> str:
    answer = pg_lookup(event)
    if not isinstance(answer.record, PgRecord):
        note = f"the PG did not answer the look ({answer.code})"
    else:
        note = payment_sync_with_pg(event=event, record=answer.record, actor="webhook")
    return _finish(webhook_id, WebhookEvent.Status.PROCESSED, note, event.pk, rechecked=True)


def _looked_at_lately(event_id: int) -> bool:
    """Whether a notice made us ask the PG about this payment within the interval: notices
    (forged or repeated) cost at most one PG call per payment per interval."""
    since = timezone.now() - timedelta(seconds=settings.WEBHOOK_RECHECK_INTERVAL_SECONDS)
    return WebhookEvent.objects.filter(
        event_id=event_id, rechecked=True, processed_at__gte=since
    ).exists()


def webhook_redrive(*, limit: int = 200) -> int:
    """Process notifications whose task was lost (a worker died, the broker was down)."""
    cutoff = timezone.now() - timedelta(seconds=REDRIVE_AFTER_SECONDS)
    ids = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED, received_at__lte=cutoff)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )
    for webhook_id in ids:
        webhook_process(webhook_id=webhook_id)
    return len(ids)


def _finish(
    webhook_id: int, status: str, note: str, event_id: int | None, rechecked: bool = False
) -> str:
    WebhookEvent.objects.filter(pk=webhook_id, status=WebhookEvent.Status.RECEIVED).update(
        status=status,
        note=note[:255],
        event_id=event_id,
        processed_at=timezone.now(),
        rechecked=rechecked,
    )
    log.info("webhook_processed", status=status, note=note)
    return status
