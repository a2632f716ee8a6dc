"""NICEPAY Start API v1 under /nicepay, as https://api.nicepay.co.kr answers it.

Basic auth with clientKey:secretKey; JSON in and out; business results (success,
declines, duplicates) in `resultCode` with HTTP 200; signData checked on approve,
cancel and net-cancel; no idempotency header (a second approve answers 2201).
"""

import base64
import binascii
import json
import re

from aiohttp import web

from gateways.sandbox.faults import Fault
from gateways.sandbox.nicepay.payments import NiceFailure, NicePayment, payment_json, sha256_hex
from gateways.sandbox.pipeline import Outcome, perform

ORDER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# A request whose signData does not verify: the manual names no code for it (sandbox choice).
BAD_SIGNATURE = ("A100", "signData 검증 실패")


class Refused(Exception):
    def __init__(self, code: str, message: str, http_status: int = 200):
        super().__init__(code)
        self.code, self.message, self.http_status = code, message, http_status


def _dumps(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _result(
    code: str, message: str, payment: NicePayment | None = None, secret: str = "", **extra
) -> Outcome:
    if payment is None:
        return Outcome(200, _dumps({"resultCode": code, "resultMsg": message, **extra}))
    body = payment_json(payment, secret_key=secret, result_code=code, result_msg=message)
    return Outcome(200, _dumps({**body, **extra}))


def _authenticate(request: web.Request) -> str:
    """Returns the secret key of the merchant whose Basic credentials came with the request."""
    pairs = dict(request.app["sandbox"].config.nicepay_keys)
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    try:
        client, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client, secret = "", ""
    if scheme != "Basic" or pairs.get(client) != secret or not secret:
        raise Refused("U304", "Basic 인증에 실패했습니다.", 401)
    return secret


async def _body(request: web.Request) -> dict:
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError, web.HTTPRequestEntityTooLarge) as exc:
        raise Refused("A100", "요청 본문이 올바른 JSON이 아닙니다.") from exc
    if not isinstance(body, dict):
        raise Refused("A100", "요청 본문이 올바른 JSON이 아닙니다.")
    return body


def _field(body: dict, name: str, kind, *, required: bool = True):
    value = body.get(name)
    if value is None and not required:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or (isinstance(value, str) and not value)
    ):
        raise Refused("A100", f"{name} 필드가 올바르지 않습니다.")
    return value


def _guard(handler):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        request["sandbox"]["gateway"] = "nicepay"
        try:
            return await handler(request)
        except Refused as refused:
            request["sandbox"]["refused"] = refused.code
            body = {"resultCode": refused.code, "resultMsg": refused.message}
            return web.Response(
                status=refused.http_status, body=_dumps(body), content_type="application/json"
            )

    return wrapped


def _ledger(request):
    return request.app["sandbox"].ledgers["nicepay"]


def _fault_error(request: web.Request, payment: NicePayment | None, secret: str, execute=None):
    """An injected resultCode; card refusals (3xxx) decline the payment, as a real one does.

    A refusal only applies while the payment is open: an approved tid answers 2201.
    """

    def build(rule: Fault, committed: bool) -> Outcome:
        decided = payment is not None and payment.status != "authenticated"
        if not committed and rule.errorCode.startswith("3") and decided and execute:
            return execute()
        message = (
            "카드사 거절" if rule.errorCode.startswith("3") else "처리 중 오류가 발생했습니다."
        )
        if not committed and payment is not None and rule.errorCode.startswith("3"):
            _ledger(request).decline(payment, rule.errorCode, message)
        outcome = _result(rule.errorCode, message, payment, secret)
        outcome.status = rule.httpStatus or 200
        return outcome

    return build


def payment_changed(sandbox, payment: NicePayment) -> None:
    """NicePay's webhook: the response object as JSON; only HTTP 200 with body OK counts."""
    secret = dict(sandbox.config.nicepay_keys).get(payment.client_key, "")
    body = payment_json(payment, secret_key=secret, result_code="0000", result_msg="webhook")
    sandbox.webhooks.emit(
        "nicepay",
        payment.order_id,
        payment.status,
        _dumps(body),
        accept=lambda status, text: status == 200 and text.strip() == "OK",
    )


@_guard
async def approve(request: web.Request) -> web.StreamResponse:
    secret = _authenticate(request)
    tid = request.match_info["tid"]
    body = await _body(request)
    amount = _field(body, "amount", int)
    edi_date, sign = _field(body, "ediDate", str), _field(body, "signData", str)
    if sign != sha256_hex(tid, amount, edi_date, secret):
        raise Refused(*BAD_SIGNATURE)
    ledger = _ledger(request)
    payment = ledger.by_tid.get(tid)
    request["sandbox"].update(paymentKey=tid)

    def execute() -> Outcome:
        try:
            return _result("0000", "정상 처리되었습니다.", ledger.approve(tid, amount), secret)
        except NiceFailure as failure:
            return _result(failure.code, failure.message, ledger.by_tid.get(tid), secret)

    return await perform(
        request,
        gateway="nicepay",
        operation="approve",
        order_id=payment.order_id if payment else None,
        execute=execute,
        fault_error=_fault_error(request, payment, secret, execute),
    )


