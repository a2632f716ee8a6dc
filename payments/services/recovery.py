"""Recovery: every payment whose outcome is in doubt converges to the PG's truth.

Due payments (UNKNOWN whose next attempt has come, EXECUTING left stale by a confirm
that died) are claimed with a lease: a conditional UPDATE of lease_until, so two workers
never work one payment at once, and a dead worker's claim simply runs out. Each attempt
asks the PG once (by orderId) and acts on `recovery_decide`, the decision table:

    PG says                              | when                | then
    -------------------------------------+---------------------+---------------------------
    approved, orderId/key/amount match   |                     | SUCCESS
    approved for another amount          |                     | cancel at the PG, FAILURE
    record contradicts ours / part-refund|                     | NEEDS_ATTENTION
    aborted, expired, cancelled          |                     | FAILURE
    authenticated, not approved          | inside the window   | confirm again, same key
    authenticated, not approved          | past the window     | back off (the PG expires it)
    no such payment                      | past the window     | FAILURE
    no such payment                      | inside the window   | back off
    unreachable, 5xx, timeout            | attempts left       | back off (exponential, jitter)
    still unsure                         | attempts spent      | last check, then NEEDS_ATTENTION

Outcomes go through payment_record_outcome, exactly as a confirm's do.
"""

import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.db.connections import release_db_connections
from gateways import errors as pg_errors
from gateways.base import get_gateway
from gateways.types import ConfirmRequest, GatewayPayment
from payments.metrics import RECOVERY_ATTEMPTS
from payments.models import PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.compensation import compensation_restore_for
from payments.services.outcome import Outcome, approved, payment_record_outcome
from payments.services.pg_calls import (
    call_with_retries,
    outcome_of_pg,
    payment_ref,
    verify_decline,
)
from payments.services.verdict import Verdict, payment_judge

log = structlog.get_logger(__name__)

RECOVERABLE = {S.UNKNOWN, S.EXECUTING}


