"""The buyer's side of Toss: the payment window and its script shortcut (docs/sandbox.md,
Toss buyer side).

`GET /toss/window` opens the window (a READY payment) and shows Pay and Cancel. Pay
authenticates it (IN_PROGRESS) and redirects to
successUrl?paymentType=NORMAL&orderId=..&paymentKey=..&amount=.., as the real window
does; Cancel redirects to failUrl?code=PAY_PROCESS_CANCELED&message=..&orderId=..
`POST /sandbox/toss/authorize` does what Pay does, for scripts and tests.
"""

import html
import json
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from gateways.sandbox.control import control_error
from gateways.sandbox.toss.api import ORDER_ID
from gateways.sandbox.toss.errors import error_message
from gateways.sandbox.toss.payments import TossFailure

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
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items()
        )
        + f'<input type="hidden" name="paymentKey" value="{payment.payment_key}">'
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
    try:
        sandbox.toss.authenticate(payment)
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
    """`POST /sandbox/toss/authorize {"orderId","amount"[,"orderName","partialCancelable"]}`."""
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
    request["sandbox"]["orderId"] = order_id
    try:
        payment = sandbox.toss.open_window(order_id=order_id, amount=amount, order_name=order_name)
        sandbox.toss.authenticate(payment, partial_cancelable=partial)
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
