"""Waiting for a payment's outcome without holding a database connection.

An asynchronous confirm answers 202; the client then asks `GET /payments/{orderId}` with
`Prefer: wait=N` and the answer comes as soon as the outcome is recorded, not at the
next poll. payment_record_outcome (settle) publishes every final outcome, after its
commit, on the payment's Redis channel (settle.outcome_channel); a waiting request
subscribes first, then re-reads the database, then sleeps on the channel with its
database connection given back. Without Redis (the embedded default) the wait re-reads
the database every WAIT_POLL_SECONDS. A member holds at most PAYMENT_MAX_WAITS_PER_MEMBER
waits at once (payment_wait_slot); past that a GET answers at once.
"""

import threading
import time
from collections import Counter
from contextlib import contextmanager
from functools import cache

import redis
import structlog
from django.conf import settings

from config.db.connections import release_db_connections
from payments.models import PaymentEvent
from payments.services.settle import outcome_channel

log = structlog.get_logger(__name__)

WAIT_POLL_SECONDS = 0.25
# The statuses that move on without a person: a waiter waits while the payment is in one.
MOVING = ("NOT_STARTED", "EXECUTING", "UNKNOWN")


@cache
def _redis():
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


@contextmanager
def payment_wait_slot(*, member_id: int, timeout: float):
    """Whether this member may hold one more waiting request (PAYMENT_MAX_WAITS_PER_MEMBER).

    A waiting request holds a web thread for up to its timeout; one member opening many
    must not hold them all. Past the cap the request is answered at once, as if it had
    not asked to wait. Counted in Redis across processes, else in this process.
    """
    if not settings.REDIS_URL:
        with _local_lock:
            allowed = _local_waits[member_id] < settings.PAYMENT_MAX_WAITS_PER_MEMBER
            _local_waits[member_id] += allowed
        try:
            yield allowed
        finally:
            if allowed:
                with _local_lock:
                    _local_waits[member_id] -= 1
        return
    key = f"{settings.CACHES['default'].get('KEY_PREFIX', 'payments')}:waits:{member_id}"
    try:
        held = _redis().pipeline().incr(key).expire(key, int(timeout) + 30).execute()[0]
    except (redis.RedisError, OSError) as exc:
        # No count without Redis (redis-py lets some socket errors through as OSError, seen
        # as a 500 under many held connections): waiting is still bounded by its timeout.
        log.warning("wait_slot_unavailable", error=type(exc).__name__)
        yield True
        return
    try:
        yield held <= settings.PAYMENT_MAX_WAITS_PER_MEMBER
    finally:
        try:
            _redis().decr(key)
        except (redis.RedisError, OSError):
            log.warning("wait_slot_release_failed")  # the key expires after the timeout


_local_lock = threading.Lock()
_local_waits: Counter[int] = Counter()


def payment_wait_outcome(*, event_id: int, timeout: float) -> str:
    """Block until the payment leaves NOT_STARTED/EXECUTING/UNKNOWN or timeout; its status."""
    deadline = time.monotonic() + timeout
    if not settings.REDIS_URL:
        return _poll(event_id, deadline)
    pubsub = _redis().pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(outcome_channel(event_id))  # before the read: no outcome slips between
        status = _status(event_id)
        while status in MOVING and time.monotonic() < deadline:
            release_db_connections()
            pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            status = _status(event_id)
        return status
    except Exception as exc:
        log.warning("outcome_wait_failed", error=type(exc).__name__)
        return _poll(event_id, deadline)
    finally:
        pubsub.close()


def _poll(event_id: int, deadline: float) -> str:
    status = _status(event_id)
    while status in MOVING and time.monotonic() < deadline:
        release_db_connections()
        time.sleep(min(WAIT_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        status = _status(event_id)
    return status


def _status(event_id: int) -> str:
    return PaymentEvent.objects.values_list("status", flat=True).get(pk=event_id)
