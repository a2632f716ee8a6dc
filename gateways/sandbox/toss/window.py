"""The buyer's side of Toss: the payment window and its script shortcut (docs/sandbox.md,
Toss buyer side).

`GET /toss/window` opens the window (a READY payment) and shows Pay and Cancel. Pay
authenticates it (IN_PROGRESS) and redirects to
successUrl?paymentType=NORMAL&orderId=..&paymentKey=..&amount=.., as the real window
does; Cancel redirects to failUrl?code=PAY_PROCESS_CANCELED&message=..&orderId=..
`POST /sandbox/toss/authorize` does what Pay does, for scripts and tests.

Beside the card the window offers 가상계좌 (a virtual account, with a bank to choose):
it authenticates the same way and redirects to the same successUrl; the shop's confirm
then issues the account (WAITING_FOR_DEPOSIT) instead of approving. The optional window
parameters `customerName` and `validHours` (1 to 720) go into the account.
"""

import html
import json
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from gateways.sandbox.control import control_error
from gateways.sandbox.toss.api import ORDER_ID
from gateways.sandbox.toss.errors import error_message
from gateways.sandbox.toss.payments import (
    BANKS,
    DEFAULT_BANK,
    DEFAULT_CUSTOMER_NAME,
    MAX_VALID_HOURS,
    TossFailure,
    VirtualAccount,
)

DECLINE_CODE = "REJECT_CARD_COMPANY"


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/html",
        text=f"""<!doctype html><html lang="ko"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;color:#191f28}}
button{{font-size:1rem;padding:.6rem 1.4rem;margin-right:.5rem;border-radius:.4rem;border:0}}
.pay{{background:#3182f6;color:#fff}} .cancel{{background:#e5e8eb}} .amount{{font-size:1.6rem}}
</style></head><body>{body}</body></html>""",
    )


def _bad_window(message: str) -> web.Response:
    return _page("결제 오류", f"<h1>결제창을 열 수 없습니다</h1><p>{html.escape(message)}</p>", 400)


def _window_params(source) -> tuple[dict, str | None]:
    """Validate what the shop passed to the window; returns (params, problem)."""
    params = {
        k: source.get(k, "")
        for k in ("clientKey", "orderId", "amount", "orderName", "successUrl", "failUrl")
    }
    for name, value in params.items():
        if not value:
            return params, f"{name} is required"
    if not ORDER_ID.match(params["orderId"]):
        return params, "orderId must be 6 to 64 characters of letters, digits, - and _"
    if not params["amount"].isdigit() or int(params["amount"]) < 1:
        return params, "amount must be a positive integer"
    for name in ("successUrl", "failUrl"):
        if urlsplit(params[name]).scheme not in ("http", "https"):
            return params, f"{name} must be an http(s) URL"
    return params, None


def _virtual_account(bank, customer_name, valid_hours) -> tuple[VirtualAccount | None, str | None]:
    """The buyer's virtual-account choice from its raw values; (account, problem)."""
    if not isinstance(bank, str) or bank not in BANKS:
        return None, f"bank must be one of Toss's bank codes ({', '.join(sorted(BANKS))})"
    if not isinstance(customer_name, str) or not 1 <= len(customer_name) <= 100:
        return None, "customerName must be 1 to 100 characters"
    if isinstance(valid_hours, str) and valid_hours.isdigit():
        valid_hours = int(valid_hours)
    if valid_hours is not None and (
        isinstance(valid_hours, bool)
        or not isinstance(valid_hours, int)
        or not 1 <= valid_hours <= MAX_VALID_HOURS
    ):
        return None, f"validHours must be an integer from 1 to {MAX_VALID_HOURS}"
    return VirtualAccount(
        bank_code=bank, customer_name=customer_name, valid_hours=valid_hours
    ), None


def _optional(source) -> dict:
    """The window's optional parameters, carried through its form."""
    return {k: source[k] for k in ("customerName", "validHours") if source.get(k)}


async def window(request: web.Request) -> web.Response:
    request["sandbox"].update(gateway="toss", operation="window")
    sandbox = request.app["sandbox"]
    params, problem = _window_params(request.query)
    if problem:
        return _bad_window(problem)
    if params["clientKey"] not in sandbox.config.toss_client_keys:
        return _bad_window(error_message("UNAUTHORIZED_KEY", english=False))
    request["sandbox"]["orderId"] = params["orderId"]
    try:
        payment = sandbox.toss.open_window(
            order_id=params["orderId"], amount=int(params["amount"]), order_name=params["orderName"]
        )
    except TossFailure as failure:
        return _bad_window(error_message(failure.code, english=False))
    hidden = (
        "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
            for k, v in {**params, **_optional(request.query)}.items()
        )
        + f'<input type="hidden" name="paymentKey" value="{payment.payment_key}">'
    )
    banks = "".join(
        f'<option value="{code}"{" selected" if code == DEFAULT_BANK else ""}>'
        f"{html.escape(name)}</option>"
        for code, name in sorted(BANKS.items())
    )
    return _page(
        "토스페이먼츠 샌드박스 결제",
        f"""<h1>토스페이먼츠 (샌드박스)</h1>
<p>{html.escape(params["orderName"])}</p>
<p class="amount"><strong>{int(params["amount"]):,}원</strong></p>
<form method="post" action="/toss/window/pay">{hidden}
<button class="pay" type="submit" name="choice" value="pay">결제하기</button>
<button class="cancel" type="submit" name="choice" value="cancel">취소</button>
<button class="cancel" type="submit" name="choice" value="decline">카드사 거절</button>
<p>가상계좌 <select name="bank">{banks}</select>
<button class="pay" type="submit" name="choice" value="virtual_account">가상계좌 발급</button></p>
</form>""",
    )


