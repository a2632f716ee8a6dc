"""Webhook delivery with the PG's retry schedule, on the sandbox clock.

Each PG package emits events; a subscription (set through `PUT /sandbox/webhooks`) says
where they go and how: `normal`, `duplicate` (every event twice), `reverse` (events are
held briefly and the newest goes first, like Toss's DONE and ABORTED arriving out of
order; the hold, 0.5 s or delayMs, counts from the order's newest event), or `delay`
(each event held delayMs). A failed delivery is retried at the
schedule's minutes (Toss: 1, 4, 16, 64, 256, 1024, 4096) measured on the sandbox clock,
so a test can move the clock instead of waiting days.
"""

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
import structlog

from gateways.sandbox.clock import Clock, iso

log = structlog.get_logger("gateways.sandbox.webhooks")

MODES = ("normal", "duplicate", "reverse", "delay")
REVERSE_HOLD_SECONDS = 0.5
SEND_TIMEOUT_SECONDS = 10
POLL_SECONDS = 0.05


async def deliver_forever(current: Callable[[], "WebhookDispatcher"]) -> None:
    """Send what is due, forever. `current` is looked up each round: a reset replaces it."""
    timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            dispatcher = current()
            for delivery in dispatcher.due():
                await dispatcher.send(delivery, session)
            await asyncio.sleep(POLL_SECONDS)


@dataclass
class Subscription:
    url: str
    mode: str = "normal"
    delay_ms: int = 0
    retry_minutes: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096)


@dataclass
class Delivery:
    id: int
    gateway: str
    order_id: str
    event: str
    body: bytes
    content_type: str
    url: str
    accept: Callable[[int, str], bool]
    created_at: datetime
    next_at: datetime
    not_before: float  # monotonic seconds: reverse/delay holds are real time
    retry_minutes: tuple[int, ...]
    state: str = "pending"  # pending | delivered | failed
    attempts: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "gateway": self.gateway,
            "orderId": self.order_id,
            "event": self.event,
            "url": self.url,
            "state": self.state,
            "createdAt": iso(self.created_at),
            "nextAttemptAt": iso(self.next_at) if self.state == "pending" else None,
            "attempts": self.attempts,
        }


class WebhookDispatcher:
    def __init__(self, clock: Clock):
        self.clock = clock
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: list[Delivery] = []
        self._ids = itertools.count(1)

    def subscribe(self, gateway: str, subscription: Subscription | None) -> None:
        if subscription is None:
            self.subscriptions.pop(gateway, None)
        else:
            self.subscriptions[gateway] = subscription

    def emit(
        self,
        gateway: str,
        order_id: str,
        event: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        accept: Callable[[int, str], bool] = lambda status, text: status == 200,
    ) -> None:
        sub = self.subscriptions.get(gateway)
        if sub is None:
            return
        reverse_hold = sub.delay_ms / 1000 if sub.delay_ms else REVERSE_HOLD_SECONDS
        hold = {"reverse": reverse_hold, "delay": sub.delay_ms / 1000}.get(sub.mode, 0)
        now = self.clock.now()
        if sub.mode == "reverse":
            # The hold counts from the order's newest event: a burst goes out together,
            # newest first, however slowly its events arrived within the hold.
            for held in self.deliveries:
                if held.state == "pending" and held.order_id == order_id and not held.attempts:
                    held.not_before = time.monotonic() + hold
        for _ in range(2 if sub.mode == "duplicate" else 1):
            self.deliveries.append(
                Delivery(
                    id=next(self._ids),
                    gateway=gateway,
                    order_id=order_id,
                    event=event,
                    body=body,
                    content_type=content_type,
                    url=sub.url,
                    accept=accept,
                    created_at=now,
                    next_at=now,
                    not_before=time.monotonic() + hold,
                    retry_minutes=sub.retry_minutes,
                )
            )

    def due(self) -> list[Delivery]:
        now, mono = self.clock.now(), time.monotonic()
        ready = [
            d
            for d in self.deliveries
            if d.state == "pending" and d.next_at <= now and d.not_before <= mono
        ]
        # Newest first in reverse mode; otherwise in the order the events happened.
        reverse = any(
            self.subscriptions.get(d.gateway, Subscription("")).mode == "reverse" for d in ready
        )
        return sorted(ready, key=lambda d: d.id, reverse=reverse)

    async def send(self, delivery: Delivery, session: aiohttp.ClientSession) -> None:
        attempt = {"at": iso(self.clock.now())}
        try:
            async with session.post(
                delivery.url, data=delivery.body, headers={"Content-Type": delivery.content_type}
            ) as response:
                text = await response.text(errors="replace")
                attempt["status"] = response.status
                ok = delivery.accept(response.status, text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            attempt["error"] = type(exc).__name__
            ok = False
        attempt["ok"] = ok
        delivery.attempts.append(attempt)
        failures = sum(1 for a in delivery.attempts if not a["ok"])
        if ok:
            delivery.state = "delivered"
        elif failures > len(delivery.retry_minutes):
            delivery.state = "failed"
        else:
            delivery.next_at = self.clock.now() + timedelta(
                minutes=delivery.retry_minutes[failures - 1]
            )
        log.info(
            "sandbox_webhook",
            gateway=delivery.gateway,
            orderId=delivery.order_id,
            webhook_event=delivery.event,
            attempt=len(delivery.attempts),
            outcome=delivery.state,
            status=attempt.get("status"),
            error=attempt.get("error"),
        )
