"""Each PG's health, from the calls we make anyway, and what recovery does with it.

Every PG call through the port (payments.services.pg) is noted here as answered (a
record, a decline, "no such payment", "already done", any other 4xx) or failed
(unreachable, timed out, 5xx). Each process adds its counts to the gateway's GatewayHealth row:
failures at once, answers at most once a second (GATEWAY_HEALTH_FLUSH_SECONDS).

    UP --recovery's scan: at least GATEWAY_DOWN_MIN_FAILURES failed calls since its last
         look, and more failed than answered--> DOWN
    DOWN --any call answered (a probe's lookup, a shopper's confirm), or the scan seeing
           more answered than failed since its last look--> UP

While a gateway is DOWN (a circuit breaker):
- recovery leases at most GATEWAY_PROBES_PER_SCAN of its due payments (and refunds) per
  scan, as probes; the rest wait, their attempts untouched;
- a probe that gets no answer does not count as an attempt: the budget
  (RECOVERY_BACKOFF_SECONDS) is for a payment's own trouble, not for the PG's outage, so
  no outage pushes a payment into NEEDS_ATTENTION by itself.
The first answer after DOWN turns it UP and brings forward every in-doubt payment and
refund of that gateway waiting out a backoff (next_attempt_at = now), and queues a scan
at once. The scans then lease them RECOVERY_BATCH_SIZE at a time, each scan's batch shared
among the workers: the PG that just came back sees at most that many per scan, never the
whole backlog at once. Until the first scan after an outage began has judged it, the
attempts made meanwhile still count (one interval's worth, at most one or two).
"""

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from payments.models import GatewayHealth, PaymentEvent, Refund
from payments.models import GatewayState as G
from payments.models import PaymentStatus as S
from payments.models import RefundStatus as R
from payments.services.queue import PAYMENT_RECOVERY_SCAN, REFUND_RECOVERY_SCAN, enqueue

log = structlog.get_logger(__name__)

# The reasons an attempt is numbered by that mean the PG gave no usable answer: a
# payment's first look (decide_in_recovery), a refund's outcome (refund_recovery).
NO_ANSWER_REASONS = frozenset({"PG_UNREACHABLE", "PG_NO_ANSWER", "PG_LOOKUP_FAILED"})


@dataclass
class _Unsent:
    """A gateway's calls this process has not yet added to its row."""

    answered: int = 0
    failed: int = 0
    since: float = field(default_factory=time.monotonic)  # the last flush


@dataclass
class _Known:
    """The states this process last read (the dict is replaced whole, never changed)."""

    states: dict[str, str] = field(default_factory=dict)
    read_at: float = float("-inf")


# Shared by the process's threads (gunicorn's, Celery's): the lock guards the counts.
_lock = threading.Lock()
_unsent: dict[str, _Unsent] = {}
_known = _Known()


def health_note(gateway: str, *, answered: bool) -> None:
    """One PG call's outcome. Never raises: health is advice, the call's answer is not."""
    try:
        with _lock:
            counts = _unsent.setdefault(gateway, _Unsent())
            if answered:
                counts.answered += 1
            else:
                counts.failed += 1
            due = time.monotonic() - counts.since >= settings.GATEWAY_HEALTH_FLUSH_SECONDS
        if not answered or due:
            _flush(gateway, counts)
        if answered and health_down(gateway):
            health_recovered(gateway)
    except Exception as exc:  # a database hiccup must not turn an answer into an error
        log.warning("gateway_health_note_failed", error=type(exc).__name__)


def _flush(gateway: str, counts: _Unsent) -> None:
    with _lock:
        answered, failed = counts.answered, counts.failed
        counts.answered, counts.failed, counts.since = 0, 0, time.monotonic()
    if not (answered or failed):
        return
    rows = GatewayHealth.objects.filter(gateway=gateway)
    if not rows.update(ok_calls=F("ok_calls") + answered, failed_calls=F("failed_calls") + failed):
        GatewayHealth.objects.get_or_create(gateway=gateway)
        rows.update(ok_calls=F("ok_calls") + answered, failed_calls=F("failed_calls") + failed)


def health_flush() -> None:
    """Add this process's counts now (recovery does, after each batch)."""
    for gateway, counts in list(_unsent.items()):
        _flush(gateway, counts)


def health_down(gateway: str) -> bool:
    """Whether the gateway is DOWN, as read at most once a second by this process."""
    return gateway in health_down_gateways()


