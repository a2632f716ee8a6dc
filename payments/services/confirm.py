"""Confirm (DESIGN section 4, steps 1 to 6).

1. the member's own payment (another member's orderId is a 404);
2. client vs server: the amount must be what checkout stored; a mismatch is a tamper
   attempt: FAILURE, stock released, nothing sent to the PG;
3. claim NOT_STARTED -> EXECUTING with the paymentKey, and commit; a paymentKey that
   belongs to another order breaks its unique index, and is a tamper attempt as in 2;
4. with no transaction open, confirm at the PG with this payment's own idempotency key,
   retrying transient errors with backoff and jitter inside a budget;
5. PG vs server: orderId, paymentKey, amount and status must match; an approval for
   another amount is cancelled at the PG;
6. record the outcome. A replay of a finished confirm answers from the stored result.
"""

import time
import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import DomainError
from gateways import errors as pg_errors
from gateways.base import get_gateway
from gateways.types import ConfirmRequest
from payments.metrics import CONFIRM_SECONDS, CONFIRMS
from payments.models import OutboxMessage, PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.compensation import compensation_restore_for
from payments.services.outcome import Outcome, outcome_fields, payment_record_outcome
from payments.services.pg_calls import (
    call_with_retries,
    outcome_of_pg,
    payment_ref,
    unknown_outcome,
    verify_decline,
)
from payments.services.queue import CONFIRM_PAYMENT, enqueue
from payments.states import transition

log = structlog.get_logger(__name__)

IN_DOUBT = {S.EXECUTING, S.UNKNOWN, S.NEEDS_ATTENTION}
PAID = {S.SUCCESS, S.CANCELED, S.PARTIAL_CANCELED}


def payment_confirm(
    *,
    buyer,
    order_id: str,
    payment_key: str,
    amount: int,
    actor: str = "api",
    respond_async: bool = False,
) -> PaymentEvent:
    """Confirm the buyer's payment; returns it in its new state, or raises DomainError.

    respond_async: steps 1 to 3 only; the claim also writes a CONFIRM outbox row and a
    worker does steps 4 to 6 (payment_confirm_owed). The payment is returned EXECUTING.
    """
    started = time.perf_counter()
    result = "ERROR"
    structlog.contextvars.unbind_contextvars("gateway", "paymentKey")  # bound below
    try:
        event = _confirm(
            buyer=buyer,
            order_id=order_id,
            payment_key=payment_key,
            amount=amount,
            actor=actor,
            respond_async=respond_async,
        )
        result = event.status
        return event
    except DomainError as exc:
        result = exc.code
        raise
    finally:
        # _confirm binds the payment's gateway to the log context once it has loaded it.
        gateway = structlog.contextvars.get_contextvars().get("gateway", "none")
        CONFIRMS.labels(gateway, result).inc()
        CONFIRM_SECONDS.labels(gateway).observe(time.perf_counter() - started)


def _confirm(
    *, buyer, order_id: str, payment_key: str, amount: int, actor: str, respond_async: bool
) -> PaymentEvent:
    event = PaymentEvent.objects.filter(buyer=buyer, order_id=order_id).first()
    if event is None:
        raise DomainError(404, "NOT_FOUND", f"No payment {order_id} for this member.")
    structlog.contextvars.bind_contextvars(orderId=event.order_id, gateway=event.gateway)
    # The PG's key for the payment, and any one-time token the window gave the buyer.
    payment_key, auth_token = get_gateway(event.gateway).confirm_credentials(
        event.payment_key, payment_key
    )

    if event.status != S.NOT_STARTED:
        return _answer_from_state(event, payment_key)
    if amount != event.total_amount:
        _fail_tampered(
            event,
            "AMOUNT_MISMATCH",
            f"client sent {amount}, the order is {event.total_amount}",
            actor,
        )
        raise DomainError(
            400, "AMOUNT_MISMATCH", "The amount differs from the order's; the order was cancelled."
        )
    try:
        with transaction.atomic(durable=True):
            claimed = transition(
                event.pk,
                to=S.EXECUTING,
                froms={S.NOT_STARTED},
                reason="CONFIRM_REQUESTED",
                actor=actor,
                payment_key=payment_key,
                pg_auth_token=auth_token or "",
            )
            if claimed is not None and respond_async:
                OutboxMessage.objects.create(event_id=event.pk, kind=OutboxMessage.Kind.CONFIRM)
                transaction.on_commit(lambda: _enqueue_confirm(event.pk))
    except IntegrityError as exc:
        # The key is unique per gateway: it belongs to another order (tampered, or two
        # orders raced for one key). The claim rolled back; nothing was sent to the PG.
        _fail_tampered(
            event, "PAYMENT_KEY_OF_ANOTHER_ORDER", "the paymentKey belongs to another order", actor
        )
        raise DomainError(
            409,
            "INVALID_STATE",
            "This paymentKey belongs to another order; the order was cancelled.",
        ) from exc
    if claimed is None:  # someone else moved it first: answer from where it is now
        event.refresh_from_db()
        return _answer_from_state(event, payment_key)
    event.status, event.payment_key, event.pg_auth_token = (
        S.EXECUTING,
        payment_key,
        auth_token or "",
    )
    structlog.contextvars.bind_contextvars(paymentKey=payment_key)
    if respond_async:
        return event  # EXECUTING: a worker confirms it at the PG; the client polls GET

    outcome = payment_confirm_at_pg(event=event, payment_key=payment_key)
    if _record(event, outcome, actor) and outcome.status == S.SUCCESS:
        # Recorded by us, and nothing moves a SUCCESS but a refund: no need to re-read.
        event.status = S.SUCCESS
        for field, value in outcome_fields(outcome).items():
            setattr(event, field, value)
    else:
        event.refresh_from_db()
    if event.status == S.FAILURE:
        raise DomainError(
            400,
            "PAYMENT_REJECTED",
            "The payment was declined.",
            pgCode=event.failure_code,
            pgMessage=event.failure_message,
        )
    return event


