"""THE state machine of PaymentEvent.status (docs/design.md, "The state machine").

    NOT_STARTED --claim--> EXECUTING --PG DONE, all values match--> SUCCESS
    NOT_STARTED --points pay the whole order (checkout)--> SUCCESS
    NOT_STARTED --tampered values / abandoned past the window--> FAILURE
    EXECUTING --definite decline--> FAILURE
    EXECUTING --timeout / 5xx after retries--> UNKNOWN     (a crash leaves it EXECUTING)
    UNKNOWN, stale EXECUTING --recovery asks the PG--> SUCCESS | FAILURE | UNKNOWN (back off)
    UNKNOWN --retry budget spent, final check still unsure--> NEEDS_ATTENTION
    NEEDS_ATTENTION --operator re-check or resolve--> SUCCESS | FAILURE
    FAILURE --the restore's re-check finds the PG approved it--> SUCCESS (stock still held)
    SUCCESS --refund--> PARTIAL_CANCELED | CANCELED
    EXECUTING, UNKNOWN --the PG issued a virtual account--> AWAITING_DEPOSIT
    AWAITING_DEPOSIT --the buyer paid in--> SUCCESS
    AWAITING_DEPOSIT --due date passed, or cancelled before paying--> FAILURE
    SUCCESS --the bank took the deposit back (rare)--> AWAITING_DEPOSIT

A transition is a conditional UPDATE (WHERE id = ? AND status = <the status just read>)
plus its PaymentHistory row, in one transaction. It returns False when the payment was
not in an allowed state: someone else moved it, and the caller re-reads and answers
from the current state. Correct with many web processes and workers at once.
"""

from django.db import transaction
from django.utils import timezone

from payments.models import PaymentEvent, PaymentHistory, history_row
from payments.models import PaymentStatus as S

ALLOWED: dict[str, frozenset[str]] = {
    S.EXECUTING: frozenset({S.NOT_STARTED}),
    S.UNKNOWN: frozenset({S.EXECUTING, S.UNKNOWN}),
    # FAILURE -> SUCCESS: a false failure (the PG had approved it), found by the stock
    # restore's re-check while the restore is still owed (settle.py checks that).
    # NOT_STARTED -> SUCCESS: an order paid in full with points (no PG call).
    S.SUCCESS: frozenset(
        {S.NOT_STARTED, S.EXECUTING, S.UNKNOWN, S.NEEDS_ATTENTION, S.FAILURE, S.AWAITING_DEPOSIT}
    ),
    S.FAILURE: frozenset(
        {S.NOT_STARTED, S.EXECUTING, S.UNKNOWN, S.NEEDS_ATTENTION, S.AWAITING_DEPOSIT}
    ),
    # Issued (from a confirm, recovery or an operator's re-check), or a deposit reversed.
    S.AWAITING_DEPOSIT: frozenset({S.EXECUTING, S.UNKNOWN, S.NEEDS_ATTENTION, S.SUCCESS}),
    # AWAITING_DEPOSIT -> NEEDS_ATTENTION: the PG's record of a waiting account contradicts
    # ours (another key, a partial cancel made at the PG, a reversed deposit expired).
    S.NEEDS_ATTENTION: frozenset({S.EXECUTING, S.UNKNOWN, S.AWAITING_DEPOSIT}),
    S.PARTIAL_CANCELED: frozenset({S.SUCCESS, S.PARTIAL_CANCELED}),
    S.CANCELED: frozenset({S.SUCCESS, S.PARTIAL_CANCELED}),
}
TERMINAL = frozenset({S.SUCCESS, S.FAILURE, S.CANCELED, S.PARTIAL_CANCELED})


def transition(
    event_id: int,
    *,
    to: str,
    reason: str,
    actor: str,
    froms: frozenset[str] | set[str] | None = None,
    pg_code: str = "",
    pg_message: str = "",
    **fields,
) -> str | None:
    """Move the event to `to` if it is in one of `froms` (default: every allowed one).

    Returns the status it moved from, or None if it was not in an allowed state.
    `fields` are written in the same UPDATE (paymentKey, approvedAt, failure, ...).
    """
    allowed = ALLOWED[to] if froms is None else frozenset(froms) & ALLOWED[to]
    # No savepoint: callers run this inside their own transaction and let any error end
    # it, so a savepoint would only add two round trips per transition.
    with transaction.atomic(savepoint=False):
        if len(allowed) == 1:
            # One possible status: the conditional UPDATE alone decides, and tells which.
            (current,) = allowed
        else:
            # Locks the one payment row for the rest of this short transaction, so the
            # history row records the status that was really replaced.
            current = (
                PaymentEvent.objects.select_for_update()
                .filter(pk=event_id)
                .values_list("status", flat=True)
                .first()
            )
            if current not in allowed:
                return None
        moved = PaymentEvent.objects.filter(pk=event_id, status=current).update(
            status=to, updated_at=timezone.now(), **fields
        )
        if not moved:
            return None
        _history(event_id, current, to, reason, actor, pg_code, pg_message)
        return current


def record_creation(event: PaymentEvent, *, actor: str) -> None:
    """The first history row, written by checkout with the event itself."""
    PaymentHistory.objects.create(
        event=event, from_status="", to_status=event.status, reason="CHECKOUT", actor=actor
    )


def record_note(event_id: int, *, reason: str, actor: str, pg_code: str = "", pg_message: str = ""):
    """A history row that changes nothing (from = to): an operator's action that found the
    payment where it was, so the timeline still shows who looked and what the PG said."""
    with transaction.atomic(savepoint=False):
        current = (
            PaymentEvent.objects.select_for_update()
            .filter(pk=event_id)
            .values_list("status", flat=True)
            .get()
        )
        _history(event_id, current, current, reason, actor, pg_code, pg_message)


def _history(event_id, from_status, to_status, reason, actor, pg_code, pg_message) -> None:
    PaymentHistory.objects.create(
        event_id=event_id,
        **history_row(from_status, to_status, reason, actor, pg_code, pg_message),
    )