def health_down_gateways() -> set[str]:
    if time.monotonic() - _known.read_at >= 1.0:
        _known.states = dict(GatewayHealth.objects.values_list("gateway", "state"))
        _known.read_at = time.monotonic()
    return {gateway for gateway, state in _known.states.items() if state == G.DOWN}


def _read_again() -> None:
    _known.read_at = float("-inf")


def health_forget() -> None:
    """Drop what this process read and counted (a test's fresh start)."""
    _unsent.clear()
    _known.states = {}
    _read_again()


def health_evaluate(now: datetime | None = None) -> set[str]:
    """Recovery's scan: turn gateways whose calls mostly failed since the last look DOWN,
    and DOWN ones whose calls mostly answered UP (health_recovered); the gateways DOWN now."""
    now = now or timezone.now()
    health_flush()
    down, back = set(), []
    with transaction.atomic():
        for row in GatewayHealth.objects.select_for_update().order_by("gateway"):
            answered, failed = row.ok_calls - row.seen_ok, row.failed_calls - row.seen_failed
            row.seen_ok, row.seen_failed = row.ok_calls, row.failed_calls
            fields = ["seen_ok", "seen_failed"]
            if (
                row.state == G.UP
                and failed >= settings.GATEWAY_DOWN_MIN_FAILURES
                and failed > answered
            ):
                row.state, row.changed_at = G.DOWN, now
                fields += ["state", "changed_at"]
                log.warning("gateway_down", gateway=row.gateway, failed=failed, answered=answered)
            elif row.state == G.DOWN and answered > failed:
                back.append(row.gateway)  # answers nobody noted as a recovery yet
            row.save(update_fields=fields)
            if row.state == G.DOWN:
                down.add(row.gateway)
    for gateway in back:
        if health_recovered(gateway):
            down.discard(gateway)
    _read_again()
    return down


def health_recovered(gateway: str) -> bool:
    """The gateway answered while DOWN: UP again, and whatever of it waits out a backoff
    is due now (one process wins; True for it)."""
    now = timezone.now()
    with transaction.atomic():  # UP and the bring-forward, or neither
        won = GatewayHealth.objects.filter(gateway=gateway, state=G.DOWN).update(
            state=G.UP,
            changed_at=now,
            recovered_at=now,
            seen_ok=F("ok_calls"),
            seen_failed=F("failed_calls"),
        )
        if won:
            payments, refunds = health_bring_forward(gateway, now)
    _read_again()
    if not won:
        return False
    log.warning("gateway_recovered", gateway=gateway, payments=payments, refunds=refunds)
    enqueue(PAYMENT_RECOVERY_SCAN)
    enqueue(REFUND_RECOVERY_SCAN)
    return True


def health_bring_forward(gateway: str, now: datetime) -> tuple[int, int]:
    """Make every in-doubt payment and refund of the gateway due now."""
    payments = PaymentEvent.objects.filter(
        gateway=gateway, status=S.UNKNOWN, next_attempt_at__gt=now
    ).update(next_attempt_at=now)
    # By a subquery, not a join: one UPDATE on MySQL too, with its filters.
    of_gateway = PaymentEvent.objects.filter(gateway=gateway).values("pk")
    refunds = Refund.objects.filter(
        event_id__in=of_gateway, status=R.UNKNOWN, next_attempt_at__gt=now
    ).update(next_attempt_at=now)
    return payments, refunds


def breaker_scopes(field: str, limit: int) -> list[tuple[Q, int]]:
    """What a scan may lease (pg_health): everything of the gateways that are UP, and a
    few probes of each gateway that is DOWN. `field` names the payment's gateway."""
    down = sorted(health_down_gateways())
    # Probes first: a full batch of other work must not leave a DOWN gateway unprobed.
    probes = [(Q(**{field: gateway}), settings.GATEWAY_PROBES_PER_SCAN) for gateway in down]
    return [*probes, (~Q(**{f"{field}__in": down}) if down else Q(), limit)]


def recovery_attempt_number(gateway: str, retry_count: int, reason: str) -> int | None:
    """The attempt this was, or None when it does not count: no answer from a gateway
    that is DOWN (its schedule then restarts at the first delay, its budget untouched)."""
    if reason in NO_ANSWER_REASONS and health_down(gateway):
        return None
    return retry_count + 1
