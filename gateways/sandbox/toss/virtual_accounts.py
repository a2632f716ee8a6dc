"""The buyer's bank, for Toss virtual accounts (가상계좌): control routes that move money
into an issued account, or take a deposit back, and the settings for what Toss leaves
undocumented (docs/sandbox.md, Toss virtual accounts).

POST /sandbox/toss/deposit           {"orderId", "late"?, "depositorName"?}
    the buyer's transfer: WAITING_FOR_DEPOSIT -> DONE, a transaction, PAYMENT_STATUS_CHANGED
    and DEPOSIT_CALLBACK (status DONE). After the due date it is refused unless `late`
    is true: then it lands anyway on the EXPIRED (or CANCELED) payment, a false failure
    the shop has to refund.
POST /sandbox/toss/deposit-reversal  {"orderId"}
    the rare bank-network case: DONE -> WAITING_FOR_DEPOSIT, PAYMENT_STATUS_CHANGED and
    DEPOSIT_CALLBACK (status WAITING_FOR_DEPOSIT).
GET  /sandbox/toss/settings/virtual-accounts
PUT  /sandbox/toss/settings/virtual-accounts  {"validHours"?, "expiry"?,
                                               "depositCallbackEventType"?}

Both POSTs answer the payment's sandbox record (as GET /sandbox/toss/payments/{orderId}).
Refusals are the control API's {"code", "message"}: a bad body 400 INVALID_REQUEST, an
unknown orderId 404 NOT_FOUND, a payment in the wrong state 409 with one of the codes
below. The settings live on the ledger: `POST /sandbox/reset` restores the defaults.
"""

import json

from aiohttp import web

from gateways.sandbox.control import control_error
from gateways.sandbox.toss.payments import EXPIRY_OUTCOMES, MAX_VALID_HOURS, TossFailure

CONFLICTS = {
    "NOT_A_VIRTUAL_ACCOUNT": "the payment is not a virtual account",
    "NOT_WAITING_FOR_DEPOSIT": "the virtual account is not waiting for a deposit",
    "VIRTUAL_ACCOUNT_EXPIRED": (
        "the virtual account's due date has passed; send late: true to land the deposit anyway"
    ),
    "NOT_DEPOSITED": "only a deposited (DONE) virtual account can have its deposit reversed",
}
SETTINGS = {"validHours", "expiry", "depositCallbackEventType"}


async def _body(request: web.Request):
    try:
        return json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        return None


def _record(request: web.Request, order_id: str) -> web.Response:
    ledger = request.app["sandbox"].toss
    return web.json_response(ledger.record(order_id, f"{request.scheme}://{request.host}"))


async def _act(request: web.Request, operation: str, fields: set[str], act) -> web.Response:
    request["sandbox"].update(gateway="toss", operation=operation)
    body = await _body(request)
    if not isinstance(body, dict) or "orderId" not in body or set(body) - fields:
        names = ", ".join(sorted(fields - {"orderId"}))
        return control_error(f'the body is {{"orderId"{", " if names else ""}{names}}}')
    order_id = body["orderId"]
    if not isinstance(order_id, str) or not order_id:
        return control_error("orderId must be a non-empty string")
    request["sandbox"]["orderId"] = order_id
    payment = request.app["sandbox"].toss.by_order.get(order_id)
    if payment is None:
        return control_error(f"no payment for orderId {order_id}", 404, "NOT_FOUND")
    request["sandbox"]["paymentKey"] = payment.payment_key
    problem = act(payment, body)
    if problem is not None:
        return problem
    return _record(request, order_id)


async def deposit(request: web.Request) -> web.Response:
    ledger = request.app["sandbox"].toss

    def act(payment, body):
        late, depositor = body.get("late", False), body.get("depositorName")
        if not isinstance(late, bool):
            return control_error("late must be true or false")
        if depositor is not None and (
            not isinstance(depositor, str) or not 1 <= len(depositor) <= 60
        ):
            return control_error("depositorName must be 1 to 60 characters")
        try:
            ledger.deposit(payment, late=late, depositor=depositor)
        except TossFailure as failure:
            return control_error(CONFLICTS[failure.code], 409, failure.code)
        return None

    return await _act(request, "deposit", {"orderId", "late", "depositorName"}, act)


async def reverse_deposit(request: web.Request) -> web.Response:
    ledger = request.app["sandbox"].toss

    def act(payment, body):
        try:
            ledger.reverse_deposit(payment)
        except TossFailure as failure:
            return control_error(CONFLICTS[failure.code], 409, failure.code)
        return None

    return await _act(request, "deposit-reversal", {"orderId"}, act)


def _settings_json(ledger) -> dict:
    return {
        "validHours": ledger.va_valid_hours,
        "expiry": ledger.va_expiry,
        "depositCallbackEventType": ledger.va_callback_event_type,
    }


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_settings_json(request.app["sandbox"].toss))


async def put_settings(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict) or set(body) - SETTINGS:
        return control_error("the body is {validHours?, expiry?, depositCallbackEventType?}")
    hours, expiry = body.get("validHours"), body.get("expiry")
    event_type = body.get("depositCallbackEventType")
    if hours is not None and (
        isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_VALID_HOURS
    ):
        return control_error(f"validHours must be an integer from 1 to {MAX_VALID_HOURS}")
    if expiry is not None and expiry not in EXPIRY_OUTCOMES:
        return control_error("expiry must be EXPIRED or CANCELED")
    if event_type is not None and not isinstance(event_type, bool):
        return control_error("depositCallbackEventType must be true or false")
    ledger = request.app["sandbox"].toss
    if hours is not None:
        ledger.va_valid_hours = hours
    if expiry is not None:
        ledger.va_expiry = expiry
    if event_type is not None:
        ledger.va_callback_event_type = event_type
    return web.json_response(_settings_json(ledger))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/sandbox/toss/deposit", deposit)
    app.router.add_post("/sandbox/toss/deposit-reversal", reverse_deposit)
    app.router.add_get("/sandbox/toss/settings/virtual-accounts", get_settings)
    app.router.add_put("/sandbox/toss/settings/virtual-accounts", put_settings)
