"""The buyer's side of KakaoPay: the page the ready URLs point at and its script shortcuts.

`GET /kakaopay/window?tid=..` (the next_redirect_*_url of ready) opens the payment page
(READY or SEND_TMS becomes OPEN_PAYMENT) with Pay, Cancel and Fail. Pay authenticates the
tid (AUTH_PASSWORD, a one-time pg_token) and redirects to approval_url?pg_token=.., as the
real waiting page does; Cancel sets QUIT_PAYMENT and redirects to cancel_url; Fail sets
FAIL_AUTH_PASSWORD and redirects to fail_url.

`POST /sandbox/kakaopay/authorize {"tid"}` does what Pay does, for scripts and tests, and
`POST /sandbox/kakaopay/buyer {"tid","status"}` moves a tid to any other buyer-side status
(SEND_TMS, OPEN_PAYMENT, SELECT_METHOD, ARS_WAITING, QUIT_PAYMENT, FAIL_AUTH_PASSWORD).
"""

import html
import json
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from gateways.sandbox.control import control_error
from gateways.sandbox.kakaopay.api import ledger_of
from gateways.sandbox.kakaopay.errors import KakaoFailure
from gateways.sandbox.kakaopay.payments import BEFORE_AUTH, KakaoPayment

GIVE_UP = {"cancel": "QUIT_PAYMENT", "fail": "FAIL_AUTH_PASSWORD"}
BUYER_STATUSES = (*BEFORE_AUTH[1:], "QUIT_PAYMENT", "FAIL_AUTH_PASSWORD")


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/html",
        text=f"""<!doctype html><html lang="ko"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;color:#191919}}
button{{font-size:1rem;padding:.6rem 1.4rem;margin-right:.5rem;border-radius:.4rem;border:0}}
.pay{{background:#ffeb00;color:#191919}} .cancel{{background:#e5e8eb}} .amount{{font-size:1.6rem}}
</style></head><body>{body}</body></html>""",
    )


def _bad_window(message: str) -> web.Response:
    body = f"<h1>결제를 진행할 수 없습니다</h1><p>{html.escape(message)}</p>"
    return _page("결제 오류", body, 400)


def _note(request: web.Request, operation: str, payment: KakaoPayment | None = None) -> None:
    request["sandbox"].update(gateway="kakaopay", operation=operation)
    if payment is not None:
        request["sandbox"].update(orderId=payment.partner_order_id, paymentKey=payment.tid)


def _redirect(payment: KakaoPayment, choice: str, pg_token: str | None) -> str:
    if choice == "pay":
        return _with_query(payment.approval_url, {"pg_token": pg_token})
    return payment.cancel_url if choice == "cancel" else payment.fail_url


def _choose(request: web.Request, payment: KakaoPayment, choice: str) -> str:
    """Do what the buyer chose; returns where the browser goes next."""
    ledger = ledger_of(request)
    if choice == "pay":
        return _redirect(payment, choice, ledger.authenticate(payment))
    ledger.give_up(payment, GIVE_UP[choice])
    return _redirect(payment, choice, None)


async def window(request: web.Request) -> web.Response:
    _note(request, "window")
    ledger = ledger_of(request)
    payment = ledger.by_tid.get(request.query.get("tid", ""))
    if payment is None:
        return _bad_window("존재하지 않는 결제 요청입니다. (tid)")
    _note(request, "window", payment)
    try:
        if payment.status in ("READY", "SEND_TMS"):
            ledger.progress(payment, "OPEN_PAYMENT")
        elif payment.status not in BEFORE_AUTH or ledger.expired(payment):
            raise KakaoFailure(-723 if ledger.expired(payment) else -783)
    except KakaoFailure as failure:
        return _bad_window(failure.message)
    return _page(
        "카카오페이 샌드박스 결제",
        f"""<h1>카카오페이 (샌드박스)</h1>
<p>{html.escape(payment.item_name)}, {payment.quantity}개</p>
<p class="amount"><strong>{payment.total:,}원</strong></p>
<form method="post" action="/kakaopay/window/submit">
<input type="hidden" name="tid" value="{html.escape(payment.tid)}">
<button class="pay" type="submit" name="choice" value="pay">결제하기</button>
<button class="cancel" type="submit" name="choice" value="cancel">취소</button>
<button class="cancel" type="submit" name="choice" value="fail">비밀번호 실패</button>
</form>""",
    )


async def window_submit(request: web.Request) -> web.Response:
    _note(request, "window")
    form = await request.post()
    payment = ledger_of(request).by_tid.get(str(form.get("tid", "")))
    choice = form.get("choice")
    if payment is None:
        return _bad_window("존재하지 않는 결제 요청입니다. (tid)")
    _note(request, "window", payment)
    if choice not in ("pay", "cancel", "fail"):
        return _bad_window("choice must be pay, cancel or fail")
    try:
        location = _choose(request, payment, choice)
    except KakaoFailure as failure:
        return _bad_window(failure.message)
    raise web.HTTPFound(location)


async def _tid_body(request: web.Request) -> tuple[dict | None, KakaoPayment | None]:
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("tid"), str):
        return None, None
    return body, ledger_of(request).by_tid.get(body["tid"])


def _conflict(failure: KakaoFailure) -> web.Response:
    return web.json_response(failure.body(), status=409)


async def authorize(request: web.Request) -> web.Response:
    """`POST /sandbox/kakaopay/authorize {"tid"}` -> {"tid","pg_token","status","redirectUrl"}."""
    _note(request, "authorize")
    body, payment = await _tid_body(request)
    if body is None:
        return control_error('the body must be {"tid": "..."}')
    if payment is None:
        return control_error("no such tid", 404, "NOT_FOUND")
    _note(request, "authorize", payment)
    try:
        location = _choose(request, payment, "pay")
    except KakaoFailure as failure:
        return _conflict(failure)
    return web.json_response(
        {
            "tid": payment.tid,
            "pg_token": payment.pg_token,
            "status": payment.status,
            "redirectUrl": location,
        }
    )


async def buyer(request: web.Request) -> web.Response:
    """`POST /sandbox/kakaopay/buyer {"tid","status"}`: any other buyer-side step."""
    _note(request, "buyer")
    body, payment = await _tid_body(request)
    if body is None or body.get("status") not in BUYER_STATUSES:
        return control_error(f"the body must be {{tid, status}}, status one of {BUYER_STATUSES}")
    if payment is None:
        return control_error("no such tid", 404, "NOT_FOUND")
    _note(request, "buyer", payment)
    status = body["status"]
    location = None
    try:
        if status in BEFORE_AUTH:
            ledger_of(request).progress(payment, status)
        else:
            choice = next(c for c, s in GIVE_UP.items() if s == status)
            location = _choose(request, payment, choice)
    except KakaoFailure as failure:
        return _conflict(failure)
    return web.json_response(
        {"tid": payment.tid, "status": payment.status, "redirectUrl": location}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/kakaopay/window", window)
    app.router.add_post("/kakaopay/window/submit", window_submit)
    app.router.add_post("/sandbox/kakaopay/authorize", authorize)
    app.router.add_post("/sandbox/kakaopay/buyer", buyer)
