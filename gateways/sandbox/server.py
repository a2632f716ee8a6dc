"""The sandbox process: its state, the aiohttp application and its background jobs."""

import asyncio
import contextlib
import importlib
import importlib.util
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from gateways.sandbox import control, differences, persistence, settlement_file
from gateways.sandbox.clock import Clock
from gateways.sandbox.faults import FaultTable
from gateways.sandbox.idempotency import IdempotencyStore
from gateways.sandbox.pipeline import ResponseDropped
from gateways.sandbox.requestlog import RequestLog
from gateways.sandbox.webhooks import Subscription, WebhookDispatcher, deliver_forever


# One package per emulated PG, each with a `plugin` module: NAME, create_ledger(sandbox),
# add_routes(app). A ledger offers sweep(), record(orderId, base_url),
# records(base_url, status), dump(), load(items) and `differences` (kind -> function,
# gateways/sandbox/differences.py); settlement.ROWS reads its transactions.
def _plugins() -> list:
    found = []
    for name in ("toss", "nicepay", "kakaopay"):
        if importlib.util.find_spec(f"gateways.sandbox.{name}") is not None:
            found.append(importlib.import_module(f"gateways.sandbox.{name}.plugin"))
    return found


PLUGINS = _plugins()
SWEEP_SECONDS = 1.0
SAVE_SECONDS = 0.5


@dataclass
class SandboxConfig:
    toss_secret_keys: list[str]
    toss_client_keys: list[str]
    auth_window_seconds: int = 30 * 60
    confirm_window_seconds: int = 10 * 60
    amount_mismatch_code: str = "INVALID_REQUEST"
    toss_webhook_url: str | None = None
    # NicePay: (clientKey, secretKey) pairs it accepts (Basic auth and signatures).
    nicepay_keys: list[tuple[str, str]] = field(default_factory=list)
    # KakaoPay: secret keys (SECRET_KEY / DEV_SECRET_KEY headers) and merchant ids (cid).
    kakaopay_secret_keys: list[str] = field(default_factory=list)
    kakaopay_cids: list[str] = field(default_factory=lambda: ["TC0ONETIME"])
    # Toss: store and replay transient 4xx answers under their Idempotency-Key.
    toss_replay_errors: bool = False
    state_file: Path | None = None


class Sandbox:
    """Everything the sandbox remembers. One event loop owns it: no locks needed."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.clock = Clock()
        self.dirty = False
        self.started = time.monotonic()
        self._build()

    def _build(self) -> None:
        self.faults = FaultTable()
        self.idempotency = IdempotencyStore(
            self.clock, replay_errors=self.config.toss_replay_errors
        )
        self.webhooks = WebhookDispatcher(self.clock)
        self.requests = RequestLog(self.clock)
        self.ledgers = {plugin.NAME: plugin.create_ledger(self) for plugin in PLUGINS}
        self.toss = self.ledgers["toss"]
        if self.config.toss_webhook_url:
            self.webhooks.subscribe("toss", Subscription(url=self.config.toss_webhook_url))

    def reset(self) -> None:
        """Forget everything (payments, keys, faults, logs, clock); keep the configuration."""
        self.clock.offset = timedelta(0)
        self._build()
        self.dirty = True

    def sweep(self) -> None:
        for ledger in self.ledgers.values():
            ledger.sweep()
        self.idempotency.purge_expired()


@web.middleware
async def record_requests(request: web.Request, handler) -> web.StreamResponse:
    """Log every request; turn an on-purpose dropped connection into nothing at all."""
    sandbox: Sandbox = request.app["sandbox"]
    request["sandbox"] = {}
    started = time.perf_counter()
    status = None
    entry = None
    if request.path != "/sandbox/health":
        entry = sandbox.requests.start(
            method=request.method, path=request.path, note=request["sandbox"]
        )
    try:
        response = await handler(request)
        status = response.status
        return response
    except ResponseDropped:
        # The transport is already closed: whatever is returned is never written.
        return web.Response(status=204)
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if entry is not None:
            sandbox.requests.finish(entry, status=status, ms=(time.perf_counter() - started) * 1000)
        if request.method != "GET":
            sandbox.dirty = True


async def _background(app: web.Application):
    sandbox: Sandbox = app["sandbox"]

    async def sweep_forever():
        while True:
            sandbox.sweep()
            await asyncio.sleep(SWEEP_SECONDS)

    async def save_forever():
        while True:
            await asyncio.sleep(SAVE_SECONDS)
            if sandbox.dirty:
                sandbox.dirty = False
                persistence.save(sandbox, sandbox.config.state_file)

    tasks = [
        asyncio.create_task(sweep_forever()),
        asyncio.create_task(deliver_forever(lambda: sandbox.webhooks)),
    ]
    if sandbox.config.state_file is not None:
        tasks.append(asyncio.create_task(save_forever()))
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if sandbox.config.state_file is not None:
        persistence.save(sandbox, sandbox.config.state_file)


def build_app(config: SandboxConfig) -> web.Application:
    sandbox = Sandbox(config)
    if config.state_file is not None:
        persistence.load(sandbox, config.state_file)
    # guard first: a refused control request touches nothing, not even the request log.
    app = web.Application(middlewares=[control.guard, record_requests], client_max_size=1024 * 1024)
    app["sandbox"] = sandbox
    control.add_routes(app)
    differences.add_routes(app)
    settlement_file.add_routes(app)
    for plugin in PLUGINS:
        plugin.add_routes(app)
    app.cleanup_ctx.append(_background)
    return app