@_guard
async def cancel(request: web.Request) -> web.StreamResponse:
    secret = _authenticate(request)
    tid = request.match_info["tid"]
    body = await _body(request)
    reason, order_id = _field(body, "reason", str), _field(body, "orderId", str)
    amount = _field(body, "cancelAmt", int, required=False)
    edi_date, sign = _field(body, "ediDate", str), _field(body, "signData", str)
    if sign != sha256_hex(tid, edi_date, secret):
        raise Refused(*BAD_SIGNATURE)
    if amount is not None and amount < 1:
        raise Refused("A100", "cancelAmt 필드가 올바르지 않습니다.")
    ledger = _ledger(request)
    payment = ledger.by_tid.get(tid)
    request["sandbox"].update(paymentKey=tid)

    def execute() -> Outcome:
        try:
            done, entry = ledger.cancel(tid, amount=amount, reason=reason, order_id=order_id)
        except NiceFailure as failure:
            return _result(failure.code, failure.message, ledger.by_tid.get(tid), secret)
        body = payment_json(
            done,
            secret_key=secret,
            result_code="2001",
            result_msg="취소 성공",
            cancelled_tid=entry.tid,
        )
        return Outcome(200, _dumps(body))

    return await perform(
        request,
        gateway="nicepay",
        operation="cancel",
        order_id=payment.order_id if payment else None,
        execute=execute,
        fault_error=_fault_error(request, None, secret),
    )


@_guard
async def netcancel(request: web.Request) -> web.StreamResponse:
    secret = _authenticate(request)
    body = await _body(request)
    order_id = _field(body, "orderId", str)
    edi_date, sign = _field(body, "ediDate", str), _field(body, "signData", str)
    if sign != sha256_hex(order_id, edi_date, secret):
        raise Refused(*BAD_SIGNATURE)
    ledger = _ledger(request)

    def execute() -> Outcome:
        try:
            return _result("2001", "망취소 성공", ledger.netcancel(order_id), secret)
        except NiceFailure as failure:
            return _result(failure.code, failure.message)

    return await perform(
        request,
        gateway="nicepay",
        operation="netcancel",
        order_id=order_id,
        execute=execute,
        fault_error=_fault_error(request, None, secret),
    )


async def _lookup(request, secret: str, find, order_id: str | None) -> web.StreamResponse:
    def execute() -> Outcome:
        try:
            payment = find()
        except NiceFailure as failure:
            return _result(failure.code, failure.message)
        return _result("0000", "조회 성공", payment, secret)

    return await perform(
        request,
        gateway="nicepay",
        operation="lookup",
        order_id=order_id,
        execute=execute,
        fault_error=_fault_error(request, None, secret),
    )


@_guard
async def get_by_tid(request: web.Request) -> web.StreamResponse:
    secret = _authenticate(request)
    tid = request.match_info["tid"]
    known = _ledger(request).by_tid.get(tid)
    request["sandbox"].update(paymentKey=tid)
    return await _lookup(
        request, secret, lambda: _ledger(request).get(tid), known.order_id if known else None
    )


@_guard
async def find_by_order(request: web.Request) -> web.StreamResponse:
    secret = _authenticate(request)
    order_id = request.match_info["orderId"]
    order_date = request.query.get("orderDate", "")
    if not re.fullmatch(r"\d{8}", order_date):
        raise Refused("A100", "orderDate(YYYYMMDD)는 필수입니다.")
    return await _lookup(
        request, secret, lambda: _ledger(request).find(order_id, order_date), order_id
    )


async def not_found(request: web.Request) -> web.Response:
    request["sandbox"]["gateway"] = "nicepay"
    body = {"resultCode": "U404", "resultMsg": "존재하지 않는 API입니다."}
    return web.Response(status=404, body=_dumps(body), content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/nicepay/v1/payments/netcancel", netcancel)
    app.router.add_get("/nicepay/v1/payments/find/{orderId}", find_by_order)
    app.router.add_post("/nicepay/v1/payments/{tid}", approve)
    app.router.add_get("/nicepay/v1/payments/{tid}", get_by_tid)
    app.router.add_post("/nicepay/v1/payments/{tid}/cancel", cancel)
    app.router.add_route("*", "/nicepay/{tail:.*}", not_found)
