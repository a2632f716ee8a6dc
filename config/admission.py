"""Admission control: refuse at once, and cheaply, new payment work this process cannot
finish in time, so the payments it does take finish (goodput stays at capacity).

It wraps the WSGI application (config/wsgi.py), in front of all of Django, so a refusal
costs no middleware, no session and no database: 503 OVERLOADED with Retry-After.

Only requests that start new work may be refused (settings.ADMISSION_SHEDDABLE, by
method and path): a checkout (nothing is reserved yet) and a confirm (refused before its
claim, the payment stays NOT_STARTED and the shop tries again). Everything else passes:
a payment's GET, health, the admin, webhooks; and a request once admitted is finished.

Three reasons to refuse, in this order:

- queued: our proxy stamped the request (X-Request-Start, trusted only with
  NUM_PROXIES) more than ADMISSION_MAX_QUEUE_SECONDS ago; its client has most likely
  given up, so the work is not started;
- in_flight: ADMISSION_MAX_IN_FLIGHT admitted requests of this process are still
  running (each holds a thread; the rest stay free for GETs and health). Checkouts
  stop at four fifths of it, so the confirms of checkouts already done still get in;
- rate: checkouts beyond the adaptive rate. Checkout never calls the PG for most
  gateways, so its time is this machine's time: while the median checkout of the last
  second stays under ADMISSION_TARGET_SECONDS the rate grows by a twentieth; when it
  goes over, the rate falls to nine tenths of the checkouts that second finished (what
  the machine did manage), so the queue drains (additive increase, multiplicative
  decrease, as TCP does). A checkout admitted means a confirm soon, so holding
  checkouts back holds the whole payment back before any of it is done.
  ADMISSION_TARGET_SECONDS=0 turns it off, as docker-compose does: there nginx refuses
  checkouts past a cap on those in flight (deploy/nginx/nginx.conf), which follows the
  same slowdown, costs less goodput and answers in microseconds (docs/performance.md).
"""

import json
import statistics
import threading
import time
from collections.abc import Callable, Iterable

from django.conf import settings

from config.metrics import ADMITTED, SHED

WINDOW_SECONDS = 1.0
CHECKOUT_SHARE = 0.8


class RateController:
    """The checkouts a second this process admits, adjusted once per window."""

    def __init__(self, *, ceiling: float, floor: float, target: float, clock=time.monotonic):
        self.ceiling, self.floor, self.target, self.clock = ceiling, floor, target, clock
        self.rate = ceiling
        self.tokens = 1.0
        self.refilled = self.window_start = clock()
        self.admitted_in_window = 0
        self.durations: list[float] = []
        self.lock = threading.Lock()

    def admit(self) -> bool:
        with self.lock:
            now = self.clock()
            self._adjust(now)
            # A burst of at most a fifth of a second's worth (and at least one).
            burst = max(1.0, self.rate / 5)
            self.tokens = min(burst, self.tokens + (now - self.refilled) * self.rate)
            self.refilled = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            self.admitted_in_window += 1
            return True

    def finished(self, seconds: float) -> None:
        with self.lock:
            self.durations.append(seconds)

    def _adjust(self, now: float) -> None:
        if now - self.window_start < WINDOW_SECONDS:
            return
        if self.durations:
            finished = len(self.durations) / (now - self.window_start)
            if statistics.median(self.durations) > self.target:
                self.rate = max(self.floor, 0.9 * min(self.rate, finished))
            elif self.admitted_in_window >= 0.9 * self.rate * (now - self.window_start):
                # Only a rate in use is raised: an idle second proves nothing about capacity.
                self.rate = min(self.ceiling, self.rate + max(1.0, 0.05 * self.rate))
        self.window_start, self.admitted_in_window, self.durations = now, 0, []


class Admission:
    """The WSGI middleware; one per process, shared by its threads."""

    def __init__(self, app: Callable, *, clock=time.monotonic, wall=time.time):
        self.app, self.clock, self.wall = app, clock, wall
        self.lock = threading.Lock()
        self.in_flight = 0
        self.rate = RateController(
            ceiling=settings.ADMISSION_MAX_RATE,
            floor=settings.ADMISSION_MIN_RATE,
            target=settings.ADMISSION_TARGET_SECONDS,
            clock=clock,
        )

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        kind = settings.ADMISSION_SHEDDABLE.get(
            f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        )
        if kind is None or not settings.ADMISSION_ENABLED:
            return self.app(environ, start_response)
        reason = self._refusal(environ, kind)
        if reason is not None:
            SHED.labels(kind, reason).inc()
            return _overloaded(start_response, reason)
        ADMITTED.labels(kind).inc()
        started = self.clock()
        try:
            # Django renders the whole answer here (nothing of ours streams).
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.in_flight -= 1
            if kind == "checkout":
                self.rate.finished(self.clock() - started)

    def _refusal(self, environ: dict, kind: str) -> str | None:
        if _queued_seconds(environ, self.wall()) > settings.ADMISSION_MAX_QUEUE_SECONDS:
            return "queued"
        # Checkouts leave a fifth of the slots to confirms: a checkout done is a payment
        # begun, and refusing its confirm would waste it (and hold its stock longer).
        cap = settings.ADMISSION_MAX_IN_FLIGHT
        limit = cap if kind == "confirm" else max(1, int(cap * CHECKOUT_SHARE))
        with self.lock:
            if self.in_flight >= limit:
                return "in_flight"
            rated = settings.ADMISSION_TARGET_SECONDS > 0  # 0: nginx's cap does this
            if kind == "checkout" and rated and not self.rate.admit():
                return "rate"
            self.in_flight += 1
        return None


def _queued_seconds(environ: dict, now: float) -> float:
    """How long ago our proxy received the request (nginx: X-Request-Start: t=<seconds>)."""
    if not settings.NUM_PROXIES:
        return 0.0  # no proxy of ours in front: a client could send any value
    stamp = environ.get("HTTP_X_REQUEST_START", "")
    try:
        return now - float(stamp.removeprefix("t="))
    except ValueError:
        return 0.0


def _overloaded(start_response: Callable, reason: str) -> list[bytes]:
    body = json.dumps(
        {
            "code": "OVERLOADED",
            "message": "The service is busy; nothing was done. Try again shortly.",
            "reason": reason,
        }
    ).encode()
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(settings.ADMISSION_RETRY_AFTER_SECONDS)),
        ],
    )
    return [body]
