"""What an operator may do to a payment from the admin; every action asks the PG first.

Each action ends with a PaymentHistory row naming the operator: the transition it made,
or, when the payment stayed where it was, a note (from = to) with what the PG said. The
admin also writes Django's admin log. Outcomes go through payment_record_outcome like
every other path, so outbox rows and stock restores happen the same way.
"""

from dataclasses import dataclass

from gateways import errors as pg_errors
from gateways.base import get_gateway
from gateways.types import GatewayPayment
from payments.models import CompensationJob, PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.compensation import compensation_restore_for, compensation_retry
from payments.services.outcome import Outcome, payment_record_outcome
from payments.services.pg_calls import payment_ref
from payments.services.recovery import (
    RECOVERABLE,
    Action,
    pg_window_passed,
    recovery_attempt,
    recovery_claim,
    recovery_decide,
    recovery_settled_outcome,
)
from payments.states import record_note


@dataclass(frozen=True)
class ActionResult:
    ok: bool  # False: refused or nothing could be done; the message says why
    message: str


def payment_operator_recheck(*, event_id: int, operator: str) -> ActionResult:
    """Ask the PG now and record what it says, if that settles the payment."""
    event = PaymentEvent.objects.get(pk=event_id)
    if event.status in RECOVERABLE:
        # The recovery path itself, under its lease, so a worker never works it at once.
        owner = f"operator:{operator}"[:64]
        if not recovery_claim(owner=owner, limit=1, order_id=event.order_id):
            return ActionResult(False, "a recovery worker holds it right now; try again shortly")
        result = recovery_attempt(event_id=event_id, owner=owner, actor=operator)
        status = result.status if result else PaymentEvent.objects.get(pk=event_id).status
        if status in RECOVERABLE:
            record_note(event_id, reason="OPERATOR_RECHECK", actor=operator)
        return ActionResult(status not in RECOVERABLE, f"re-checked: now {status}")
    found, error = _ask(event)
    if event.status == S.NEEDS_ATTENTION and error is None:
        # The recovery decision table, applied by the operator: what it settles on is
        # recorded (with the operator as actor); a still-open answer stays a note.
        decision = recovery_decide(
            event=event, found=found, error=None, window_passed=pg_window_passed(event)
        )
        outcome = recovery_settled_outcome(event, decision, found)
        if outcome is not None and outcome.status != S.NEEDS_ATTENTION:
            return _record(event, outcome, operator)
    said = _pg_said(found, error)
    record_note(event_id, reason="OPERATOR_RECHECK", actor=operator, pg_code=said[:64])
    return ActionResult(False, f"still {event.status}: the PG says {said}")


def payment_operator_resolve_failed(*, event_id: int, operator: str) -> ActionResult:
    """Mark a NEEDS_ATTENTION payment failed, only if the PG confirms no money was taken."""
    event = PaymentEvent.objects.get(pk=event_id)
    if event.status != S.NEEDS_ATTENTION:
        return ActionResult(False, f"only NEEDS_ATTENTION can be resolved; it is {event.status}")
    found, error = _ask(event)
    refusal = _why_not_failed(event, found, error)
    said = _pg_said(found, error)
    if refusal:
        record_note(event_id, reason="OPERATOR_RESOLVE_REFUSED", actor=operator, pg_code=said)
        return ActionResult(False, f"refused: {refusal}")
    outcome = Outcome(S.FAILURE, "OPERATOR_RESOLVED_FAILED", said)
    return _record(event, outcome, operator)


def compensation_operator_retry(*, event_id: int, operator: str) -> ActionResult:
    """Run a failed payment's owed stock restore now (after the same PG re-check)."""
    job = CompensationJob.objects.filter(event_id=event_id).first()
    if job is None or job.status != CompensationJob.Status.PROCESSING:
        return ActionResult(False, "no stock restore is owed")
    result = compensation_retry(job_id=job.pk, actor=operator)
    record_note(event_id, reason=f"OPERATOR_COMPENSATION_{result.upper()}", actor=operator)
    return ActionResult(result != "waiting", f"stock restore: {result.replace('_', ' ')}")


def _ask(event: PaymentEvent) -> tuple[GatewayPayment | None, Exception | None]:
    try:
        return get_gateway(event.gateway).lookup(payment_ref(event)), None
    except pg_errors.GatewayError as exc:
        return None, exc


def _why_not_failed(event, found, error) -> str:
    if isinstance(error, pg_errors.PaymentNotFound):
        return "" if pg_window_passed(event) else "the PG has no record yet, but may still get one"
    if error is not None:
        return f"the PG could not be asked ({error.code or type(error).__name__})"
    decision = recovery_decide(
        event=event, found=found, error=None, window_passed=pg_window_passed(event)
    )
    if decision.action == Action.FAILURE:
        return ""
    if decision.action == Action.BACK_OFF:  # authenticated, never approved, window over
        return ""
    if decision.action == Action.RECONFIRM:
        return "the buyer authenticated it and its confirm window is still open"
    return f"the PG approved it ({decision.reason}); re-check it instead"


def _pg_said(found: GatewayPayment | None, error: Exception | None) -> str:
    if error is not None:
        return getattr(error, "code", "") or type(error).__name__
    return found.raw_status


def _record(event: PaymentEvent, outcome: Outcome, operator: str) -> ActionResult:
    froms = {S.NEEDS_ATTENTION}
    if not payment_record_outcome(event_id=event.pk, outcome=outcome, actor=operator, froms=froms):
        current = PaymentEvent.objects.get(pk=event.pk).status
        return ActionResult(False, f"not recorded: the payment is {current} now")
    if outcome.status == S.FAILURE:
        compensation_restore_for(event_id=event.pk)
    return ActionResult(True, f"recorded {outcome.status} ({outcome.reason})")
