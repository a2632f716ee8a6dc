"""Refund recovery: every refund whose cancel may or may not have happened ends known.

Beat's scan (payments.tasks.refund_recovery_scan) leases the refunds that are due: UNKNOWN
ones whose next attempt has come, and EXECUTING or REQUESTED ones unchanged for
RECOVERY_STALE_EXECUTING_SECONDS (the process that held them died). For each:

- REQUESTED: its cancel was never sent (the claim to send comes first); send it now.
- otherwise ask the PG for the payment first, and look for our cancel among the PG's
  cancels (each carries the refund's key in its reason or payload, or we know its
  transaction key):
  - found: SUCCEEDED;
  - not found: the PG's own record proves the cancel did not happen, so it is sent
    again, as the same request (same key; KakaoPay checks the balance just read), and
    its answer recorded like the first; if Toss hands back one stored error every time
    and a second look still finds no cancel of ours, under the key's next generation
    (key_rotation.py);
  - the PG cannot be asked: try later, by the recovery schedule; once the schedule is
    spent, NEEDS_ATTENTION, for an operator.
"""

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from payments.models import Refund
from payments.models import RefundStatus as R
from payments.refund_states import refund_transition
from payments.services.key_rotation import refund_key_rotate
from payments.services.pg import PgAnswer, PgRecord, pg_cancel, pg_lookup
from payments.services.pg_health import breaker_scopes, recovery_attempt_number
from payments.services.refund import (
    CHECKS_BALANCE,
    refund_account_of,
    refund_asks_buyer,
    refund_execute,
)
from payments.services.refund_decisions import RefundOutcome, decide_refund_answer
from payments.services.refund_settle import refund_record_outcome
from payments.services.settle import next_attempt_fields

log = structlog.get_logger(__name__)

IN_DOUBT = frozenset({R.REQUESTED, R.EXECUTING, R.UNKNOWN})


def refund_recovery_claim(*, owner: str, limit: int, now: datetime | None = None) -> list[int]:
    """Lease up to `limit` due refunds to `owner`; returns their ids."""
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    stale = now - timedelta(seconds=settings.RECOVERY_STALE_EXECUTING_SECONDS)
    due = [
        Q(status=R.UNKNOWN, next_attempt_at__lte=now),
        Q(status=R.EXECUTING, updated_at__lte=stale),
        Q(status=R.REQUESTED, updated_at__lte=stale),
    ]
    candidates: list[int] = []
    for scope, cap in breaker_scopes("event__gateway", limit):  # probes of a DOWN gateway
        taken = 0
        for condition in due:  # one indexed query per status
            room = min(cap - taken, limit - len(candidates))
            if room > 0:
                rows = Refund.objects.filter(condition, scope, free).order_by("id")
                found = list(rows.values_list("id", flat=True)[:room])
                candidates += found
                taken += len(found)
    if not candidates:
        return []
    lease = now + timedelta(seconds=settings.RECOVERY_LEASE_SECONDS)
    Refund.objects.filter(free, pk__in=candidates, status__in=IN_DOUBT).update(
        lease_until=lease, lease_owner=owner
    )
    return list(
        Refund.objects.filter(pk__in=candidates, lease_owner=owner, lease_until=lease)
        .order_by("id")
        .values_list("id", flat=True)
    )


def refund_recover_many(*, refund_ids: list[int], owner: str, actor: str = "worker") -> None:
    for refund_id in refund_ids:
        try:
            refund_recover(refund_id=refund_id, owner=owner, actor=actor)
        except Exception:
            # Recording failed (a deadlock, a bug): the rest of the batch still goes, and
            # this one counts the attempt, so it reaches NEEDS_ATTENTION rather than loop.
            log.exception("refund_recovery_failed", refund_id=refund_id)
            _count_failed_attempt(refund_id, owner)


def _count_failed_attempt(refund_id: int, owner: str) -> None:
    refund = Refund.objects.get(pk=refund_id)
    attempt = refund.retry_count + 1
    Refund.objects.filter(pk=refund_id, lease_owner=owner).update(
        lease_until=None, lease_owner="", **next_attempt_fields(attempt)
    )
    if attempt >= len(settings.RECOVERY_BACKOFF_SECONDS):
        refund_transition(
            refund_id,
            to=R.NEEDS_ATTENTION,
            froms={R.EXECUTING, R.UNKNOWN},
            reason="RECORDING_FAILED",
            actor="worker",
        )


def refund_recover(*, refund_id: int, owner: str, actor: str = "worker") -> str:
    """One recovery attempt on a refund this owner leased; the refund's status after it."""
    refund = Refund.objects.select_related("event").get(pk=refund_id)
    if refund.lease_owner != owner or refund.status not in IN_DOUBT:
        return refund.status
    if refund.status == R.REQUESTED and refund.actor != "pg":  # a PG's own cancel: never sent
        _release(refund, owner)
        return refund_execute(refund_id=refund_id, actor=actor).status
    outcome = _look_then_settle(refund, actor)
    attempt = recovery_attempt_number(refund.event.gateway, refund.retry_count, outcome.reason)
    spent = attempt is not None and attempt >= len(settings.RECOVERY_BACKOFF_SECONDS)
    if outcome.status == R.UNKNOWN and spent:
        outcome = RefundOutcome(
            R.NEEDS_ATTENTION, "RECOVERY_BUDGET_SPENT", outcome.pg_code, outcome.pg_message
        )
    if not refund_record_outcome(
        refund_id=refund_id,
        outcome=outcome,
        actor=actor,
        froms={R.EXECUTING, R.UNKNOWN},
        attempt=attempt,
    ):
        _release(refund, owner)
    log.info("refund_recovery", refund_id=refund_id, status=outcome.status, reason=outcome.reason)
    return Refund.objects.values_list("status", flat=True).get(pk=refund_id)


