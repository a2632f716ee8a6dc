"""The sandbox's own control API under /sandbox.

There is no authentication: it listens on 127.0.0.1 unless told otherwise. `guard` (a
middleware) keeps web pages out: every /sandbox route but health answers only requests
with no Origin or the sandbox's own, and a body must be application/json.

GET    /sandbox/health
PUT    /sandbox/faults              add a rule (or a list of rules)    -> 201 the rule(s)
GET    /sandbox/faults              the rules with their hit counts
DELETE /sandbox/faults[/{id}]       remove all rules, or one
GET    /sandbox/clock               the sandbox time and its offset
POST   /sandbox/clock/advance       {"seconds": N}: move time forward, expire what is due
PUT    /sandbox/webhooks            {"gateway","url","mode","delayMs","retryMinutes"}
DELETE /sandbox/webhooks?gateway=   stop sending
GET    /sandbox/webhooks            every delivery with its attempts
GET    /sandbox/requests            ?gateway&operation&orderId&limit: the request log
GET    /sandbox/{gateway}/payments[/{orderId}]  the sandbox's own records (for checks)
GET    /sandbox/{gateway}/settlement-file?date=  one day's transactions as CSV
                                (settlement_file.py)
POST   /sandbox/{gateway}/differences  {"kind","orderId","amount"?}: make the PG's records
                                differ from the app's on purpose (differences.py)
POST   /sandbox/reset               forget everything but the configuration
"""

import json
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from gateways.sandbox.clock import iso
from gateways.sandbox.faults import FaultSpecError
from gateways.sandbox.webhooks import MODES, Subscription

log = structlog.get_logger("gateways.sandbox")


def control_error(message: str, status: int = 400, code: str = "INVALID_REQUEST") -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


async def _body(request: web.Request):
    try:
        return json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        return None


# Sec-Fetch-Site values a browser sends when another origin's page started the request.
OTHER_SITES = ("cross-site", "same-site")
DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname and port else None


def _foreign_origin(request: web.Request) -> str | None:
    """Why the request looks started by another site's page, or None."""
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin)  # "null" (an opaque origin) has no scheme: refused
        theirs = _host_port(parts.netloc, parts.scheme)
        own = _host_port(request.host, parts.scheme)
        if parts.scheme not in DEFAULT_PORTS or theirs is None or theirs != own:
            return f"Origin {origin} is not this sandbox ({request.host})"
    if request.headers.get("Sec-Fetch-Site") in OTHER_SITES:
        return "the request was started by another site's page"
    return None


