"""A minimal shop frontend (server-rendered), so `make run` shows the whole flow in a browser.

    /shop/                     products, a buy button each (log in first)
    /shop/buy                  checkout, then off to the PG's payment window
    /shop/payments/success     where the window returns: the server confirms here
    /shop/payments/fail        where the window returns on cancel or decline

It calls the same services as the API. The window it opens is the sandbox's
(`PG_SANDBOX_URL/toss/window`); with the real Toss a frontend opens Toss's own window
with its JS SDK instead.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from config.api.errors import http_status_of
from config.errors import DomainError
from payments.models import Purpose
from payments.services.checkout import payment_checkout
from payments.services.confirm import payment_confirm
from products.selectors import product_list


@require_GET
def shop_home(request):
    return render(request, "shop/home.html", {"products": product_list().order_by("id")[:50]})


@require_POST
@login_required(login_url="/shop/login")
def shop_buy(request):
    try:
        product_id, quantity = (
            int(request.POST["productId"]),
            int(request.POST.get("quantity", "1")),
        )
        answer, _ = payment_checkout(
            buyer=request.user,
            gateway="toss",
            purpose=Purpose.GOODS,
            lines=[(product_id, quantity)],
            amount=None,
            render=_window_params,
        )
    except (KeyError, ValueError):
        return _result(request, "잘못된 요청", "상품과 수량을 확인하세요.", status=400)
    except DomainError as exc:
        return _result(request, "주문할 수 없습니다", exc.message, status=http_status_of(exc))
    window = settings.PG_SANDBOX_URL.rstrip("/") + "/toss/window?" + urlencode(answer)
    return HttpResponseRedirect(window)


def _window_params(event, pg_config: dict) -> dict:
    return {
        **pg_config,
        "orderId": event.order_id,
        "amount": event.total_amount,
        "orderName": event.order_name,
        "successUrl": settings.SHOP_SUCCESS_URL,
        "failUrl": settings.SHOP_FAIL_URL,
    }


@require_GET
@login_required(login_url="/shop/login")
def shop_payment_success(request):
    query = request.GET
    try:
        event = payment_confirm(
            buyer=request.user,
            order_id=query["orderId"],
            payment_key=query["paymentKey"],
            amount=int(query["amount"]),
            actor="shop",
        )
    except (KeyError, ValueError):
        return _result(request, "잘못된 요청", "결제 정보가 없습니다.", status=400)
    except DomainError as exc:
        message = exc.extra.get("pgMessage") or exc.message
        return _result(request, "결제 실패", message, status=http_status_of(exc))
    if event.status == "SUCCESS":
        return _result(
            request, "결제 완료", f"{event.order_name}: {event.total_amount:,}원", event=event
        )
    message = "결제 결과를 확인하고 있습니다. 잠시 후 주문 내역에서 확인하세요."
    return _result(request, "결제 확인 중", message, event=event)


@require_GET
def shop_payment_fail(request):
    message = request.GET.get("message", "결제가 취소되었습니다.")[:200]
    return _result(request, "결제 취소", message)


def _result(request, title: str, message: str, *, status: int = 200, event=None):
    context = {"title": title, "message": message, "event": event}
    return render(request, "shop/result.html", context, status=status)