def payment_confirm_owed(*, event_id: int, actor: str) -> str:
    """The worker side of an asynchronous confirm: steps 4 to 6 for a claimed payment.

    The payment is leased first, so the relay, a retried task and recovery never call the
    PG for it at once. Returns the payment's status afterwards.
    """
    owner = f"confirm:{uuid.uuid4().hex[:16]}"
    now = timezone.now()
    leased = (
        PaymentEvent.objects.filter(pk=event_id, status=S.EXECUTING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=settings.RECOVERY_LEASE_SECONDS),
        )
    )
    event = PaymentEvent.objects.get(pk=event_id)
    structlog.contextvars.bind_contextvars(
        orderId=event.order_id, gateway=event.gateway, paymentKey=event.payment_key
    )
    if leased:
        outcome = payment_confirm_at_pg(event=event, payment_key=event.payment_key)
        if _record(event, outcome, actor) and outcome.status != S.FAILURE:
            event.status = outcome.status  # recording it gave the lease up too
        else:
            # Settled by someone else first, or a FAILURE whose stock restore may have
            # found it approved after all: give the lease back, read where it is.
            PaymentEvent.objects.filter(pk=event_id, lease_owner=owner).update(
                lease_owner="", lease_until=None
            )
            event.refresh_from_db()
    if event.status != S.EXECUTING or leased:
        # Whatever was learnt is recorded (UNKNOWN belongs to recovery now): nothing owed.
        OutboxMessage.objects.filter(
            event_id=event_id,
            kind=OutboxMessage.Kind.CONFIRM,
            status=OutboxMessage.Status.PENDING,
        ).update(status=OutboxMessage.Status.DONE, processed_at=timezone.now())
    return event.status


def payment_confirm_relay(*, limit: int = 500) -> int:
    """Queue again the asynchronous confirms whose task was lost (broker down, worker killed).

    A confirm still owed after CONFIRM_RELAY_SECONDS is sent once more; the lease in
    payment_confirm_owed makes a duplicate harmless. Returns how many were queued.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.CONFIRM_RELAY_SECONDS)
    owed = list(
        OutboxMessage.objects.filter(
            status=OutboxMessage.Status.PENDING,
            kind=OutboxMessage.Kind.CONFIRM,
            created_at__lte=cutoff,
        )
        .order_by("created_at")
        .values_list("event_id", flat=True)[:limit]
    )
    for event_id in owed:
        _enqueue_confirm(event_id)
    return len(owed)


def _enqueue_confirm(event_id: int) -> None:
    enqueue(CONFIRM_PAYMENT, event_id)


def _record(event: PaymentEvent, outcome: Outcome, actor: str) -> bool:
    """Step 6, and the stock restore a FAILURE owes, tried at once. False if the payment
    had already left EXECUTING (recovery or a webhook settled it first)."""
    recorded = payment_record_outcome(
        event_id=event.pk, outcome=outcome, actor=actor, froms={S.EXECUTING}
    )
    if outcome.status == S.FAILURE:
        compensation_restore_for(event_id=event.pk)
    return recorded


def payment_confirm_at_pg(*, event: PaymentEvent, payment_key: str) -> Outcome:
    """Steps 4 and 5: ask the PG to approve, read its answer, return what it means."""
    gateway = get_gateway(event.gateway)
    request = ConfirmRequest(
        order_id=event.order_id,
        payment_key=payment_key,
        amount=event.total_amount,
        idempotency_key=event.pg_idempotency_key,
        auth_token=event.pg_auth_token or None,
        buyer_ref=str(event.buyer_id),
    )
    try:
        pg = call_with_retries(lambda: gateway.confirm(request))
    except pg_errors.Rejected as exc:
        return verify_decline(event, payment_key, exc)
    except pg_errors.AlreadyProcessed:
        try:
            pg = call_with_retries(lambda: gateway.lookup(payment_ref(event)))
        except pg_errors.GatewayError as exc:
            return unknown_outcome("LOOKUP_FAILED", exc)
    except pg_errors.GatewayError as exc:
        return unknown_outcome("PG_OUTCOME_UNKNOWN", exc)
    return outcome_of_pg(event, pg, payment_key)


def _fail_tampered(event: PaymentEvent, reason: str, detail: str, actor: str) -> None:
    log.warning("payment_tampered", reason=reason, detail=detail)
    if payment_record_outcome(
        event_id=event.pk,
        outcome=Outcome(S.FAILURE, reason, pg_message=detail),
        actor=actor,
        froms={S.NOT_STARTED},
    ):
        event.refresh_from_db()
        compensation_restore_for(event_id=event.pk)


def _answer_from_state(event: PaymentEvent, payment_key: str) -> PaymentEvent:
    """A confirm of a payment that is not NOT_STARTED: replay, wait, or refuse."""
    same_key = event.payment_key == payment_key
    if event.status in PAID or event.status in IN_DOUBT:
        if same_key:
            return event
        raise DomainError(409, "INVALID_STATE", "This order was confirmed with another paymentKey.")
    if event.status == S.FAILURE and same_key:
        raise DomainError(
            400,
            "PAYMENT_REJECTED",
            "The payment was declined.",
            pgCode=event.failure_code,
            pgMessage=event.failure_message,
        )
    raise DomainError(
        409, "INVALID_STATE", f"This order is {event.status} and cannot be confirmed."
    )