class Action(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCEL_AND_FAIL = "CANCEL_AND_FAIL"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    RECONFIRM = "RECONFIRM"
    BACK_OFF = "BACK_OFF"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    pg_code: str = ""
    pg_message: str = ""


def recovery_decide(
    *,
    event: PaymentEvent,
    found: GatewayPayment | None,
    error: Exception | None,
    window_passed: bool,
) -> Decision:
    """The decision table above, as a pure function of what the PG answered."""
    if error is not None:
        if isinstance(error, pg_errors.PaymentNotFound):
            if window_passed:
                return Decision(Action.FAILURE, "PG_NO_RECORD", error.code)
            return Decision(Action.BACK_OFF, "PG_NO_RECORD_YET", error.code)
        code = getattr(error, "code", "") or type(error).__name__
        return Decision(Action.BACK_OFF, "PG_UNREACHABLE", code)
    judgement = payment_judge(event=event, pg=found, payment_key=event.payment_key)
    if judgement.verdict == Verdict.PENDING:
        if window_passed:
            return Decision(Action.BACK_OFF, "PG_PENDING_PAST_WINDOW", judgement.pg_code)
        return Decision(Action.RECONFIRM, "PG_PENDING", judgement.pg_code)
    action = {
        Verdict.SUCCESS: Action.SUCCESS,
        Verdict.FAILURE: Action.FAILURE,
        Verdict.AMOUNT_MISMATCH: Action.CANCEL_AND_FAIL,
        Verdict.NEEDS_ATTENTION: Action.NEEDS_ATTENTION,
    }[judgement.verdict]
    return Decision(action, judgement.reason, judgement.pg_code, judgement.pg_message)


# --- claiming -------------------------------------------------------------------------


def _due(now: datetime) -> tuple[Q, Q]:
    stale = now - timedelta(seconds=settings.RECOVERY_STALE_EXECUTING_SECONDS)
    return Q(status=S.UNKNOWN, next_attempt_at__lte=now), Q(
        status=S.EXECUTING, updated_at__lte=stale
    )


def recovery_claim(
    *, owner: str, limit: int, now: datetime | None = None, order_id: str | None = None
) -> list[int]:
    """Lease up to `limit` due payments to `owner`; returns their ids.

    With order_id, that one payment is claimed whatever its schedule (still only if it is
    UNKNOWN or EXECUTING and nobody holds it).
    """
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if order_id is not None:
        due = [Q(order_id=order_id, status__in=RECOVERABLE)]
    else:
        due = list(_due(now))
    candidates: list[int] = []
    # One query per status, each served by its (status, time) index: the cost does not
    # grow with the finished payments in the table.
    for condition in due:
        room = limit - len(candidates)
        if room <= 0:
            break
        query = PaymentEvent.objects.filter(condition, free).order_by("next_attempt_at", "id")
        candidates += list(query.values_list("id", flat=True)[:room])
    if not candidates:
        return []
    # One UPDATE for the lot (rows locked in primary-key order, so two scans cannot
    # deadlock), then read back which are ours: the owner and this exact lease time.
    lease = now + timedelta(seconds=settings.RECOVERY_LEASE_SECONDS)
    PaymentEvent.objects.filter(pk__in=candidates, status__in=RECOVERABLE).filter(free).update(
        lease_until=lease, lease_owner=owner
    )
    ours = set(
        PaymentEvent.objects.filter(
            pk__in=candidates, lease_owner=owner, lease_until=lease
        ).values_list("id", flat=True)
    )
    return [event_id for event_id in candidates if event_id in ours]


def new_lease_owner() -> str:
    return uuid.uuid4().hex


# --- one attempt ----------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    order_id: str
    action: str
    status: str


def recovery_attempt(
    *, event_id: int, owner: str, actor: str, dry_run: bool = False
) -> AttemptResult | None:
    """Work one claimed payment: ask the PG once, act on the decision table.

    Returns None when the lease is no longer ours or the payment no longer needs recovery.
    """
    results = recovery_attempt_many(event_ids=[event_id], owner=owner, actor=actor, dry_run=dry_run)
    return results[0] if results else None


def recovery_attempt_many(
    *, event_ids: list[int], owner: str, actor: str, dry_run: bool = False
) -> list[AttemptResult]:
    """Work claimed payments: one query loads them, the PG is asked about each with no
    database connection held, then each decision is recorded.

    Payments whose lease is no longer ours, or that no longer need recovery, are skipped.
    If asking takes half the lease or of the task's time limit (a PG timing out on every
    call), the rest are released for the next scan rather than worked after another
    worker may have claimed them, or cut off by the limit.
    """
    events = list(
        PaymentEvent.objects.filter(
            pk__in=event_ids, lease_owner=owner, status__in=RECOVERABLE
        ).order_by("id")
    )
    budget = min(settings.RECOVERY_LEASE_SECONDS, settings.CELERY_TASK_SOFT_TIME_LIMIT) / 2
    deadline = time.monotonic() + budget
    asked = []
    for event in events:
        if time.monotonic() > deadline:
            _release(event, owner)
            continue
        with _about(event):
            asked.append((event, *_decide(event)))
    results = []
    for event, decision, found in asked:
        # The decision rides on the payment_outcome line its recording logs: one line per
        # payment, not two (log lines were a sixth of a recovery worker's CPU).
        with _about(event, recovery_action=decision.action, attempt=event.retry_count + 1):
            results.append(_settle(event, decision, found, owner, actor, dry_run))
    return results


def _about(event: PaymentEvent, **more):
    return structlog.contextvars.bound_contextvars(
        orderId=event.order_id, gateway=event.gateway, paymentKey=event.payment_key, **more
    )


def _decide(event: PaymentEvent) -> tuple[Decision, GatewayPayment | None]:
    decision, found = _ask_and_decide(event)
    final = event.retry_count + 1 >= len(settings.RECOVERY_BACKOFF_SECONDS)
    if decision.action == Action.BACK_OFF and final:
        # The budget is spent: ask one last time before handing it to a person.
        decision, found = _ask_and_decide(event)
        if decision.action == Action.BACK_OFF:
            decision = Decision(Action.NEEDS_ATTENTION, "RECOVERY_BUDGET_SPENT", decision.pg_code)
    return decision, found


def _settle(
    event: PaymentEvent,
    decision: Decision,
    found: GatewayPayment | None,
    owner: str,
    actor: str,
    dry_run: bool,
) -> AttemptResult:
    if dry_run:
        _release(event, owner)
        log.info("recovery_decision", reason=decision.reason, dry_run=True)
        return AttemptResult(event.order_id, decision.action, event.status)
    outcome, recorded = _apply(event, decision, found, actor)
    if not recorded:  # else payment_outcome said it, with the decision bound
        log.info("recovery_decision", reason=decision.reason, recorded=False)
    if recorded and outcome.status != S.FAILURE:
        event.status = outcome.status  # and the lease is given up with it
    else:
        # Someone else settled it first, or a FAILURE's stock restore may have found it
        # approved after all: read where it really is.
        event.refresh_from_db()
        if event.lease_owner == owner:
            _release(event, owner)
    RECOVERY_ATTEMPTS.labels(event.gateway, decision.action, event.status).inc()
    return AttemptResult(event.order_id, decision.action, event.status)


def _ask_and_decide(event: PaymentEvent) -> tuple[Decision, GatewayPayment | None]:
    gateway = get_gateway(event.gateway)
    found, error = None, None
    release_db_connections()
    try:
        found = gateway.lookup(payment_ref(event))
    except pg_errors.GatewayError as exc:
        error = exc
    return recovery_decide(
        event=event, found=found, error=error, window_passed=pg_window_passed(event)
    ), found


def pg_window_passed(event: PaymentEvent) -> bool:
    """Past the PG's windows (authentication + confirm): it can no longer approve it."""
    return timezone.now() >= event.created_at + timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS)


