"""Toss core API v1 under /toss, as the real https://api.tosspayments.com answers it.

Every request: Basic auth with the configured secret key, then the
TossPayments-Test-Code header (test keys only), then the body, then the operation
through the fault and idempotency pipeline. Errors are Toss's {"code", "message"}, in
Korean unless Accept-Language asks for English.
"""

import base64
import binascii
import json
import re
from datetime import date, datetime, timedelta

from aiohttp import web

from gateways.sandbox.clock import KST, iso
from gateways.sandbox.faults import Fault
from gateways.sandbox.idempotency import MAX_KEY_LENGTH
from gateways.sandbox.pipeline import Outcome, perform, respond
from gateways.sandbox.toss.errors import ERRORS, error_message, error_status
from gateways.sandbox.toss.payments import (
    MID,
    WEBHOOK_STATUSES,
    TossFailure,
    TossPayment,
    payment_json,
)

ORDER_ID = re.compile(r"^[A-Za-z0-9_\-=.]{6,64}$")
SETTLEMENT_FEE_RATE = 0.032


class Refused(Exception):
    """Answer now with this Toss error (auth, test code, bad input)."""

    def __init__(self, code: str, status: int | None = None):
        super().__init__(code)
        self.code, self.status = code, status


def _english(request: web.Request) -> bool:
    return request.headers.get("Accept-Language", "").lower().startswith("en")


