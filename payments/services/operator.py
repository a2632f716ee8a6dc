"""What an operator may do to a payment from the admin; every action asks the PG first
(a refund is the PG call itself).

Each action ends with a PaymentHistory row naming the operator: the transition it made,
or, when the payment stayed where it was, a note (from = to) with what the PG said. The
admin also writes Django's admin log. Outcomes are recorded by
settle.payment_record_outcome like every other path's, so outbox rows and stock restores
happen the same way.
"""

from dataclasses import dataclass

from config.errors import DomainError
from payments.models import CompensationJob, PaymentEvent, RefundStatus
from payments.models import PaymentStatus as S
from payments.services.compensation import compensation_retry
from payments.services.decisions import (
    RECOVERABLE,
    Action,
    Decision,
    decide_operator_recheck,
    decide_operator_resolve,
)
from payments.services.pg import PgRecord, pg_lookup
from payments.services.recovery import pg_window_passed, recovery_attempt, recovery_claim
from payments.services.refund import refund_execute
from payments.services.refund_account import refund_give_account, refund_waiting_for_account
from payments.services.refund_elsewhere import payment_sync_with_pg
from payments.services.refund_request import refund_request
from payments.services.settle import decision_carry_out, payment_record_outcome
from payments.states import record_note


@dataclass(frozen=True)
class ActionResult:
    ok: bool  # False: refused or nothing could be done; the message says why
    message: str


def payment_operator_recheck(
    *, event_id: int, operator: str, note: str = "OPERATOR_RECHECK"
) -> ActionResult:
    """Ask the PG now and record what it says, if that settles the payment; `note` is the
    reason of the history row that says who looked (reconciliation's runs use their own)."""
    event = PaymentEvent.objects.get(pk=event_id)
    if event.status in RECOVERABLE:
        # The recovery path itself, under its lease, so a worker never works it at once.
        owner = f"operator:{operator}"[:64]
        if not recovery_claim(owner=owner, limit=1, order_id=event.order_id):
            return ActionResult(False, "a recovery worker holds it right now; try again shortly")
        result = recovery_attempt(event_id=event_id, owner=owner, actor=operator)
        status = result.status if result else PaymentEvent.objects.get(pk=event_id).status
        if status in RECOVERABLE:
            record_note(event_id, reason=note, actor=operator)
        return ActionResult(status not in RECOVERABLE, f"re-checked: now {status}")
    answer = pg_lookup(event)
    if event.status == S.NEEDS_ATTENTION:
        decision = decide_operator_recheck(event, answer, window_passed=pg_window_passed(event))
        decision = decision_carry_out(event=event, decision=decision)
        if decision.action in (Action.SUCCESS, Action.FAILURE, Action.AWAIT_DEPOSIT):
            return _record(event, decision, operator)
    elif event.status in (
        S.SUCCESS,
        S.PARTIAL_CANCELED,
        S.FAILURE,
        S.AWAITING_DEPOSIT,
    ) and isinstance(answer.record, PgRecord):
        # A finished payment against the PG's record: cancels made in its dashboard,
        # a failure it approved, a deposit (the same comparison a webhook makes).
        said = payment_sync_with_pg(event=event, record=answer.record, actor=operator)
        event.refresh_from_db()
        record_note(event_id, reason=note, actor=operator, pg_code=answer.said[:64])
        return ActionResult(True, f"compared with the PG: {said}; now {event.status}")
    record_note(event_id, reason=note, actor=operator, pg_code=answer.said[:64])
    return ActionResult(False, f"still {event.status}: the PG says {answer.said}")


def payment_operator_resolve_failed(*, event_id: int, operator: str) -> ActionResult:
    """Mark a NEEDS_ATTENTION payment failed, only if the PG confirms no money was taken."""
    event = PaymentEvent.objects.get(pk=event_id)
    if event.status != S.NEEDS_ATTENTION:
        return ActionResult(False, f"only NEEDS_ATTENTION can be resolved; it is {event.status}")
    answer = pg_lookup(event)
    decision = decide_operator_resolve(event, answer, window_passed=pg_window_passed(event))
    if decision.action == Action.LEAVE:
        record_note(event_id, reason=decision.reason, actor=operator, pg_code=decision.pg_code)
        return ActionResult(False, f"refused: {decision.note}")
    return _record(event, decision, operator)


def compensation_operator_retry(*, event_id: int, operator: str) -> ActionResult:
    """Run a failed payment's owed stock restore now (after the same PG re-check)."""
    job = CompensationJob.objects.filter(event_id=event_id).first()
    if job is None or job.status != CompensationJob.Status.PROCESSING:
        return ActionResult(False, "no stock restore is owed")
    result = compensation_retry(job_id=job.pk, actor=operator)
    record_note(event_id, reason=f"OPERATOR_COMPENSATION_{result.upper()}", actor=operator)
    return ActionResult(result != "waiting", f"stock restore: {result.replace('_', ' ')}")


def _record(event: PaymentEvent, decision: Decision, operator: str) -> ActionResult:
    if not payment_record_outcome(
        event=event, decision=decision, actor=operator, froms={S.NEEDS_ATTENTION}
    ):
        return ActionResult(False, f"not recorded: the payment is {event.status} now")
    return ActionResult(True, f"recorded {decision.action} ({decision.reason})")


def payment_operator_refund(
    *,
    event_id: int,
    operator: str,
    reason: str,
    items: list[tuple[int, int]] | None = None,
    amount: int | None = None,
    refund_account: dict | None = None,
) -> ActionResult:
    """Refund a paid payment from the admin: the units in `items` (restocked), `amount`
    (money only), or everything left; the same refund a buyer's cancel makes, with the
    operator as its actor in the refund's history. A paid virtual account's needs the
    buyer's `refund_account` ({bank, accountNumber, holderName}), as the API's does."""
    event = PaymentEvent.objects.get(pk=event_id)
    waiting = refund_waiting_for_account(event)
    try:
        if waiting is not None:  # a late deposit's refund: the account is all it needs
            refund = refund_give_account(
                refund_id=waiting.pk, refund_account=refund_account, actor=operator
            )
            return _refund_result(refund)
        refund = refund_request(
            event=event,
            actor=operator,
            reason=reason,
            items=items,
            amount=amount,
            refund_account=refund_account,
        )
    except DomainError as exc:
        return ActionResult(False, f"not refunded ({exc.code}): {exc.message}")
    return _refund_result(refund_execute(refund_id=refund.pk, actor=operator))


def _refund_result(refund) -> ActionResult:
    said = f" ({refund.failure_code}: {refund.failure_message})" if refund.failure_code else ""
    if refund.status == RefundStatus.AWAITING_ACCOUNT:  # refused: why is in its history
        last = refund.history.order_by("-id").first()
        said = f" ({last.reason} {last.pg_code}: {last.pg_message})"
    message = f"refund {refund.pk} of {refund.amount} won: {refund.status}{said}"
    return ActionResult(refund.status == RefundStatus.SUCCEEDED, message)
