"""The Toss emulator's knob for what Toss leaves undocumented (docs/pg.md, Toss:
idempotency): whether an error answer is stored under its Idempotency-Key.

GET /sandbox/toss/settings   {"replayErrors"}
PUT /sandbox/toss/settings   {"replayErrors": true|false} until the next reset

replayErrors: a transient 4xx answer (PROVIDER_ERROR, FORBIDDEN_CONSECUTIVE_REQUEST ...,
injected as a fault) is stored and replayed to every retry with the same key, as the real
Toss might; 5xx answers never are. Default: off, or `run_pg_sandbox --toss-replay-errors`.
"""

import json

from aiohttp import web

from gateways.sandbox.control import control_error


def _settings_json(request: web.Request) -> dict:
    return {"replayErrors": request.app["sandbox"].idempotency.replay_errors}


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_settings_json(request))


async def put_settings(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or set(body) != {"replayErrors"}:
        return control_error("the body is {replayErrors}")
    if not isinstance(body["replayErrors"], bool):
        return control_error("replayErrors must be true or false")
    request.app["sandbox"].idempotency.replay_errors = body["replayErrors"]
    return web.json_response(_settings_json(request))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sandbox/toss/settings", get_settings)
    app.router.add_put("/sandbox/toss/settings", put_settings)
