"""The KakaoPay emulator's knobs for what KakaoPay leaves undocumented (docs/pg.md, What is
not confirmed).

GET /sandbox/kakaopay/settings   {"readyWindowSeconds", "alreadyApprovedCode"}
PUT /sandbox/kakaopay/settings   change either (or both) until the next reset

readyWindowSeconds: how long a tid can be authenticated and approved after ready (default
15 minutes, or the configuration's kakaopay_ready_window_seconds when it has one).
alreadyApprovedCode: the error_code of a second approve of a tid (default -702).
They live on the ledger: `POST /sandbox/reset` restores the defaults.
"""

import json
from datetime import timedelta

from aiohttp import web

from gateways.sandbox.control import control_error
from gateways.sandbox.kakaopay.api import ledger_of


def _settings_json(ledger) -> dict:
    return {
        "readyWindowSeconds": ledger.ready_window.total_seconds(),
        "alreadyApprovedCode": ledger.already_approved_code,
    }


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_settings_json(ledger_of(request)))


async def put_settings(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or set(body) - {"readyWindowSeconds", "alreadyApprovedCode"}:
        return control_error("the body is {readyWindowSeconds?, alreadyApprovedCode?}")
    seconds, code = body.get("readyWindowSeconds"), body.get("alreadyApprovedCode")
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 1 <= seconds <= 10**8
    ):
        return control_error("readyWindowSeconds must be a number from 1 to 100000000")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int) or code >= 0):
        return control_error("alreadyApprovedCode must be a negative integer")
    ledger = ledger_of(request)
    if seconds is not None:
        ledger.ready_window = timedelta(seconds=seconds)
    if code is not None:
        ledger.already_approved_code = code
    return web.json_response(_settings_json(ledger))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sandbox/kakaopay/settings", get_settings)
    app.router.add_put("/sandbox/kakaopay/settings", put_settings)
