"""Confirm: the buyer authorised the payment in the PG's window; now the PG must approve it.

1. the member's own payment (another member's orderId is a 404);
2. client vs server: the amount must be what checkout stored; a mismatch is a tamper
   attempt: FAILURE, stock released, nothing sent to the PG;
3. claim NOT_STARTED -> EXECUTING with the paymentKey, and commit; a paymentKey another
   order holds breaks its unique index, and the PG is asked whose key it is: the
   holder's, and this is a tamper attempt as in 2; this order's, and a holder that
   failed gives it up (someone tried it on their own order first);
4. with no transaction open, confirm at the PG (the PG port: this payment's own
   idempotency key, transient errors retried inside a budget);
5. PG vs server: decisions.decide_after_confirm (orderId, paymentKey, amount and status
   must match; an approval for another amount is cancelled at the PG);
6. record the outcome (settle). A replay of a finished confirm answers from the stored
   result and never calls the PG.

payment_confirm does all six in the request. payment_confirm_async does 1 to 3 and
writes a CONFIRM outbox row with the claim; a worker does 4 to 6 (payment_confirm_owed),
and a relay queues again the confirms whose task was lost.
"""

import functools
import time
import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import DomainError
from payments.metrics import CONFIRM_SECONDS, CONFIRMS
from payments.models import OutboxMessage, PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.decisions import Action, Decision, decide_after_confirm
from payments.services.pg import PgError, pg_confirm, pg_confirm_credentials, pg_find_key
from payments.services.queue import CONFIRM_PAYMENT, enqueue
from payments.services.settle import payment_record_outcome
from payments.states import record_note, transition

log = structlog.get_logger(__name__)

# No outcome the buyer can act on yet (a person decides NEEDS_ATTENTION): confirm answers 202.
UNSETTLED = frozenset({S.EXECUTING, S.UNKNOWN, S.NEEDS_ATTENTION})
PAID = frozenset({S.SUCCESS, S.CANCELED, S.PARTIAL_CANCELED})


def _counted(confirm):
    """Count the confirm by gateway and result (the status, or the error code), and time it."""

    @functools.wraps(confirm)
    def counted(**kwargs) -> PaymentEvent:
        started = time.perf_counter()
        result = "ERROR"
        structlog.contextvars.unbind_contextvars("gateway", "paymentKey")  # bound by _claim
        try:
            event = confirm(**kwargs)
            result = event.status
            return event
        except DomainError as exc:
            result = exc.code
            raise
        finally:
            gateway = structlog.contextvars.get_contextvars().get("gateway", "none")
            CONFIRMS.labels(gateway, result).inc()
            CONFIRM_SECONDS.labels(gateway).observe(time.perf_counter() - started)

    return counted


@_counted
def payment_confirm(
    *, buyer, order_id: str, payment_key: str, amount: int, actor: str = "api"
) -> PaymentEvent:
    """Steps 1 to 6 in the request: the payment in its new state, or DomainError."""
    event, claimed = _claim(buyer, order_id, payment_key, amount, actor, respond_async=False)
    if claimed:
        _settle_at_pg(event, actor)
        if event.status == S.FAILURE:
            raise _declined(event)
    return event


@_counted
def payment_confirm_async(
    *, buyer, order_id: str, payment_key: str, amount: int, actor: str = "api"
) -> PaymentEvent:
    """Steps 1 to 3; the claim also writes a CONFIRM outbox row, and a worker does 4 to 6.

    A new claim is returned EXECUTING; a repeat answers from the payment's state.
    """
    event, _ = _claim(buyer, order_id, payment_key, amount, actor, respond_async=True)
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
        _settle_at_pg(event, actor, lease_owner=owner)
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
        enqueue(CONFIRM_PAYMENT, event_id)
    return len(owed)


def _settle_at_pg(event: PaymentEvent, actor: str, lease_owner: str = "") -> None:
    """Steps 4 to 6: ask the PG to approve, decide on its answer, record it.

    `event` holds the payment's status afterwards: the recorded one, or where recovery or
    a webhook had taken it first.
    """
    decision = decide_after_confirm(event, pg_confirm(event))
    payment_record_outcome(
        event=event, decision=decision, actor=actor, froms={S.EXECUTING}, lease_owner=lease_owner
    )


