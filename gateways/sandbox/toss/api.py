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
from datetime import date, datetime

from aiohttp import web

from gateways.sandbox import settlement
from gateways.sandbox.clock import KST, iso
from gateways.sandbox.faults import Fault
from gateways.sandbox.idempotency import MAX_KEY_LENGTH
from gateways.sandbox.pipeline import Outcome, perform, respond
from gateways.sandbox.toss.errors import ERRORS, error_message, error_status
from gateways.sandbox.toss.payments import (
    METHODS_EN,
    WEBHOOK_STATUSES,
    TossFailure,
    TossPayment,
    payment_json,
)

ORDER_ID = re.compile(r"^[A-Za-z0-9_\-=.]{6,64}$")
REVERSAL_REASON = "입금 취소"  # the settlement line of a reversed deposit
MAX_PAGE = 5000  # settlements' size and transactions' limit


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


def deposit_callback(sandbox, payment: TossPayment, status: str, transaction_key: str) -> None:
    """DEPOSIT_CALLBACK: a virtual account's deposit (status DONE) or its reversal
    (WAITING_FOR_DEPOSIT), with the payment's `secret` for the shop to compare. The body is
    the five fields Toss's example shows; `eventType` only when the setting asks for it
    (Toss documents nothing beyond `secret`)."""
    body = {
        "createdAt": sandbox.clock.now().replace(tzinfo=None).isoformat(timespec="microseconds"),
        "secret": payment.secret,
        "status": status,
        "transactionKey": transaction_key,
        "orderId": payment.order_id,
    }
    if sandbox.toss.va_callback_event_type:
        body = {"eventType": "DEPOSIT_CALLBACK", **body}
    sandbox.webhooks.emit("toss", payment.order_id, f"DEPOSIT_CALLBACK:{status}", _dumps(body))


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
    # Checked by the operation, only for a deposited virtual account (the rest ignore it);
    # never written to the request log: it carries the buyer's account number.
    refund_account = body.get("refundReceiveAccount")
    if refund_account is not None and not isinstance(refund_account, dict):
        raise Refused("INVALID_REQUEST")
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
                refund_account=refund_account,
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
    if size > MAX_PAGE:
        raise Refused("INVALID_REQUEST")
    ledger = request.app["sandbox"].toss

    def execute() -> Outcome:
        lines = [
            _settlement_line(row, ledger.by_key[row.payment_key])
            for row in settlement.transactions("toss", ledger)
            if start <= (row.day if date_type == "soldDate" else row.payout_date) <= end
        ]
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


def _settlement_line(row: settlement.Transaction, payment: TossPayment) -> dict:
    """One Settlement object: fees from the sandbox's table (settlement.py), signed amounts."""
    amount = row.signed_amount
    vat = round(amount / 11)
    cancel = None
    if row.kind == settlement.CANCEL:
        reason = next(
            (c.reason for c in payment.cancels if c.transaction_key == row.transaction_key),
            REVERSAL_REASON,  # a deposit the bank network took back
        )
        cancel = {"cancelAmount": row.amount, "cancelReason": reason}
    card = virtual_account = None
    if payment.virtual_account is not None:
        virtual_account = {
            "accountType": "일반",
            "accountNumber": payment.virtual_account.account_number,
            "bankCode": payment.virtual_account.bank_code,
        }
    else:
        card = {"issuerCode": "71", "acquirerCode": "71", "number": payment.card_number}
    return {
        "mId": row.merchant_id,
        "paymentKey": row.payment_key,
        "transactionKey": row.transaction_key,
        "orderId": row.order_id,
        "currency": "KRW",
        "method": row.method,
        "amount": amount,
        "interestFee": 0,
        "fees": [{"type": "BASE", "fee": row.fee}],
        "supplyAmount": amount - vat,
        "vat": vat,
        "payOutAmount": row.payout_amount,
        "approvedAt": iso(row.approved_at),
        "soldDate": row.day.isoformat(),
        "paidOutDate": row.payout_date.isoformat(),
        "card": card,
        "virtualAccount": virtual_account,
        "cancel": cancel,
    }


@_guard
async def transactions(request: web.Request) -> web.StreamResponse:
    """GET /v1/transactions: one Transaction per approval and per cancel, in order of
    transactionAt then transactionKey; `startingAfter` is the last key a client has."""
    _authenticate(request)
    query = request.query
    start, end = _moment(query.get("startDate")), _moment(query.get("endDate"))
    limit = _positive(query.get("limit", "100"))
    if limit > MAX_PAGE or start > end:
        raise Refused("INVALID_REQUEST")
    after = query.get("startingAfter")
    ledger = request.app["sandbox"].toss
    base = f"{request.scheme}://{request.host}/toss"

    def execute() -> Outcome:
        rows = settlement.transactions("toss", ledger, start=start, end=end)
        if after is not None:
            # The cursor is placed by its own time and key, so it works even when that row
            # lies outside this window. A key Toss never gave out: the sandbox's choice.
            cursor = next(
                (r for r in settlement.toss_rows(ledger) if r.transaction_key == after), None
            )
            if cursor is None:
                return _error(request, "INVALID_REQUEST")
            rows = [r for r in rows if r.order_key > cursor.order_key]
        body = [_transaction_json(r, base, _english(request)) for r in rows[:limit]]
        return Outcome(200, _dumps(body))

    return await perform(
        request,
        gateway="toss",
        operation="transactions",
        order_id=None,
        execute=execute,
        fault_error=_fault_error(request, None),
    )


def _moment(value: str | None) -> datetime:
    """An ISO 8601 date (00:00 KST) or date-time (KST unless it has an offset)."""
    if not value:
        raise Refused("INVALID_REQUEST")
    try:
        if "T" not in value:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=KST)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Refused("INVALID_REQUEST") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=KST)


def _transaction_json(row: settlement.Transaction, base_url: str, english: bool) -> dict:
    if row.status is not None:  # a deposit's reversal: WAITING_FOR_DEPOSIT again
        status = row.status
    elif row.kind == settlement.APPROVAL:
        status = "DONE"
    else:  # the payment's status right after this cancel
        status = "CANCELED" if row.balance_after == 0 else "PARTIAL_CANCELED"
    return {
        "mId": row.merchant_id,
        "transactionKey": row.transaction_key,
        "paymentKey": row.payment_key,
        "orderId": row.order_id,
        "method": METHODS_EN.get(row.method, row.method) if english else row.method,
        "customerKey": None,
        "useEscrow": False,
        "receiptUrl": f"{base_url}/receipt/{row.payment_key}",
        "status": status,
        "transactionAt": iso(row.at),
        "currency": "KRW",
        "amount": row.amount,
    }


async def not_found(request: web.Request) -> web.Response:
    request["sandbox"]["gateway"] = "toss"
    return respond(_error(request, "NOT_FOUND"))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/toss/v1/payments/confirm", confirm)
    app.router.add_get("/toss/v1/payments/orders/{orderId}", get_by_order)
    app.router.add_get("/toss/v1/payments/{paymentKey}", get_by_key)
    app.router.add_post("/toss/v1/payments/{paymentKey}/cancel", cancel)
    app.router.add_get("/toss/v1/settlements", settlements)
    app.router.add_get("/toss/v1/transactions", transactions)
    app.router.add_route("*", "/toss/{tail:.*}", not_found)