def _not_json(request: web.Request) -> str | None:
    """Why the body is refused, or None. A request with no body needs no Content-Type."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if "Content-Type" not in request.headers:
        return (
            "a body must be sent as Content-Type: application/json" if request.body_exists else None
        )
    if request.content_type != "application/json":
        return f"Content-Type must be application/json, not {request.content_type}"
    return None


def _guarded(path: str) -> bool:
    # Only the control API: the buyer's window pages and their form posts (/toss/window,
    # /toss/window/pay, /nicepay/window, /nicepay/window/pay, /kakaopay/window,
    # /kakaopay/window/submit) live outside /sandbox and are reached from the shop's pages,
    # so they stay open, as do the PG APIs (/toss, /nicepay, /kakaopay: they check keys).
    # The script shortcuts /sandbox/{gateway}/authorize and /sandbox/kakaopay/buyer are
    # control routes, for tests and scripts, never for a browser.
    return (path == "/sandbox" or path.startswith("/sandbox/")) and path != "/sandbox/health"


@web.middleware
async def guard(request: web.Request, handler) -> web.StreamResponse:
    """Keep web pages out of the control API: a page the developer visits could otherwise
    send it a "simple" cross-site request (a text/plain or form POST, or a GET)."""
    if not _guarded(request.path):
        return await handler(request)
    problem = _foreign_origin(request)
    status, code = 403, "FORBIDDEN_ORIGIN"
    if problem is None:
        problem = _not_json(request)
        status, code = 415, "UNSUPPORTED_MEDIA_TYPE"
    if problem is None:
        return await handler(request)
    log.warning(
        "sandbox_control_refused",
        method=request.method,
        path=request.path,
        status=status,
        reason=problem,
    )
    return control_error(problem, status, code)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def add_faults(request: web.Request) -> web.Response:
    faults = request.app["sandbox"].faults
    spec = await _body(request)
    specs = spec if isinstance(spec, list) else [spec]
    added = []
    try:
        for one in specs:
            added.append(faults.add(one))
    except FaultSpecError as exc:
        for fault in added:  # all or nothing
            faults.remove(fault.id)
        return control_error(str(exc))
    rules = [f.as_json() for f in added]
    return web.json_response(rules if isinstance(spec, list) else rules[0], status=201)


async def list_faults(request: web.Request) -> web.Response:
    faults = request.app["sandbox"].faults
    return web.json_response(
        {"rules": [f.as_json() for f in faults.rules], "applied": faults.applied}
    )


async def clear_faults(request: web.Request) -> web.Response:
    faults = request.app["sandbox"].faults
    cleared = len(faults.rules)
    faults.clear()
    return web.json_response({"cleared": cleared})


async def remove_fault(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit() or not request.app["sandbox"].faults.remove(int(raw)):
        return control_error(f"no fault {raw}", 404, "NOT_FOUND")
    return web.json_response({"cleared": 1})


def _clock_json(sandbox) -> dict:
    return {"now": iso(sandbox.clock.now()), "offsetSeconds": sandbox.clock.offset_seconds}


async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock_json(request.app["sandbox"]))


async def advance_clock(request: web.Request) -> web.Response:
    sandbox = request.app["sandbox"]
    body = await _body(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 <= seconds <= 10**8
    ):
        return control_error("seconds must be a number from 0 to 100000000")
    sandbox.clock.advance(seconds)
    sandbox.sweep()  # what the new time makes due happens now, not at the next sweep
    return web.json_response(_clock_json(sandbox))


async def set_webhooks(request: web.Request) -> web.Response:
    sandbox = request.app["sandbox"]
    body = await _body(request)
    if not isinstance(body, dict):
        return control_error("the body must be a JSON object")
    gateway, url = body.get("gateway"), body.get("url")
    mode, delay = body.get("mode", "normal"), body.get("delayMs", 0)
    retry = body.get("retryMinutes", [1, 4, 16, 64, 256, 1024, 4096])
    if gateway not in ("toss", "nicepay", "kakaopay"):
        return control_error("gateway must be toss, nicepay or kakaopay")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return control_error("url must be an http(s) URL")
    if mode not in MODES:
        return control_error(f"mode must be one of {', '.join(MODES)}")
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 600_000:
        return control_error("delayMs must be 0 to 600000")
    if not isinstance(retry, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in retry
    ):
        return control_error("retryMinutes must be a list of positive integers")
    sandbox.webhooks.subscribe(gateway, Subscription(url, mode, delay, tuple(retry)))
    return web.json_response({"gateway": gateway, "url": url, "mode": mode, "retryMinutes": retry})


async def clear_webhooks(request: web.Request) -> web.Response:
    request.app["sandbox"].webhooks.subscribe(request.query.get("gateway", "toss"), None)
    return web.json_response({"cleared": True})


async def list_webhooks(request: web.Request) -> web.Response:
    dispatcher = request.app["sandbox"].webhooks
    order_id = request.query.get("orderId")
    deliveries = [d.as_json() for d in dispatcher.deliveries if order_id in (None, d.order_id)]
    return web.json_response({"deliveries": deliveries})


async def list_requests(request: web.Request) -> web.Response:
    query = request.query
    limit = query.get("limit", "1000")
    if not limit.isdigit():
        return control_error("limit must be a positive integer")
    entries = request.app["sandbox"].requests.query(
        gateway=query.get("gateway"),
        operation=query.get("operation"),
        order_id=query.get("orderId"),
        limit=int(limit),
    )
    return web.json_response({"requests": entries})


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _ledger(request: web.Request):
    return request.app["sandbox"].ledgers.get(request.match_info["gateway"])


async def pg_payment(request: web.Request) -> web.Response:
    """The PG's record plus what only the sandbox knows ("sandbox": approvals, calls)."""
    ledger = _ledger(request)
    record = ledger.record(request.match_info["orderId"], _base_url(request)) if ledger else None
    if record is None:
        return control_error("no such payment", 404, "NOT_FOUND")
    return web.json_response(record)


async def pg_payments(request: web.Request) -> web.Response:
    ledger = _ledger(request)
    if ledger is None:
        return control_error("no such gateway", 404, "NOT_FOUND")
    return web.json_response(
        {"payments": ledger.records(_base_url(request), request.query.get("status"))}
    )


async def reset(request: web.Request) -> web.Response:
    request.app["sandbox"].reset()
    return web.json_response({"reset": True})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/sandbox/health", health)
    router.add_put("/sandbox/faults", add_faults)
    router.add_get("/sandbox/faults", list_faults)
    router.add_delete("/sandbox/faults", clear_faults)
    router.add_delete("/sandbox/faults/{id}", remove_fault)
    router.add_get("/sandbox/clock", get_clock)
    router.add_post("/sandbox/clock/advance", advance_clock)
    router.add_put("/sandbox/webhooks", set_webhooks)
    router.add_delete("/sandbox/webhooks", clear_webhooks)
    router.add_get("/sandbox/webhooks", list_webhooks)
    router.add_get("/sandbox/requests", list_requests)
    router.add_get("/sandbox/{gateway}/payments", pg_payments)
    router.add_get("/sandbox/{gateway}/payments/{orderId}", pg_payment)
    router.add_post("/sandbox/reset", reset)