def _apply(
    event: PaymentEvent, decision: Decision, found: GatewayPayment | None, actor: str
) -> tuple[Outcome, bool]:
    if decision.action == Action.BACK_OFF:
        outcome = _back_off(event, decision)
    elif decision.action == Action.RECONFIRM:
        outcome = _reconfirm(event)
    else:
        outcome = recovery_settled_outcome(event, decision, found)
    if outcome.status == S.UNKNOWN and outcome.retry_count is None:
        outcome = _back_off(event, Decision(Action.BACK_OFF, outcome.reason, outcome.pg_code))
    # Only from the status the decision was made in: the conditional UPDATE alone decides
    # (no locking read), and a payment that moved meanwhile is left to whoever moved it.
    recorded = payment_record_outcome(
        event_id=event.pk, outcome=outcome, actor=actor, froms={event.status}
    )
    if outcome.status == S.FAILURE:
        compensation_restore_for(event_id=event.pk)
    return outcome, recorded


def recovery_settled_outcome(
    event: PaymentEvent, decision: Decision, found: GatewayPayment | None
) -> Outcome | None:
    """The outcome a decision settles the payment on; None for BACK_OFF and RECONFIRM."""
    if decision.action == Action.CANCEL_AND_FAIL:
        return outcome_of_pg(event, found, event.payment_key)  # cancels at the PG, then fails
    if decision.action == Action.SUCCESS:
        return approved(decision.reason, decision.pg_code, found)
    if decision.action in (Action.FAILURE, Action.NEEDS_ATTENTION):
        status = S.FAILURE if decision.action == Action.FAILURE else S.NEEDS_ATTENTION
        return Outcome(status, decision.reason, decision.pg_code, decision.pg_message)
    return None


def _reconfirm(event: PaymentEvent) -> Outcome:
    """Authenticated but never approved, inside the window: confirm again, same key."""
    request = ConfirmRequest(
        order_id=event.order_id,
        payment_key=event.payment_key,
        amount=event.total_amount,
        idempotency_key=event.pg_idempotency_key,
        auth_token=event.pg_auth_token or None,
        buyer_ref=str(event.buyer_id),
    )
    try:
        found = call_with_retries(lambda: get_gateway(event.gateway).confirm(request))
    except pg_errors.Rejected as exc:
        return verify_decline(event, event.payment_key, exc)
    except pg_errors.GatewayError as exc:
        return _back_off(event, Decision(Action.BACK_OFF, "RECONFIRM_FAILED", exc.code))
    return outcome_of_pg(event, found, event.payment_key)


def _back_off(event: PaymentEvent, decision: Decision) -> Outcome:
    schedule = settings.RECOVERY_BACKOFF_SECONDS
    attempt = event.retry_count + 1
    pause = schedule[min(attempt - 1, len(schedule) - 1)] * random.uniform(0.5, 1.0)  # noqa: S311
    return Outcome(
        S.UNKNOWN,
        decision.reason,
        decision.pg_code,
        next_attempt_at=timezone.now() + timedelta(seconds=pause),
        retry_count=attempt,
    )


def _release(event: PaymentEvent, owner: str) -> None:
    PaymentEvent.objects.filter(pk=event.pk, lease_owner=owner).update(
        lease_until=None, lease_owner=""
    )
