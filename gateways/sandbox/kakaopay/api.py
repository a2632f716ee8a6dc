"""KakaoPay's new online payment API under /kakaopay, as https://open-api.kakaopay.com
answers it (docs/pg.md, KakaoPay: endpoints we call). The old kapi.kakao.com generation
(KakaoAK keys, form bodies, {"code","msg"} errors) is not emulated.

Every request: `Authorization: SECRET_KEY <key>` or `DEV_SECRET_KEY <key>` with a
configured key (else 401, -401), a JSON object body, a configured `cid` (else -731), then
the operation through the fault pipeline. KakaoPay has no idempotency header: nothing is
replayed; a second approve of a tid is refused instead. Errors are
{"error_code": <negative int>, "error_message": ...} (errors.py), never a 500 for bad input.

Injected faults (`PUT /sandbox/faults`, gateway "kakaopay", operations ready, approve,
cancel, lookup) take a KakaoPay code as errorCode, e.g. "-780". The HTTP status is the
rule's httpStatus, else 500 when the code's digits start with 5, else the table's status
for a known code (400 for every -7xx), else 400. On approve, "-780" is a final decline:
the tid becomes FAIL_PAYMENT and the answer carries extras.method_result_code USER_LOCKED;
a provider reason in place of a number (errorCode "LACK_BALANCE") declines the same way
with that reason. Every other code is transient: nothing changes, unless the rule has
`commit`, in which case the work is done first and the error is the answer.
"""

import json
import re
from urllib.parse import urlsplit

from aiohttp import web

from gateways.sandbox.faults import Fault
from gateways.sandbox.kakaopay.errors import ERRORS, KakaoFailure
from gateways.sandbox.kakaopay.payments import (
    KakaoPayment,
    approve_json,
    cancel_json,
    decline_extras,
    order_json,
    ready_json,
    vat_of,
)
from gateways.sandbox.pipeline import Outcome, perform, respond

GATEWAY = "kakaopay"
AUTH_PREFIXES = ("SECRET_KEY", "DEV_SECRET_KEY")
DECLINE_CODE = -780
DEFAULT_DECLINE_REASON = "USER_LOCKED"
MAX_AMOUNT = 10**12
_NUMBER = re.compile(r"^-?\d{1,9}$")


