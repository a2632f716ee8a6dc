"""Continuing under a new Idempotency-Key, only when it is provably safe.

A PG that stores an error answer under its Idempotency-Key (Toss may: docs/pg.md) hands
the same error back to every repeat of the request, so a payment whose confirm (or a
refund whose cancel) met a transient error once would never get through under its key.
Recovery then continues under a new key, "<first key>.<generation>", but only when all
of these hold:

- the gateway's duplicate guard is that key (gateway.keyed_idempotency: Toss). NicePay
  and KakaoPay guard by the orderId, the one-time pg_token and cancel_available_amount;
  a new "key" there proves nothing, so their keys never change;
- every attempt under the key was answered, with the same transient 4xx
  (PgAnswer.key_replayed): no timeout, no 5xx, no "still processing" (409
  IDEMPOTENT_REQUEST_PROCESSING), so no request with the key can still be in flight;
- a lookup made after that answer proves the PG has not acted: the payment is still
  authenticated and not approved (decisions.decide_key_check), or our cancel is not
  among its cancels (refund_recovery).

Each change is written with a history row (IDEMPOTENCY_KEY_ROTATED, what was replayed and
what the lookup said), only while the worker's lease is still its own, at most once per
attempt. The first key stays in the key sent (a prefix), so a cancel under any
generation is still found by it among the PG's cancels.
"""

import structlog
from django.db import transaction
from django.utils import timezone

from payments.models import PaymentEvent, Refund, generation_key
from payments.refund_states import refund_history
from payments.services.decisions import Decision
from payments.states import record_note

log = structlog.get_logger(__name__)


def payment_key_rotate(*, event: PaymentEvent, decision: Decision, actor: str) -> bool:
    """A ROTATE_KEY decision: the payment's next confirms go under the next key (its
    status stays as it is). False if the payment moved or its key changed meanwhile."""
    generation = event.pg_key_generation + 1
    note = _note(decision.pg_message, event.pg_request_key, event, generation)
    with transaction.atomic(durable=True):
        if not _next_generation(PaymentEvent, event):
            return False
        record_note(
            event.pk, reason=decision.reason, actor=actor, pg_code=decision.pg_code, pg_message=note
        )
    event.pg_key_generation = generation
    log.warning("pg_key_rotated", generation=generation, pg_code=decision.pg_code)
    return True


def refund_key_rotate(*, refund: Refund, replayed_code: str, pg_said: str, actor: str) -> bool:
    """A refund's cancel continues under its next key (the lookup found no cancel of
    ours after the key's stored error came back). False if the refund moved meanwhile."""
    generation = refund.pg_key_generation + 1
    why = f"{replayed_code} replayed; the PG says {pg_said}, our cancel not among its cancels"
    with transaction.atomic(durable=True):
        if not _next_generation(Refund, refund):
            return False
        refund_history(
            refund.pk,
            refund.event_id,
            refund.status,
            refund.status,
            "IDEMPOTENCY_KEY_ROTATED",
            actor,
            pg_code=replayed_code,
            pg_message=_note(why, refund.pg_request_key, refund, generation),
        )
    refund.pg_key_generation = generation
    log.warning("pg_key_rotated", refund_id=refund.pk, generation=generation)
    return True


def _next_generation(model: type[PaymentEvent] | type[Refund], row) -> bool:
    """Move the row to its next key generation, only if it is as we read it and its lease
    is still ours: a worker whose lease ran out might no longer be the only one working it."""
    return bool(
        model.objects.filter(
            pk=row.pk,
            status=row.status,
            pg_key_generation=row.pg_key_generation,
            lease_owner=row.lease_owner,
            lease_until__gt=timezone.now(),
        )
        .exclude(lease_owner="")
        .update(pg_key_generation=row.pg_key_generation + 1)
    )


def _note(why: str, old: str, row: PaymentEvent | Refund, generation: int) -> str:
    return f"{why}: {old} -> {generation_key(row.pg_idempotency_key, generation)}"
