"""A minimal shop frontend (server-rendered), so `make run` shows the whole flow in a browser.

    /shop/                     products, a buy button each (log in first)
    /shop/buy                  checkout, then off to the PG's payment window
    /shop/payments/success     where the window returns: the server confirms here
    /shop/payments/fail        where the window returns on cancel or decline
    /shop/orders/<orderId>     a buyer's order, and the bank account a late deposit's
                               refund waits for

It calls the same services as the API. The window it opens is the sandbox's
(`PG_SANDBOX_URL/toss/window`); with the real Toss a frontend opens Toss's own window
with its JS SDK instead.
"""

from contextlib import suppress
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ValidationError

from config.api.errors import http_status_of
from config.errors import DomainError
from payments.inputs import CancelInput, CheckoutInput, ConfirmInput, form_integer, validated
from payments.selectors import payment_detail_of, payment_get_for_buyer
from payments.services.cancel import payment_cancel_unpaid, payment_refund_to_account
from payments.services.checkout import payment_checkout
from payments.services.confirm import payment_confirm
from payments.services.pg import pg_refund_banks
from payments.services.refund_account import refund_waiting_for_account
from products.selectors import product_list

# What a shopper reads for each refusal (the API's messages are for developers).
SHOPPER_MESSAGES = {
    "OUT_OF_STOCK": "재고가 부족합니다.",
    "NOT_FOUND": "주문을 찾을 수 없습니다.",
    "AMOUNT_MISMATCH": "결제 금액이 주문 금액과 다릅니다. 주문이 취소되었습니다.",
    "INVALID_STATE": "이미 처리된 주문입니다. 주문 내역을 확인하세요.",
    "GATEWAY_UNAVAILABLE": "결제사가 응답하지 않습니다. 결제되지 않았으니 잠시 후 다시 시도하세요.",
    "CHECKOUT_IN_PROGRESS": "주문을 준비하고 있습니다. 잠시 후 다시 시도하세요.",
    "PAYMENT_KEY_IN_USE": "결제를 확인하고 있습니다. 잠시 후 다시 시도하세요.",
    "INVALID_REQUEST": "주문 정보를 확인하세요.",
    "TOO_MANY_OPEN_CHECKOUTS": "결제하지 않은 주문이 너무 많습니다. 결제를 마치고 다시 시도하세요.",
    "HOLD_LIMIT": "한 사람이 주문할 수 있는 수량을 넘었습니다.",
    "RATE_LIMITED": "주문이 너무 잦습니다. 잠시 후 다시 시도하세요.",
    "INSUFFICIENT_POINTS": "포인트가 부족합니다.",
    "REFUND_EXCEEDS_BALANCE": "환불할 수 있는 금액이나 수량을 넘었습니다.",
    "REFUND_REJECTED": "결제사가 환불을 거절했습니다. 고객센터에 문의하세요.",
    "REFUND_ACCOUNT_REQUIRED": "환불받을 계좌를 입력하세요.",
    "REFUND_IN_PROGRESS": "환불을 처리하고 있습니다. 잠시 후 이 페이지를 새로 고치세요.",
}

ACCOUNT_PROBLEM = "환불받을 계좌 정보를 확인하세요. 계좌번호는 숫자만 입력합니다."

# What a shopper reads for a payment's and a refund's status (the API's codes are for
# developers); a status not here is shown as "확인 중" (being checked).
PAYMENT_STATUS_WORDS = {
    "NOT_STARTED": "결제 전",
    "AWAITING_DEPOSIT": "입금 대기",
    "SUCCESS": "결제 완료",
    "FAILURE": "결제 실패 또는 취소",
    "CANCELED": "환불 완료",
    "PARTIAL_CANCELED": "부분 환불",
}
REFUND_STATUS_WORDS = {
    "SUCCEEDED": "환불 완료",
    "FAILED": "환불 거절",
    "AWAITING_ACCOUNT": "환불 계좌 필요",
}

