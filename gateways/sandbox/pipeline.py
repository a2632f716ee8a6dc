"""How one PG API call runs in the sandbox: faults, idempotency, the work, the answer.

    decide faults -> (Idempotency-Key: replay | 409 | begin) -> latency
    -> an outcome before the work (no answer / hold / error) or the work itself
    -> an outcome after the work (no answer / hold / the error instead of the result)

The work (`execute`) is synchronous: on one event loop nothing interleaves with it, so a
state change and its idempotency record happen together or not at all.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateways.sandbox.faults import Fault
from gateways.sandbox.idempotency import Scope

HOLD_POLL_SECONDS = 0.5


@dataclass
class Outcome:
    status: int
    body: bytes
    store: bool = True  # may be replayed under an Idempotency-Key


def respond(outcome: Outcome) -> web.Response:
    return web.Response(status=outcome.status, body=outcome.body, content_type="application/json")


async def perform(
    request: web.Request,
    *,
    gateway: str,
    operation: str,
    order_id: str | None,
    execute: Callable[[], Outcome],
    fault_error: Callable[[Fault, bool], Outcome],
    scope: Scope | None = None,
    conflict: Callable[[], Outcome] | None = None,
) -> web.StreamResponse:
    sandbox = request.app["sandbox"]
    decision = sandbox.faults.decide(gateway, operation, order_id)
    note = request["sandbox"]
    note.update(operation=operation, orderId=order_id, faults=decision.matched or None)
    rule = decision.rule
    store = sandbox.idempotency

    if scope is not None:
        entry = store.get(scope)
        if entry is not None and entry.processing:
            note["outcome"] = "idempotent-conflict"
            return respond(conflict())
        if entry is not None:
            note["outcome"] = "idempotent-replay"
            return web.Response(
                status=entry.status, body=entry.body, content_type="application/json"
            )
        store.begin(scope)

    try:
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if rule is not None and not rule.commit and not rule.dropResponseAfterCommit:
            if rule.failBeforeCommit:
                return await drop(request)
            if rule.timeout:
                return await hold(request, rule.holdSeconds)
            outcome = fault_error(rule, False)
        else:
            outcome = execute()
        if scope is not None:
            if outcome.store:
                store.finish(scope, outcome.status, outcome.body)
            else:
                store.abort(scope)
        if rule is not None and (rule.commit or rule.dropResponseAfterCommit):
            if rule.dropResponseAfterCommit:
                return await drop(request)
            if rule.timeout:
                return await hold(request, rule.holdSeconds)
            return respond(fault_error(rule, True))
        return respond(outcome)
    finally:
        if scope is not None:
            store.abort(scope)  # only removes an entry still marked processing


async def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer: the client sees a reset or an EOF."""
    request["sandbox"]["outcome"] = "dropped"
    if request.transport is not None:
        request.transport.abort()
    raise ResponseDropped


async def hold(request: web.Request, seconds: float) -> web.StreamResponse:
    """Answer nothing until the client gives up (or `seconds` pass), then close."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(HOLD_POLL_SECONDS)
    request["sandbox"]["outcome"] = "held"
    if request.transport is not None:
        request.transport.abort()
    raise ResponseDropped


class ResponseDropped(Exception):
    """Raised after the connection was closed on purpose; the server middleware swallows it."""