def _claim(
    buyer, order_id: str, payment_key: str, amount: int, actor: str, *, respond_async: bool
) -> tuple[PaymentEvent, bool]:
    """Steps 1 to 3: (the payment, whether this request claimed it), or DomainError."""
    event = PaymentEvent.objects.filter(buyer=buyer, order_id=order_id).first()
    if event is None:
        raise DomainError("NOT_FOUND", f"No payment {order_id} for this member.")
    structlog.contextvars.bind_contextvars(orderId=event.order_id, gateway=event.gateway)
    # The PG's key for the payment, and any one-time token the window gave the buyer.
    payment_key, auth_token = pg_confirm_credentials(event, payment_key)
    if event.status != S.NOT_STARTED:
        return _answer_from_state(event, payment_key), False
    if amount != event.total_amount:
        detail = f"client sent {amount}, the order is {event.total_amount}"
        _fail_tampered(event, "AMOUNT_MISMATCH", detail, actor)
        raise DomainError(
            "AMOUNT_MISMATCH", "The amount differs from the order's; the order was cancelled."
        )
    try:
        claimed = _take(event, payment_key, auth_token, actor, respond_async)
    except IntegrityError:
        # The key is unique per gateway and another order holds it. The claim rolled
        # back; the PG says whose key it is before anyone's order fails for it.
        _release_key_for(event, payment_key, actor)
        claimed = _take(event, payment_key, auth_token, actor, respond_async)
    if claimed is None:  # someone else moved it first: answer from where it is now
        event.refresh_from_db()
        return _answer_from_state(event, payment_key), False
    event.status, event.payment_key = S.EXECUTING, payment_key
    event.pg_auth_token = auth_token or ""
    structlog.contextvars.bind_contextvars(paymentKey=payment_key)
    return event, True


def _take(event, payment_key: str, auth_token, actor: str, respond_async: bool):
    """Step 3: NOT_STARTED -> EXECUTING with the key, committed; IntegrityError if another
    order holds the key."""
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
            transaction.on_commit(lambda: enqueue(CONFIRM_PAYMENT, event.pk))
    return claimed


def _release_key_for(event: PaymentEvent, payment_key: str, actor: str) -> None:
    """Another order holds this paymentKey. Returns once it is free for this order.

    Anyone who saw a buyer's paymentKey could confirm their own order with it first: the
    PG refuses that confirm, and the failed order keeps the key. So the PG is asked whose
    key it is. This order's: the failed order gives it up (a history row says so). Not
    this order's: this request is the tamperer, and only its own order fails. A holder
    still confirming it answers 409 PAYMENT_KEY_IN_USE; no answer from the PG, 503.
    Nothing is failed on our word alone.
    """
    holder = PaymentEvent.objects.filter(gateway=event.gateway, payment_key=payment_key).first()
    if holder is None or holder.pk == event.pk:
        return  # given up meanwhile: the claim can be tried again
    answer = pg_find_key(event.gateway, payment_key)
    if answer.record is None and answer.error != PgError.NOT_FOUND:
        raise DomainError(
            "GATEWAY_UNAVAILABLE",
            "The PG could not say whose paymentKey this is; nothing was charged. Try again.",
        )
    if answer.record is None or answer.record.order_id != event.order_id:
        detail = f"the paymentKey belongs to another order ({holder.order_id} holds it)"
        _fail_tampered(event, "PAYMENT_KEY_OF_ANOTHER_ORDER", detail, actor)
        raise DomainError(
            "INVALID_STATE", "This paymentKey belongs to another order; the order was cancelled."
        )
    with transaction.atomic(durable=True):
        released = PaymentEvent.objects.filter(
            pk=holder.pk, status=S.FAILURE, payment_key=payment_key
        ).update(payment_key=None)
        if released:
            note = f"the PG says this paymentKey is {event.order_id}'s"
            record_note(holder.pk, reason="PAYMENT_KEY_RELEASED", actor=actor, pg_message=note)
    if not released:
        log.warning("payment_key_in_use", holder=holder.order_id, holder_status=holder.status)
        raise DomainError(
            "PAYMENT_KEY_IN_USE",
            "Another order is being confirmed with this paymentKey; try again shortly.",
            retryAfter=5,  # about one PG confirm: the holder will have an outcome
        )


def _fail_tampered(event: PaymentEvent, reason: str, detail: str, actor: str) -> None:
    log.warning("payment_tampered", reason=reason, detail=detail)
    tampered = Decision(Action.FAILURE, reason, pg_message=detail)
    payment_record_outcome(event=event, decision=tampered, actor=actor, froms={S.NOT_STARTED})


def _declined(event: PaymentEvent) -> DomainError:
    return DomainError(
        "PAYMENT_REJECTED",
        "The payment was declined.",
        pgCode=event.failure_code,
        pgMessage=event.failure_message,
    )


def _answer_from_state(event: PaymentEvent, payment_key: str) -> PaymentEvent:
    """A confirm of a payment that is not NOT_STARTED: replay, wait, or refuse."""
    same_key = event.payment_key == payment_key
    if event.status in PAID or event.status in UNSETTLED or event.status == S.AWAITING_DEPOSIT:
        if same_key:
            return event
        raise DomainError("INVALID_STATE", "This order was confirmed with another paymentKey.")
    if event.status == S.FAILURE and same_key:
        raise _declined(event)
    raise DomainError("INVALID_STATE", f"This order is {event.status} and cannot be confirmed.")