POINTS_PROBLEM = "사용할 포인트는 0 이상, 주문 금액 이하로 입력하세요."


def shopper_message(error: DomainError) -> str:
    """The PG's own words for a decline (Toss writes them for buyers), else ours."""
    if error.extra.get("pgMessage"):
        return str(error.extra["pgMessage"])
    return SHOPPER_MESSAGES.get(error.code, "요청을 처리하지 못했습니다. 잠시 후 다시 시도하세요.")


@require_GET
def shop_home(request):
    return render(request, "shop/home.html", {"products": product_list().order_by("id")[:50]})


@require_POST
@login_required(login_url="/shop/login")
def shop_buy(request):
    line = {
        "productId": form_integer(request.POST.get("productId")),
        "quantity": form_integer(request.POST.get("quantity", "1")),
    }
    points = form_integer(request.POST.get("pointsToUse") or "0")
    method = request.POST.get("method") or "CARD"
    try:
        body = validated(
            CheckoutInput,
            {"gateway": "toss", "items": [line], "pointsToUse": points, "method": method},
        )
        answer, _ = payment_checkout(
            buyer=request.user,
            gateway=body["gateway"],
            purpose=body["purpose"],
            lines=[(item["productId"], item["quantity"]) for item in body["items"]],
            amount=None,
            points_to_use=body["pointsToUse"],
            method=body["method"],
            render=_window_params,
        )
    except ValidationError as exc:
        return _result(request, "잘못된 요청", _form_problem(exc), status=400)
    except DomainError as exc:
        message = shopper_message(exc)
        if "pointsToUse" in exc.extra.get("fields", {}):
            message = POINTS_PROBLEM
        return _result(request, "주문할 수 없습니다", message, status=http_status_of(exc))
    if answer["status"] == "SUCCESS":  # the points paid it all: no PG window
        message = f"{answer['orderName']}: 포인트 {answer['pointsUsed']:,}원으로 결제했습니다."
        return _result(request, "결제 완료", message)
    window_query = {k: v for k, v in answer.items() if k not in ("status", "pointsUsed")}
    window = settings.PG_SANDBOX_URL.rstrip("/") + "/toss/window?" + urlencode(window_query)
    return HttpResponseRedirect(window)


def _form_problem(error: ValidationError) -> str:
    fields = str(error.detail)
    if "quantity" in fields:
        return f"수량은 1개에서 {settings.CHECKOUT_MAX_QUANTITY}개까지 주문할 수 있습니다."
    if "productId" in fields:
        return "상품을 찾을 수 없습니다."
    if "pointsToUse" in fields:
        return POINTS_PROBLEM
    return "주문 정보를 확인하세요."


def _window_params(event, pg_config: dict) -> dict:
    return {
        **pg_config,
        "orderId": event.order_id,
        "amount": event.total_amount,
        "orderName": event.order_name,
        "successUrl": settings.SHOP_SUCCESS_URL,
        "failUrl": f"{settings.SHOP_FAIL_URL}?{urlencode({'orderId': event.order_id})}",
        "status": event.status,
        "pointsUsed": event.points_used,
        "method": event.method,  # Toss's window opens on it (the sandbox offers both)
    }


@require_GET
@login_required(login_url="/shop/login")
def shop_payment_success(request):
    query = {key: request.GET.get(key) for key in ("orderId", "paymentKey", "amount")}
    try:
        body = validated(ConfirmInput, {**query, "amount": form_integer(query["amount"])})
        event = payment_confirm(
            buyer=request.user,
            order_id=body["orderId"],
            payment_key=body["paymentKey"],
            amount=body["amount"],
            actor="shop",
        )
    except ValidationError:
        return _result(request, "잘못된 요청", "결제 정보가 올바르지 않습니다.", status=400)
    except DomainError as exc:
        return _result(request, "결제 실패", shopper_message(exc), status=http_status_of(exc))
    if event.status == "SUCCESS":
        return _result(
            request, "결제 완료", f"{event.order_name}: {event.total_amount:,}원", event=event
        )
    if event.status == "AWAITING_DEPOSIT":
        message = f"{event.order_name}: {event.total_amount:,}원을 아래 계좌로 입금하세요."
        return _result(request, "가상계좌 발급", message, event=event)
    message = "결제 결과를 확인하고 있습니다. 잠시 후 주문 내역에서 확인하세요."
    return _result(request, "결제 확인 중", message, event=event)