def _dumps(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _error(failure: KakaoFailure) -> Outcome:
    return Outcome(failure.status, _dumps(failure.body()), store=False)


def _ok(body: dict) -> Outcome:
    return Outcome(200, _dumps(body))


def ledger_of(request: web.Request):
    return request.app["sandbox"].ledgers[GATEWAY]


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


# --- request checks ---------------------------------------------------------------------


def _authenticate(request: web.Request) -> None:
    """SECRET_KEY (documented) or DEV_SECRET_KEY (seen in public test code) + a known key."""
    keys = request.app["sandbox"].config.kakaopay_secret_keys
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme not in AUTH_PREFIXES or not key.strip() or key.strip() not in keys:
        raise KakaoFailure(-401)


async def _json_body(request: web.Request) -> dict:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise KakaoFailure(-2, "request body too large", status=413) from exc
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:
        raise KakaoFailure(-2, "request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise KakaoFailure(-2, "request body must be a JSON object")
    return body


def _text(body: dict, name: str, max_length: int, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if value is None:
        raise KakaoFailure(-2, f"{name} is required")
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise KakaoFailure(-2, f"{name} must be a string of 1 to {max_length} characters")
    return value


def _int(
    body: dict, name: str, *, minimum: int = 0, maximum: int = MAX_AMOUNT, required: bool = True
) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if value is None:
        raise KakaoFailure(-2, f"{name} is required")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != value  # NaN
        or value in (float("inf"), float("-inf"))
        or value != int(value)
        or not minimum <= value <= maximum
    ):
        raise KakaoFailure(-2, f"{name} must be an integer from {minimum} to {maximum}")
    return int(value)


def _url(body: dict, name: str) -> str:
    value = _text(body, name, 255)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise KakaoFailure(-2, f"{name} must be an http(s) URL")
    return value


def _cid(request: web.Request, body: dict) -> str:
    cid = _text(body, "cid", 10)
    if cid not in request.app["sandbox"].config.kakaopay_cids:
        raise KakaoFailure(-731)
    _text(body, "cid_secret", 24, required=False)  # accepted, not checked
    return cid


def _fault_error(request: web.Request, operation: str, payment: KakaoPayment | None = None):
    """The answer for an injected errorCode; a decline at approve fails the tid first."""

    def build(rule: Fault, committed: bool) -> Outcome:
        text = rule.errorCode
        numeric = bool(_NUMBER.match(text))
        known = ERRORS.get(int(text)) if numeric else None
        status = rule.httpStatus or (
            500 if text.lstrip("-").startswith("5") else known.status if known else 400
        )
        if operation == "approve" and (not numeric or int(text) == DECLINE_CODE):
            reason = text if not numeric else DEFAULT_DECLINE_REASON
            if not committed and payment is not None:
                ledger_of(request).decline(payment, reason)
            failure = KakaoFailure(DECLINE_CODE, status=status, extras=decline_extras(reason))
        elif numeric:
            failure = KakaoFailure(int(text), status=status)
        else:  # a provider reason on another operation: a failure carrying that reason
            code = -781 if operation == "cancel" else -1
            failure = KakaoFailure(code, status=status, extras=decline_extras(text))
        return _error(failure)

    return build


def _guard(handler):
    """Turn KakaoFailure into the KakaoPay error answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        request["sandbox"]["gateway"] = GATEWAY
        try:
            return await handler(request)
        except KakaoFailure as failure:
            request["sandbox"]["refused"] = failure.code
            return respond(_error(failure))

    return wrapped


def _run(work):
    """execute() for perform: the work's body, or the KakaoPay error it raised."""

    def execute() -> Outcome:
        try:
            return _ok(work())
        except KakaoFailure as failure:
            return _error(failure)

    return execute


# --- operations -------------------------------------------------------------------------


@_guard
async def ready(request: web.Request) -> web.StreamResponse:
    _authenticate(request)
    body = await _json_body(request)
    cid = _cid(request, body)
    order_id = _text(body, "partner_order_id", 100)
    fields = {
        "cid": cid,
        "partner_order_id": order_id,
        "partner_user_id": _text(body, "partner_user_id", 100),
        "item_name": _text(body, "item_name", 100),
        "item_code": _text(body, "item_code", 100, required=False),
        "quantity": _int(body, "quantity", minimum=1, maximum=10**9),
        "total": _int(body, "total_amount", minimum=1),
        "tax_free": _int(body, "tax_free_amount"),
        "approval_url": _url(body, "approval_url"),
        "cancel_url": _url(body, "cancel_url"),
        "fail_url": _url(body, "fail_url"),
        "install_month": _int(body, "install_month", maximum=12, required=False) or 0,
        "green_deposit": _int(body, "green_deposit", required=False) or 0,
    }
    method = body.get("payment_method_type")
    if method is not None and method not in ("CARD", "MONEY"):
        raise KakaoFailure(-2, "payment_method_type must be CARD or MONEY")
    fields["requested_method"] = method
    taxable = fields["total"] - fields["tax_free"]
    if taxable < 0:
        raise KakaoFailure(-722, "tax_free_amount exceeds total_amount")
    vat = _int(body, "vat_amount", required=False)
    if vat is not None and vat > taxable:
        raise KakaoFailure(-722, "vat_amount exceeds the taxable amount")
    fields["vat"] = vat_of(taxable) if vat is None else vat
    if fields["green_deposit"] > fields["total"]:
        raise KakaoFailure(-722, "green_deposit exceeds total_amount")
    ledger = ledger_of(request)

    def work() -> dict:
        payment = ledger.ready(**fields)
        request["sandbox"]["paymentKey"] = payment.tid
        return ready_json(payment, f"{base_url(request)}/kakaopay/window?tid={payment.tid}")

    return await perform(
        request,
        gateway=GATEWAY,
        operation="ready",
        order_id=order_id,
        execute=_run(work),
        fault_error=_fault_error(request, "ready"),
    )


@_guard
async def approve(request: web.Request) -> web.StreamResponse:
    _authenticate(request)
    body = await _json_body(request)
    cid = _cid(request, body)
    tid = _text(body, "tid", 100)
    order_id = _text(body, "partner_order_id", 100)
    user_id = _text(body, "partner_user_id", 100)
    pg_token = _text(body, "pg_token", 100)
    total = _int(body, "total_amount", minimum=1, required=False)
    payload = _text(body, "payload", 200, required=False)
    ledger = ledger_of(request)
    request["sandbox"]["paymentKey"] = tid
    target = ledger.by_tid.get(tid)
    if target is not None and (target.cid != cid or target.partner_order_id != order_id):
        target = None  # a decline only fails the tid the request really names

    def work() -> dict:
        payment = ledger.approve(
            cid=cid,
            tid=tid,
            partner_order_id=order_id,
            partner_user_id=user_id,
            pg_token=pg_token,
            total_amount=total,
            payload=payload,
        )
        return approve_json(payment)

    return await perform(
        request,
        gateway=GATEWAY,
        operation="approve",
        order_id=target.partner_order_id if target else order_id,
        execute=_run(work),
        fault_error=_open_only(_fault_error(request, "approve", target), target, _run(work)),
    )


def _open_only(build, payment: KakaoPayment | None, execute):
    """A decline only applies to a tid still waiting for approval: an approved one answers
    a repeated approve as KakaoPay does (already approved), not with a fresh refusal."""

    def guarded(rule: Fault, committed: bool) -> Outcome:
        declining = rule.errorCode == str(DECLINE_CODE) or not _NUMBER.match(rule.errorCode)
        if (
            declining
            and not committed
            and payment is not None
            and payment.status != "AUTH_PASSWORD"
        ):
            return execute()
        return build(rule, committed)

    return guarded


@_guard
async def order(request: web.Request) -> web.StreamResponse:
    _authenticate(request)
    body = await _json_body(request)
    cid = _cid(request, body)
    tid = _text(body, "tid", 100)
    ledger = ledger_of(request)
    request["sandbox"]["paymentKey"] = tid
    known = ledger.by_tid.get(tid)

    return await perform(
        request,
        gateway=GATEWAY,
        operation="lookup",
        order_id=known.partner_order_id if known else None,
        execute=_run(lambda: order_json(ledger.find(cid, tid))),
        fault_error=_fault_error(request, "lookup"),
    )


@_guard
async def cancel(request: web.Request) -> web.StreamResponse:
    _authenticate(request)
    body = await _json_body(request)
    cid = _cid(request, body)
    tid = _text(body, "tid", 100)
    amount = _int(body, "cancel_amount", minimum=1)
    tax_free = _int(body, "cancel_tax_free_amount")
    vat = _int(body, "cancel_vat_amount", required=False)
    available = _int(body, "cancel_available_amount", required=False)
    payload = _text(body, "payload", 200, required=False)
    if tax_free > amount:
        raise KakaoFailure(-722, "cancel_tax_free_amount exceeds cancel_amount")
    ledger = ledger_of(request)
    request["sandbox"]["paymentKey"] = tid
    known = ledger.by_tid.get(tid)

    def work() -> dict:
        payment, action = ledger.cancel(
            cid=cid,
            tid=tid,
            amount=amount,
            tax_free=tax_free,
            vat=vat,
            available=available,
            payload=payload,
        )
        return cancel_json(payment, action)

    return await perform(
        request,
        gateway=GATEWAY,
        operation="cancel",
        order_id=known.partner_order_id if known else None,
        execute=_run(work),
        fault_error=_fault_error(request, "cancel"),
    )


async def not_found(request: web.Request) -> web.Response:
    request["sandbox"]["gateway"] = GATEWAY
    return respond(_error(KakaoFailure(-404)))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/kakaopay/online/v1/payment/ready", ready)
    app.router.add_post("/kakaopay/online/v1/payment/approve", approve)
    app.router.add_post("/kakaopay/online/v1/payment/order", order)
    app.router.add_post("/kakaopay/online/v1/payment/cancel", cancel)
    app.router.add_route("*", "/kakaopay/{tail:.*}", not_found)
