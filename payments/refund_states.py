"""THE state machine of Refund.status (payments/models/refund.py has the picture).

Like a payment's (payments.states): a conditional UPDATE from the statuses the caller
read, plus its RefundHistory row, in one transaction; None when the refund was not in
one of them (someone else moved it: re-read and answer from there).
"""

from django.db import transaction
from django.utils import timezone

from payments.models import Refund, RefundHistory, history_row
from payments.models import RefundStatus as R

ALLOWED: dict[str, frozenset[str]] = {
    # Given the buyer's bank account it waited for (services.refund_account): sent again.
    R.REQUESTED: frozenset({R.AWAITING_ACCOUNT}),
    # A virtual account's system refund the PG refused (at once, after recovery's look,
    # or at an operator's re-check): the buyer's bank account is asked for again. (One
    # with no account yet is created in this status: refund_request_false_failure.)
    R.AWAITING_ACCOUNT: frozenset({R.EXECUTING, R.UNKNOWN, R.NEEDS_ATTENTION}),
    R.EXECUTING: frozenset({R.REQUESTED}),
    R.SUCCEEDED: frozenset(
        {R.REQUESTED, R.EXECUTING, R.UNKNOWN, R.NEEDS_ATTENTION, R.AWAITING_ACCOUNT}
    ),
    R.FAILED: frozenset({R.REQUESTED, R.EXECUTING, R.UNKNOWN, R.NEEDS_ATTENTION}),
    R.UNKNOWN: frozenset({R.EXECUTING, R.UNKNOWN}),
    R.NEEDS_ATTENTION: frozenset({R.EXECUTING, R.UNKNOWN}),
}
FINAL = frozenset({R.SUCCEEDED, R.FAILED})


def refund_transition(
    refund_id: int,
    *,
    to: str,
    reason: str,
    actor: str,
    froms: frozenset[str] | set[str],
    pg_code: str = "",
    pg_message: str = "",
    **fields,
) -> str | None:
    """Move the refund to `to` from one of `froms`; the status it left, or None."""
    allowed = frozenset(froms) & ALLOWED[to]
    with transaction.atomic(savepoint=False):
        row = (
            Refund.objects.select_for_update()
            .filter(pk=refund_id)
            .values_list("status", "event_id")
            .first()
        )
        if row is None or row[0] not in allowed:
            return None
        current, event_id = row
        now = timezone.now()
        if to in FINAL:
            fields.setdefault("completed_at", now)
        Refund.objects.filter(pk=refund_id).update(status=to, updated_at=now, **fields)
        refund_history(
            refund_id, event_id, current, to, reason, actor, pg_code=pg_code, pg_message=pg_message
        )
        return current


def refund_history(
    refund_id: int,
    event_id: int,
    from_status: str,
    to_status: str,
    reason: str,
    actor: str,
    *,
    pg_code: str = "",
    pg_message: str = "",
) -> None:
    RefundHistory.objects.create(
        refund_id=refund_id,
        event_id=event_id,
        **history_row(from_status, to_status, reason, actor, pg_code, pg_message),
    )
