"""Recovery: every payment whose outcome is in doubt converges to the PG's truth.

Due payments (UNKNOWN whose next attempt has come, EXECUTING left stale by a confirm
that died) are claimed with a lease: a conditional UPDATE of lease_until, so two workers
never work one payment at once, and a dead worker's claim simply runs out. Each attempt
asks the PG once (a lookup through the PG port), decides with
decisions.decide_in_recovery, carries the decision out (a re-confirm with the same key,
the cancel of a wrong amount) and records it, exactly as a confirm's outcome is
recorded. When the attempts are spent (RECOVERY_BACKOFF_SECONDS), the PG is asked once
more before the payment goes to NEEDS_ATTENTION. A re-confirm that keeps getting one
stored error back may continue under a new key (key_rotation.py); a gateway that is DOWN
gets only a few probes per scan, and their unanswered attempts do not count (pg_health.py).
"""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from payments.metrics import RECOVERY_ATTEMPTS
from payments.models import PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.decisions import (
    RECOVERABLE,
    Action,
    Decision,
    decide_budget_spent,
    decide_in_recovery,
    decide_webhook_recheck,
)
from payments.services.pg import pg_lookup
from payments.services.pg_health import (
    breaker_scopes,
    health_down,
    health_flush,
    recovery_attempt_number,
)
from payments.services.settle import (
    payment_record_outcome,
    payment_release_lease,
)

log = structlog.get_logger(__name__)


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
        due, scopes = [Q(order_id=order_id, status__in=RECOVERABLE)], [(Q(), limit)]
    else:
        due, scopes = list(_due(now)), breaker_scopes("gateway", limit)
    candidates: list[int] = []
    # One query per status, each served by its (status, time) index: the cost does not
    # grow with the finished payments in the table.
    for scope, cap in scopes:
        taken = 0
        for condition in due:
            room = min(cap - taken, limit - len(candidates))
            if room <= 0:
                break
            query = PaymentEvent.objects.filter(condition, scope, free)
            found = list(
                query.order_by("next_attempt_at", "id").values_list("id", flat=True)[:room]
            )
            candidates += found
            taken += len(found)
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
    database connection held, then each decision is carried out and recorded.

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
            payment_release_lease(event_id=event.pk, owner=owner)
            continue
        with _about(event):
            asked.append((event, recovery_ask_and_decide(event)))
    results = []
    for event, decision in asked:
        # The decision rides on the payment_outcome line its recording logs: one line per
        # payment, not two (log lines were a sixth of a recovery worker's CPU).
        with _about(event, recovery_action=decision.action, attempt=event.retry_count + 1):
            results.append(_settle(event, decision, owner, actor, dry_run))
    health_flush()
    return results


def recovery_recheck(*, event_id: int, owner: str, actor: str) -> AttemptResult | None:
    """A look out of schedule (a webhook prompted it) at a payment leased to `owner`.

    The PG is asked once; what it settles is recorded, anything else releases the lease
    and leaves the schedule and the attempts as they were (decide_webhook_recheck).
    """
    event = PaymentEvent.objects.filter(
        pk=event_id, lease_owner=owner, status__in=RECOVERABLE
    ).first()
    if event is None:
        return None
    with _about(event):
        answer = pg_lookup(event)
        decision = decide_webhook_recheck(event, answer, window_passed=pg_window_passed(event))
        if decision.action == Action.LEAVE:
            payment_release_lease(event_id=event.pk, owner=owner)
            log.info("recovery_recheck_left", reason=decision.note, pg_code=answer.code)
            return AttemptResult(event.order_id, decision.action, event.status)
        payment_record_outcome(
            event=event, decision=decision, actor=actor, froms={event.status}, lease_owner=owner
        )
    return AttemptResult(event.order_id, decision.action, event.status)


def recovery_ask_and_decide(event: PaymentEvent) -> Decision:
    """Ask the PG and decide; on the last attempt an undecided answer is asked again."""
    decision = decide_in_recovery(event, pg_lookup(event), window_passed=pg_window_passed(event))
    final = event.retry_count + 1 >= len(settings.RECOVERY_BACKOFF_SECONDS)
    if final and health_down(event.gateway):
        return decision  # the PG's outage, not this payment's trouble: no budget is spent
    if decision.action == Action.BACK_OFF and final:
        again = decide_in_recovery(event, pg_lookup(event), window_passed=pg_window_passed(event))
        decision = decide_budget_spent(again)
    return decision


def pg_window_passed(event: PaymentEvent) -> bool:
    """Past the PG's windows (authentication + confirm): it can no longer approve it."""
    return timezone.now() >= event.created_at + timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS)


def _about(event: PaymentEvent, **more):
    return structlog.contextvars.bound_contextvars(
        orderId=event.order_id, gateway=event.gateway, paymentKey=event.payment_key, **more
    )


def _settle(
    event: PaymentEvent, decision: Decision, owner: str, actor: str, dry_run: bool
) -> AttemptResult:
    if dry_run:
        payment_release_lease(event_id=event.pk, owner=owner)
        log.info("recovery_decision", reason=decision.reason, dry_run=True)
        return AttemptResult(event.order_id, decision.action, event.status)
    # Only from the status the decision was made in: the conditional UPDATE alone decides
    # (no locking read), and a payment that moved meanwhile is left to whoever moved it.
    recorded = payment_record_outcome(
        event=event,
        decision=decision,
        actor=actor,
        froms={event.status},
        attempt=recovery_attempt_number(event.gateway, event.retry_count, decision.reason),
        lease_owner=owner,
    )
    if not recorded:  # else payment_outcome said it, with the decision bound
        log.info("recovery_decision", reason=decision.reason, recorded=False)
    RECOVERY_ATTEMPTS.labels(event.gateway, decision.action, event.status).inc()
    return AttemptResult(event.order_id, decision.action, event.status)
