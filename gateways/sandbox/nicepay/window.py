"""The buyer's side of NicePay: the payment window, which POSTs its result to returnUrl.

`GET /nicepay/window?clientId&orderId&amount&goodsName&returnUrl` shows Pay and Cancel.
Pay authenticates (a tid and an authToken) and posts, as a form, authResultCode=0000,
tid, clientId, orderId, amount, authToken and signature = sha256(authToken + clientId +
amount + secretKey) to returnUrl; Cancel posts authResultCode=9999 and no tid.
`POST /sandbox/nicepay/authorize {"orderId","amount"}` does what Pay does, for scripts.
"""

import html
import json
from urllib.parse import urlsplit

from aiohttp import web

from gateways.sandbox.control import control_error
from gateways.sandbox.nicepay.api import ORDER_ID
from gateways.sandbox.nicepay.payments import NiceFailure, sha256_hex

CANCELLED = ("9999", "사용자가 결제를 취소했습니다.")


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/html",
        text='<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        "<title>NICEPAY 샌드박스</title></head>"
        f'<body style="font-family:sans-serif;max-width:28rem;margin:3rem auto">{body}'
        "</body></html>",
    )


def _params(source) -> tuple[dict, str | None]:
    params = {
        k: source.get(k, "") for k in ("clientId", "orderId", "amount", "goodsName", "returnUrl")
    }
    missing = [k for k, v in params.items() if not v]
    if missing:
        return params, f"{missing[0]} is required"
    if (
        not ORDER_ID.match(params["orderId"])
        or not params["amount"].isdigit()
        or int(params["amount"]) < 1
    ):
        return params, "orderId or amount is not valid"
    if urlsplit(params["returnUrl"]).scheme not in ("http", "https"):
        return params, "returnUrl must be an http(s) URL"
    return params, None


def _secret_for(request: web.Request, client_id: str) -> str | None:
    return dict(request.app["sandbox"].config.nicepay_keys).get(client_id)


def _authenticated(request: web.Request, params: dict) -> dict:
    """Authenticate the buyer; the fields NicePay posts to returnUrl."""
    secret = _secret_for(request, params["clientId"])
    payment = (
        request.app["sandbox"]
        .ledgers["nicepay"]
        .authenticate(
            order_id=params["orderId"],
            amount=int(params["amount"]),
            goods_name=params["goodsName"],
            client_key=params["clientId"],
        )
    )
    request["sandbox"].update(orderId=payment.order_id, paymentKey=payment.tid)
    return {
        "authResultCode": "0000",
        "authResultMsg": "인증 성공",
        "tid": payment.tid,
        "clientId": params["clientId"],
        "orderId": payment.order_id,
        "amount": str(payment.amount),
        "mallReserved": "",
        "authToken": payment.auth_token,
        "signature": sha256_hex(payment.auth_token, params["clientId"], payment.amount, secret),
    }


async def window(request: web.Request) -> web.Response:
    request["sandbox"].update(gateway="nicepay", operation="window")
    params, problem = _params(request.query)
    if problem or _secret_for(request, params["clientId"]) is None:
        return _page(
            f"<h1>결제창을 열 수 없습니다</h1><p>{html.escape(problem or 'unknown clientId')}</p>",
            400,
        )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items()
    )
    return _page(
        f"<h1>NICEPAY (샌드박스)</h1><p>{html.escape(params['goodsName'])}</p>"
        f"<p><strong>{int(params['amount']):,}원</strong></p>"
        f'<form method="post" action="/nicepay/window/pay">{hidden}'
        '<button name="choice" value="pay">결제하기</button> '
        '<button name="choice" value="cancel">취소</button>'
        "</form>"
    )


async def window_submit(request: web.Request) -> web.Response:
    request["sandbox"].update(gateway="nicepay", operation="window")
    form = await request.post()
    params, problem = _params(form)
    if problem or _secret_for(request, params["clientId"]) is None:
        return _page(f"<p>{html.escape(problem or 'unknown clientId')}</p>", 400)
    if form.get("choice") == "pay":
        try:
            fields = _authenticated(request, params)
        except NiceFailure as failure:
            fields = {
                "authResultCode": failure.code,
                "authResultMsg": failure.message,
                "orderId": params["orderId"],
                "amount": params["amount"],
                "clientId": params["clientId"],
            }
    else:
        fields = {
            "authResultCode": CANCELLED[0],
            "authResultMsg": CANCELLED[1],
            "orderId": params["orderId"],
            "amount": params["amount"],
            "clientId": params["clientId"],
        }
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(str(v))}">' for k, v in fields.items()
    )
    return _page(
        f'<form id="r" method="post" action="{html.escape(params["returnUrl"])}">{inputs}'
        '<noscript><button>계속</button></noscript></form><script>document.getElementById("r").submit()</script>'
    )


async def authorize(request: web.Request) -> web.Response:
    request["sandbox"].update(gateway="nicepay", operation="authorize")
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        return control_error("the body must be a JSON object")
    keys = request.app["sandbox"].config.nicepay_keys
    params = {
        "clientId": body.get("clientId", keys[0][0] if keys else ""),
        "orderId": body.get("orderId"),
        "amount": body.get("amount"),
        "goodsName": body.get("goodsName", "샌드박스 상품"),
        "returnUrl": "http://sandbox.invalid/",
    }
    if (
        not isinstance(params["amount"], int)
        or isinstance(params["amount"], bool)
        or params["amount"] < 1
    ):
        return control_error("amount must be a positive integer")
    params["amount"] = str(params["amount"])
    if not isinstance(params["orderId"], str):
        return control_error("orderId must be a string")
    _, problem = _params(params)
    if problem or _secret_for(request, params["clientId"]) is None:
        return control_error(problem or "unknown clientId")
    try:
        fields = _authenticated(request, params)
    except NiceFailure as failure:
        return web.json_response({"code": failure.code, "message": failure.message}, status=409)
    return web.json_response(fields)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/nicepay/window", window)
    app.router.add_post("/nicepay/window/pay", window_submit)
    app.router.add_post("/sandbox/nicepay/authorize", authorize)
