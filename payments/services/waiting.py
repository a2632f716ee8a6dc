"""Waiting for a payment's outcome without holding a database connection.

An asynchronous confirm answers 202; the client then asks `GET /payments/{orderId}` with
`Prefer: wait=N` and the answer comes as soon as the outcome is recorded, not at the
next poll. payment_record_outcome publishes every recorded outcome (after its commit) on
a Redis channel per payment; a waiting request subscribes first, then re-reads the
database, then sleeps on the channel with its database connection given back. Without
Redis (the embedded default) the wait re-reads the database every WAIT_POLL_SECONDS.
"""

import time
from functools import cache

import structlog
from django.conf import settings

from config.db.connections import release_db_connections
from payments.models import PaymentEvent

log = structlog.get_logger(__name__)

WAIT_POLL_SECONDS = 0.25
OPEN = ("NOT_STARTED", "EXECUTING", "UNKNOWN")


def channel(event_id: int) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'payments')}:outcome:{event_id}"


@cache
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def payment_notify(event_id: int) -> None:
    """Wake whoever waits on this payment; a lost notice only costs them their timeout."""
    if not settings.REDIS_URL:
        return
    try:
        _redis().publish(channel(event_id), "1")
    except Exception as exc:
        log.warning("outcome_notify_failed", error=type(exc).__name__)


def payment_wait_outcome(*, event_id: int, timeout: float) -> str:
    """Block until the payment leaves NOT_STARTED/EXECUTING/UNKNOWN or timeout; its status."""
    deadline = time.monotonic() + timeout
    if not settings.REDIS_URL:
        return _poll(event_id, deadline)
    pubsub = _redis().pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel(event_id))  # before the read: no outcome slips between
        status = _status(event_id)
        while status in OPEN and time.monotonic() < deadline:
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
    while status in OPEN and time.monotonic() < deadline:
        release_db_connections()
        time.sleep(min(WAIT_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        status = _status(event_id)
    return status


def _status(event_id: int) -> str:
    return PaymentEvent.objects.values_list("status", flat=True).get(pk=event_id)