@require_GET
def shop_payment_fail(request):
    """The window gave up (the buyer closed it, or the card was refused): the order can no
    longer be paid, so its stock and points go back now rather than at its expiry. The
    orderId is in the failUrl the shop gave the window, whether or not the PG adds its
    own (Toss's is not documented for a buyer's cancel)."""
    message = request.GET.get("message", "결제가 취소되었습니다.")[:200]
    order_id = request.GET.get("orderId", "")
    if request.user.is_authenticated and order_id:
        # Not this buyer's, or paid or being paid: nothing to give back here.
        with suppress(DomainError):
            payment_cancel_unpaid(buyer=request.user, order_id=order_id)
    return _result(request, "결제 취소", message)


def _account_problem(error: DomainError) -> str:
    """What the order page's bank account form says when the refund could not be sent."""
    if error.code == "INVALID_REQUEST" and "fields" in error.extra:
        return ACCOUNT_PROBLEM
    if error.code == "REFUND_REJECTED":  # the PG's own words, then what to do
        return f"{shopper_message(error)} 계좌를 확인해 다시 입력하세요."
    if error.code in ("GATEWAY_UNAVAILABLE", "REFUND_IN_PROGRESS"):
        return error.message  # the service's own Korean: the buyer did pay here
    return shopper_message(error)


def _status_words(event) -> str:
    return PAYMENT_STATUS_WORDS.get(event.status, "확인 중")


def _result(request, title: str, message: str, *, status: int = 200, event=None):
    detail = payment_detail_of(event) if event is not None else None
    context = {"title": title, "message": message, "event": event, "detail": detail}
    if event is not None:
        context["status_words"] = _status_words(event)
    return render(request, "shop/result.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required(login_url="/shop/login")
def shop_order(request, order_id: str):
    """The buyer's order. A POST gives the bank account a late deposit's refund waits for,
    checked by the API's CancelInput and sent by the same service as the API's cancel."""
    notice, problem, status = "", "", 200
    if request.method == "POST":
        account = {
            k: request.POST.get(k, "").strip() for k in ("bank", "accountNumber", "holderName")
        }
        try:
            body = validated(CancelInput, {"refundReceiveAccount": account})
            answer, pending = payment_refund_to_account(
                buyer=request.user, order_id=order_id, refund_account=body["refundReceiveAccount"]
            )
        except ValidationError:
            problem, status = ACCOUNT_PROBLEM, 400
        except DomainError as exc:
            problem, status = _account_problem(exc), http_status_of(exc)
        else:
            amount = answer["refund"]["amount"]
            notice = (
                f"{amount:,}원 환불을 요청했습니다. 결과는 이 페이지에서 확인하세요."
                if pending
                else f"{amount:,}원을 환불했습니다."
            )
    event = payment_get_for_buyer(buyer=request.user, order_id=order_id)
    if event is None:
        return _result(request, "주문 없음", SHOPPER_MESSAGES["NOT_FOUND"], status=404)
    context = {
        "event": event,
        "status_words": _status_words(event),
        "detail": payment_detail_of(event),
        "refunds": [
            {"refund": r, "words": REFUND_STATUS_WORDS.get(r.status, "환불 처리 중")}
            for r in event.refunds.all()
        ],
        "waiting": refund_waiting_for_account(event),
        "banks": pg_refund_banks(),
        "notice": notice,
        "problem": problem,
    }
    return render(request, "shop/order.html", context, status=status)