def _dumps(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _error(request: web.Request, code: str, status: int | None = None) -> Outcome:
    body = {"code": code, "message": error_message(code, _english(request))}
    return Outcome(status or error_status(code), _dumps(body))


def _payment(request: web.Request, payment: TossPayment) -> Outcome:
    base = f"{request.scheme}://{request.host}/toss"
    return Outcome(200, _dumps(payment_json(payment, base_url=base, english=_english(request))))


def payment_changed(sandbox, payment: TossPayment) -> None:
    """Toss sends PAYMENT_STATUS_CHANGED on these transitions (docs/pg.md, Toss: webhooks)."""
    if payment.status not in WEBHOOK_STATUSES:
        return
    created = sandbox.clock.now().replace(tzinfo=None).isoformat(timespec="microseconds")
    body = {
        "eventType": "PAYMENT_STATUS_CHANGED",
        "createdAt": created,
        "data": payment_json(payment, base_url="https://api.tosspayments.com"),
    }
    sandbox.webhooks.emit("toss", payment.order_id, payment.status, _dumps(body))


# --- request checks ---------------------------------------------------------------------


def _authenticate(request: web.Request) -> str:
    keys = request.app["sandbox"].config.toss_secret_keys
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic" or not value.strip():
        raise Refused("UNAUTHORIZED_KEY")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Refused("UNAUTHORIZED_KEY") from exc
    if ":" not in decoded:
        raise Refused("INCORRECT_BASIC_AUTH_FORMAT")
    secret = decoded.split(":", 1)[0]
    if secret not in keys:
        raise Refused("UNAUTHORIZED_KEY")
    test_code = request.headers.get("TossPayments-Test-Code")
    if test_code and secret.startswith("test_"):  # live keys ignore the header
        raise Refused(test_code if test_code in ERRORS else "INVALID_TEST_CODE")
    return secret


async def _json_body(request: web.Request) -> dict:
    try:
        body = json.loads(await request.read() or b"null")
    except web.HTTPRequestEntityTooLarge as exc:
        raise Refused("INVALID_REQUEST", 413) from exc
    except (ValueError, RecursionError) as exc:
        raise Refused("INVALID_REQUEST") from exc
    if not isinstance(body, dict):
        raise Refused("INVALID_REQUEST")
    return body


def _string(body: dict, name: str, max_length: int, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise Refused("INVALID_REQUEST")
    return value


def _amount(body: dict, name: str, *, required: bool = True, minimum: int = 1) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise Refused("INVALID_REQUEST")
    if value < minimum:
        raise Refused("INVALID_REQUEST")
    return int(value)


def _idempotency_scope(request: web.Request, secret: str) -> tuple | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    request["sandbox"]["idempotencyKey"] = key[:300]  # not a secret; checks use it
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Refused("INVALID_IDEMPOTENCY_KEY")
    return (secret, request.method, request.path, key)


def _fault_error(request: web.Request, payment: TossPayment | None, execute=None):
    """The answer for an injected errorCode; a final decline aborts the payment first.

    A decline only applies to a payment still open: Toss does not decline again what it
    already decided, it answers that request as usual (ALREADY_PROCESSED_PAYMENT ...).
    """

    def build(rule: Fault, committed: bool) -> Outcome:
        known = ERRORS.get(rule.errorCode)
        decided = payment is not None and payment.status != "IN_PROGRESS"
        if not committed and known is not None and known.aborts and decided and execute:
            return execute()
        aborted = False
        if not committed and known is not None and known.aborts and payment is not None:
            request.app["sandbox"].toss.abort(payment, rule.errorCode)
            aborted = payment.status == "ABORTED"
        outcome = _error(request, rule.errorCode, rule.httpStatus)
        # A transient error is not replayed to a retry, unless the sandbox plays a Toss
        # that stores 4xx answers too (replay_errors); a 5xx never is, nor "still in
        # process" (the store's own answer while a request runs, never a stored one).
        replayed = (
            request.app["sandbox"].idempotency.replay_errors
            and outcome.status < 500
            and rule.errorCode != "IDEMPOTENT_REQUEST_PROCESSING"
        )
        outcome.store = aborted or replayed
        return outcome

    return build


def _guard(handler):
    """Turn Refused into the Toss error answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        request["sandbox"]["gateway"] = "toss"
        try:
            return await handler(request)
        except Refused as refused:
            request["sandbox"]["refused"] = refused.code
            return respond(_error(request, refused.code, refused.status))

    return wrapped


# --- operations -------------------------------------------------------------------------


@_guard
async def confirm(request: web.Request) -> web.StreamResponse:
    secret = _authenticate(request)
    scope = _idempotency_scope(request, secret)
    body = await _json_body(request)
    payment_key = _string(body, "paymentKey", 200)
    order_id = _string(body, "orderId", 1000)
    if not ORDER_ID.match(order_id):  # length too: INVALID_ORDER_ID's message states 6 to 64
        raise Refused("INVALID_ORDER_ID")
    amount = _amount(body, "amount")
    ledger = request.app["sandbox"].toss
    request["sandbox"]["paymentKey"] = payment_key

    def execute() -> Outcome:
        try:
            return _payment(
                request, ledger.confirm(payment_key=payment_key, order_id=order_id, amount=amount)
            )
        except TossFailure as failure:
            return _error(request, failure.code)

    target = ledger.by_key.get(payment_key)
    return await perform(
        request,
        gateway="toss",
        operation="confirm",
        order_id=order_id,
        execute=execute,
        fault_error=_fault_error(
            request, target if target and target.order_id == order_id else None, execute
        ),
        scope=scope,
        conflict=lambda: _error(request, "IDEMPOTENT_REQUEST_PROCESSING"),
    )


@_guard
async def cancel(request: web.Request) -> web.StreamResponse:
    secret = _authenticate(request)
    scope = _idempotency_scope(request, secret)
    payment_key = request.match_info["paymentKey"]
    body = await _json_body(request)
    reason = _string(body, "cancelReason", 200)
    amount = _amount(body, "cancelAmount", required=False)
    refundable = _amount(body, "refundableAmount", required=False, minimum=0)
    tax_free = _amount(body, "taxFreeAmount", required=False, minimum=0) or 0
    ledger = request.app["sandbox"].toss
    target = ledger.by_key.get(payment_key)
    request["sandbox"]["paymentKey"] = payment_key

    def execute() -> Outcome:
        try:
            payment = ledger.cancel(
                payment_key=payment_key,
                reason=reason,
                amount=amount,
                refundable_amount=refundable,
                tax_free=tax_free,
            )
            return _payment(request, payment)
        except TossFailure as failure:
            return _error(request, failure.code)

    return await perform(
        request,
        gateway="toss",
        operation="cancel",
        order_id=target.order_id if target else None,
        execute=execute,
        fault_error=_fault_error(request, None),
        scope=scope,
        conflict=lambda: _error(request, "IDEMPOTENT_REQUEST_PROCESSING"),
    )


async def _lookup(request: web.Request, find, order_id: str | None) -> web.StreamResponse:
    def execute() -> Outcome:
        try:
            return _payment(request, find())
        except TossFailure as failure:
            return _error(request, failure.code)

    return await perform(
        request,
        gateway="toss",
        operation="lookup",
        order_id=order_id,
        execute=execute,
        fault_error=_fault_error(request, None),
    )


@_guard
async def get_by_key(request: web.Request) -> web.StreamResponse:
    _authenticate(request)
    key = request.match_info["paymentKey"]
    ledger = request.app["sandbox"].toss
    known = ledger.by_key.get(key)
    request["sandbox"]["paymentKey"] = key
    return await _lookup(request, lambda: ledger.get_by_key(key), known.order_id if known else None)


@_guard
async def get_by_order(request: web.Request) -> web.StreamResponse:
    _authenticate(request)
    order_id = request.match_info["orderId"]
    ledger = request.app["sandbox"].toss
    return await _lookup(request, lambda: ledger.get_by_order(order_id), order_id)


@_guard
async def settlements(request: web.Request) -> web.StreamResponse:
    _authenticate(request)
    query = request.query
    start, end = _date(query.get("startDate")), _date(query.get("endDate"))
    date_type = query.get("dateType", "soldDate")
    if date_type not in ("soldDate", "paidOutDate"):
        raise Refused("INVALID_REQUEST")
    page, size = _positive(query.get("page", "1")), _positive(query.get("size", "100"))
    if size > 5000:
        raise Refused("INVALID_REQUEST")
    ledger = request.app["sandbox"].toss

    def execute() -> Outcome:
        lines = [
            line
            for payment in ledger.by_key.values()
            for line in _settlement_lines(payment)
            if start <= date.fromisoformat(line[date_type]) <= end
        ]
        lines.sort(key=lambda line: (line["soldDate"], line["transactionKey"]))
        return Outcome(200, _dumps(lines[(page - 1) * size : page * size]))

    return await perform(
        request,
        gateway="toss",
        operation="settlements",
        order_id=None,
        execute=execute,
        fault_error=_fault_error(request, None),
    )


def _date(value: str | None) -> date:
    if not value:
        raise Refused("INVALID_REQUEST")
    try:
        return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    except ValueError as exc:
        raise Refused("INVALID_REQUEST") from exc


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise Refused("INVALID_REQUEST")
    return int(value)


def _settlement_lines(payment: TossPayment) -> list[dict]:
    if payment.approved_at is None:
        return []

    def line(amount: int, at: datetime, transaction_key: str, cancel: dict | None) -> dict:
        sold = at.astimezone(KST).date()
        fee = round(amount * SETTLEMENT_FEE_RATE)
        vat = round(amount / 11)
        return {
            "mId": MID,
            "paymentKey": payment.payment_key,
            "transactionKey": transaction_key,
            "orderId": payment.order_id,
            "currency": "KRW",
            "method": "카드",
            "amount": amount,
            "interestFee": 0,
            "fees": [{"type": "BASE", "fee": fee}],
            "supplyAmount": amount - vat,
            "vat": vat,
            "payOutAmount": amount - fee,
            "approvedAt": iso(payment.approved_at),
            "soldDate": sold.isoformat(),
            "paidOutDate": (sold + timedelta(days=2)).isoformat(),
            "card": {"issuerCode": "71", "acquirerCode": "71", "number": payment.card_number},
            "cancel": cancel,
        }

    lines = [line(payment.amount, payment.approved_at, payment.approve_transaction_key, None)]
    for c in payment.cancels:
        lines.append(
            line(
                -c.amount,
                c.canceled_at,
                c.transaction_key,
                {"cancelAmount": c.amount, "cancelReason": c.reason},
            )
        )
    return lines


async def not_found(request: web.Request) -> web.Response:
    request["sandbox"]["gateway"] = "toss"
    return respond(_error(request, "NOT_FOUND"))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/toss/v1/payments/confirm", confirm)
    app.router.add_get("/toss/v1/payments/orders/{orderId}", get_by_order)
    app.router.add_get("/toss/v1/payments/{paymentKey}", get_by_key)
    app.router.add_post("/toss/v1/payments/{paymentKey}/cancel", cancel)
    app.router.add_get("/toss/v1/settlements", settlements)
    app.router.add_route("*", "/toss/{tail:.*}", not_found)