async def window_submit(request: web.Request) -> web.Response:
    request["sandbox"].update(gateway="toss", operation="window")
    sandbox = request.app["sandbox"]
    form = await request.post()
    params, problem = _window_params(form)
    if problem:
        return _bad_window(problem)
    payment = sandbox.toss.by_key.get(form.get("paymentKey", ""))
    if payment is None or payment.order_id != params["orderId"]:
        return _bad_window(error_message("NOT_FOUND_PAYMENT_SESSION", english=False))
    request["sandbox"].update(orderId=payment.order_id, paymentKey=payment.payment_key)
    choice = form.get("choice")
    if choice in ("cancel", "decline"):
        code = "PAY_PROCESS_CANCELED" if choice == "cancel" else DECLINE_CODE
        message = (
            "사용자에 의해 결제가 취소되었습니다."
            if choice == "cancel"
            else error_message(DECLINE_CODE, False)
        )
        raise web.HTTPFound(
            _with_query(
                params["failUrl"], {"code": code, "message": message, "orderId": payment.order_id}
            )
        )
    account = None
    if choice == "virtual_account":
        account, problem = _virtual_account(
            form.get("bank", DEFAULT_BANK),
            form.get("customerName") or DEFAULT_CUSTOMER_NAME,
            form.get("validHours") or None,
        )
        if problem:
            return _bad_window(problem)
    try:
        sandbox.toss.authenticate(payment, virtual_account=account)
    except TossFailure as failure:
        return _bad_window(error_message(failure.code, english=False))
    raise web.HTTPFound(
        _with_query(
            params["successUrl"],
            {
                "paymentType": "NORMAL",
                "orderId": payment.order_id,
                "paymentKey": payment.payment_key,
                "amount": payment.amount,
            },
        )
    )


async def authorize(request: web.Request) -> web.Response:
    """`POST /sandbox/toss/authorize {"orderId","amount"[,"orderName","partialCancelable",
    "method","bank","customerName","validHours"]}`; method CARD (default) or
    VIRTUAL_ACCOUNT, whose bank (default 20), customerName and validHours it takes."""
    request["sandbox"].update(gateway="toss", operation="authorize")
    sandbox = request.app["sandbox"]
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        return control_error("the body must be a JSON object")
    order_id, amount = body.get("orderId"), body.get("amount")
    order_name = body.get("orderName", "샌드박스 주문")
    partial = body.get("partialCancelable", True)
    if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
        return control_error("orderId must be 6 to 64 characters of letters, digits, - and _")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        return control_error("amount must be a positive integer")
    if not isinstance(order_name, str) or not 1 <= len(order_name) <= 100:
        return control_error("orderName must be 1 to 100 characters")
    if not isinstance(partial, bool):
        return control_error("partialCancelable must be true or false")
    method = body.get("method", "CARD")
    if method not in ("CARD", "VIRTUAL_ACCOUNT"):
        return control_error("method must be CARD or VIRTUAL_ACCOUNT")
    account = None
    if method == "VIRTUAL_ACCOUNT":
        account, problem = _virtual_account(
            body.get("bank", DEFAULT_BANK),
            body.get("customerName", DEFAULT_CUSTOMER_NAME),
            body.get("validHours"),
        )
        if problem:
            return control_error(problem)
    elif {"bank", "customerName", "validHours"} & set(body):
        return control_error("bank, customerName and validHours need method VIRTUAL_ACCOUNT")
    request["sandbox"]["orderId"] = order_id
    try:
        payment = sandbox.toss.open_window(order_id=order_id, amount=amount, order_name=order_name)
        sandbox.toss.authenticate(payment, partial_cancelable=partial, virtual_account=account)
    except TossFailure as failure:
        return web.json_response(
            {"code": failure.code, "message": error_message(failure.code, english=True)}, status=409
        )
    request["sandbox"]["paymentKey"] = payment.payment_key
    return web.json_response(
        {
            "paymentKey": payment.payment_key,
            "orderId": order_id,
            "amount": amount,
            "status": payment.status,
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/toss/window", window)
    app.router.add_post("/toss/window/pay", window_submit)
    app.router.add_post("/sandbox/toss/authorize", authorize)