def _look_then_settle(refund: Refund, actor: str = "worker") -> RefundOutcome:
    looked = pg_lookup(refund.event)
    if not isinstance(looked.record, PgRecord):
        return RefundOutcome(R.UNKNOWN, "PG_NO_ANSWER", looked.code, looked.message)
    found = refund_find_cancel(refund, looked.record)
    if found is not None:
        return RefundOutcome(R.SUCCEEDED, "PG_CANCEL_FOUND", transaction_key=found)
    # Not in the PG's record: it did not happen. The same request again.
    answer = _send_again(refund, looked.record)
    if answer.key_replayed:
        # The key's stored error came back on every attempt, so none is in flight: if a
        # fresh look still finds no cancel of ours, the PG did nothing under that key,
        # and the cancel goes on under the next one (key_rotation.py), once.
        again = pg_lookup(refund.event)
        if isinstance(again.record, PgRecord):
            found = refund_find_cancel(refund, again.record)
            if found is not None:
                return RefundOutcome(R.SUCCEEDED, "PG_CANCEL_FOUND", transaction_key=found)
            if refund_key_rotate(
                refund=refund, replayed_code=answer.code, pg_said=again.said, actor=actor
            ):
                answer = _send_again(refund, again.record)
    outcome = decide_refund_answer(answer)
    if outcome.status == R.FAILED and refund_asks_buyer(refund):
        # A virtual account's system refund refused after a look found no cancel of ours:
        # the account may be what was refused, so the buyer is asked again. Giving one
        # looks at the PG first and sends under a new key (refund_account.py), so a first
        # cancel our look missed is found then, or refused by the PG's balance.
        return RefundOutcome(
            R.AWAITING_ACCOUNT, "SYSTEM_REFUND_REFUSED", outcome.pg_code, outcome.pg_message
        )
    if outcome.status == R.FAILED:
        # A refusal of a cancel sent again is no proof that nothing happened (NicePay
        # refuses an orderId used before, KakaoPay a balance that moved, and our look may
        # have missed the first): it stays in doubt, and a person decides in the end.
        return RefundOutcome(R.UNKNOWN, "PG_REFUSED_RESEND", outcome.pg_code, outcome.pg_message)
    return outcome


def _send_again(refund: Refund, record: PgRecord) -> PgAnswer:
    """The refund's cancel, as sent before (KakaoPay: against the balance just read)."""
    expected = record.balance_amount if refund.event.gateway in CHECKS_BALANCE else None
    return pg_cancel(
        refund.event,
        payment_key=refund.event.payment_key,
        amount=refund.pg_amount,
        reason=refund.reason,
        idempotency_key=refund.pg_request_key,
        expected_balance=expected,
        refund_account=refund_account_of(refund),
    )


def refund_find_cancel(refund: Refund, record: PgRecord) -> str | None:
    """The transaction key of our cancel in the PG's record, or None if it is not there."""
    for cancel in record.cancels:
        if refund.pg_transaction_key and cancel.transaction_key == refund.pg_transaction_key:
            return cancel.transaction_key
        if refund.pg_idempotency_key in cancel.note and cancel.amount == refund.pg_amount:
            return cancel.transaction_key or "found"
    return None


def _release(refund: Refund, owner: str) -> None:
    Refund.objects.filter(pk=refund.pk, lease_owner=owner).update(lease_until=None, lease_owner="")


def refund_operator_recheck(*, refund_id: int, operator: str) -> str:
    """An operator's re-check of a refund that needs attention: recovery's look at the PG,
    once more. Our cancel found (a partial cancel made at the PG included: it is then a
    refund of money only, shared among the lines): SUCCEEDED. Not there: sent again, as
    recovery would, and its answer recorded; still no answer: it stays where it is."""
    owner = f"operator:{operator}"[:64]
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    lease = now + timedelta(seconds=settings.RECOVERY_LEASE_SECONDS)
    if not Refund.objects.filter(free, pk=refund_id, status=R.NEEDS_ATTENTION).update(
        lease_until=lease, lease_owner=owner
    ):
        return "not re-checked: it does not need attention, or recovery holds it"
    refund = Refund.objects.select_related("event").get(pk=refund_id)
    if refund.actor == "pg":
        found = _found_at_pg(refund)
        outcome = (
            RefundOutcome(R.SUCCEEDED, "OPERATOR_RECHECK", transaction_key=found)
            if found
            else RefundOutcome(R.NEEDS_ATTENTION, "OPERATOR_RECHECK")
        )
    else:
        outcome = _look_then_settle(refund, operator)
        if outcome.status == R.FAILED and refund.actor == "system":
            # A false failure's money must go back: a refusal stays with the operator.
            outcome = RefundOutcome(R.NEEDS_ATTENTION, "SYSTEM_REFUND_REFUSED", outcome.pg_code)
    recorded = outcome.status != R.NEEDS_ATTENTION and refund_record_outcome(
        refund_id=refund_id, outcome=outcome, actor=operator, froms={R.NEEDS_ATTENTION}
    )
    _release(refund, owner)
    if not recorded:
        return f"still needs attention: {outcome.reason} {outcome.pg_code}".strip()
    return f"recorded {outcome.status} ({outcome.reason})"


def _found_at_pg(refund: Refund) -> str | None:
    looked = pg_lookup(refund.event)
    if not isinstance(looked.record, PgRecord):
        return None
    return refund_find_cancel(refund, looked.record)
