"""The demo shop in a browser's shoes: log in, buy, pay in the sandbox window, come back."""

import re
from urllib.parse import urlsplit

import pytest
import requests

from payments.models import PaymentEvent
from products.models import Product
from tests.factories import DEFAULT_PASSWORD, MemberFactory, ProductFactory, give_points
from tests.payments.refund_helpers import paid
from tests.payments.services.test_virtual_accounts import late_deposit
from tests.sandbox import Receiver

pytestmark = [pytest.mark.django_db, pytest.mark.processes]


def pay_in_window(window_url: str, choice: str) -> str:
    """Open the sandbox window like a browser and press a button; returns the redirect."""
    page = requests.get(window_url, timeout=5)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    fields["choice"] = choice
    base = f"{urlsplit(window_url).scheme}://{urlsplit(window_url).netloc}"
    answer = requests.post(f"{base}/toss/window/pay", data=fields, allow_redirects=False, timeout=5)
    return answer.headers["Location"]


def test_buying_in_the_shop_end_to_end(client, sandbox, settings):
    settings.PG_SANDBOX_URL = sandbox.base
    member = MemberFactory(email="shopper@example.com")
    product = ProductFactory(name="백자 머그컵", price=18000, stock=3)
    assert "백자 머그컵" in client.get("/shop/").content.decode()
    client.post("/shop/login", {"username": member.email, "password": DEFAULT_PASSWORD})

    buy = client.post("/shop/buy", {"productId": product.id, "quantity": 2})

    assert buy.status_code == 302 and buy["Location"].startswith(f"{sandbox.base}/toss/window?")
    back = urlsplit(pay_in_window(buy["Location"], "pay"))
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 200 and "결제 완료" in done.content.decode()
    event = PaymentEvent.objects.get()
    assert event.status == "SUCCESS" and event.total_amount == 36000


def test_the_result_page_shows_the_card_and_an_issued_virtual_account(client, sandbox, settings):
    settings.PG_SANDBOX_URL = sandbox.base
    member = MemberFactory(email="receipt@example.com")
    product = ProductFactory(name="분청 접시", price=12000, stock=5)
    client.post("/shop/login", {"username": member.email, "password": DEFAULT_PASSWORD})

    card = client.post("/shop/buy", {"productId": product.id, "quantity": 1})
    back = urlsplit(pay_in_window(card["Location"], "pay"))
    page = client.get(f"{back.path}?{back.query}").content.decode()
    detail = PaymentEvent.objects.get().detail
    assert "결제 완료" in page and detail.card_number in page and detail.approval_number in page

    va = client.post(
        "/shop/buy", {"productId": product.id, "quantity": 1, "method": "VIRTUAL_ACCOUNT"}
    )
    assert "method=VIRTUAL_ACCOUNT" in va["Location"]
    back = urlsplit(pay_in_window(va["Location"], "virtual_account"))
    page = client.get(f"{back.path}?{back.query}").content.decode()
    event = PaymentEvent.objects.order_by("-id").first()
    assert event.status == "AWAITING_DEPOSIT"
    assert "가상계좌 발급" in page and event.detail.account_number in page and "입금 기한" in page
    assert Product.objects.get(pk=product.pk).stock == 3  # both held


def test_cancelling_in_the_window_lands_on_the_fail_page(client, sandbox, settings):
    settings.PG_SANDBOX_URL = sandbox.base
    member = MemberFactory()
    product = ProductFactory(stock=3)
    client.force_login(member)

    buy = client.post("/shop/buy", {"productId": product.id})
    back = urlsplit(pay_in_window(buy["Location"], "cancel"))

    page = client.get(f"{back.path}?{back.query}")
    assert back.path == "/shop/payments/fail" and "결제 취소" in page.content.decode()
    # The order can no longer be paid: its stock is back at once, not at its expiry.
    event = PaymentEvent.objects.get()
    assert (event.status, event.failure_code) == ("FAILURE", "BUYER_CANCELED")
    assert Product.objects.get(pk=product.pk).stock == 3


def test_the_fail_page_releases_only_the_buyers_own_unpaid_order(client):
    buyer, stranger = MemberFactory(), MemberFactory()
    product = ProductFactory(stock=5)
    client.force_login(buyer)
    client.post("/shop/buy", {"productId": product.id})
    unpaid = PaymentEvent.objects.get()

    client.force_login(stranger)
    client.get("/shop/payments/fail", {"orderId": unpaid.order_id})
    assert PaymentEvent.objects.get(pk=unpaid.pk).status == "NOT_STARTED"

    # A PG that adds no orderId of its own: the one in the shop's failUrl is enough.
    client.force_login(buyer)
    query = {"orderId": unpaid.order_id, "code": "PAY_PROCESS_CANCELED"}
    page = client.get("/shop/payments/fail", query)
    assert page.status_code == 200
    assert PaymentEvent.objects.get(pk=unpaid.pk).status == "FAILURE"
    assert Product.objects.get(pk=product.pk).stock == 5


def test_the_fail_page_never_refunds_a_paid_order(client, member, member_client, sandbox):
    product = ProductFactory(price=5000, stock=5)
    event = paid(member_client, sandbox, [(product.id, 1)])
    client.force_login(member)

    assert client.get("/shop/payments/fail", {"orderId": event.order_id}).status_code == 200

    assert PaymentEvent.objects.get(pk=event.pk).status == "SUCCESS"
    assert sandbox.requests_for(event.order_id, "cancel") == []


def test_buying_needs_a_login_and_valid_input(client):
    product = ProductFactory(stock=1)

    anonymous = client.post("/shop/buy", {"productId": product.id})
    client.force_login(MemberFactory())
    garbage = client.post("/shop/buy", {"productId": "x"})
    too_many = client.post("/shop/buy", {"productId": product.id, "quantity": 5})

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/shop/login")
    assert garbage.status_code == 400
    assert too_many.status_code == 409


@pytest.mark.parametrize(
    "product_id, quantity, says",
    [
        (None, "0", "수량은 1개에서 100개까지"),
        (None, "-5", "수량은 1개에서 100개까지"),
        (None, "150", "수량은 1개에서 100개까지"),  # the API's limit, CHECKOUT_MAX_QUANTITY
        (str(10**23), "1", "상품을 찾을 수 없습니다"),
        ("99999999", "1", "주문 정보를 확인하세요"),  # no such product: the pricing refuses
    ],
)
def test_the_buy_form_refuses_what_the_api_refuses_in_korean(client, product_id, quantity, says):
    product = ProductFactory(stock=200)
    client.force_login(MemberFactory())

    answer = client.post(
        "/shop/buy", {"productId": product_id or str(product.id), "quantity": quantity}
    )

    assert answer.status_code == 400 and says in answer.content.decode()
    product.refresh_from_db()
    assert product.stock == 200


def test_the_return_page_refuses_a_bad_amount_without_a_500(client):
    client.force_login(MemberFactory())

    for amount in ("abc", str(10**30), "-1"):
        answer = client.get(
            "/shop/payments/success", {"orderId": "ord-xxxxxx", "paymentKey": "k", "amount": amount}
        )
        assert (
            answer.status_code == 400 and "결제 정보가 올바르지 않습니다" in answer.content.decode()
        )


def test_points_in_the_shop_pay_part_or_all_of_an_order(client, sandbox, settings):
    settings.PG_SANDBOX_URL = sandbox.base
    member = MemberFactory()
    give_points(member, 25000)
    product = ProductFactory(name="청자 찻잔", price=10000, stock=5)
    client.force_login(member)
    assert "보유 포인트: 25000원" in client.get("/shop/").content.decode()

    part = client.post("/shop/buy", {"productId": product.id, "quantity": 1, "pointsToUse": 4000})
    assert part.status_code == 302 and "amount=6000" in part["Location"]
    back = urlsplit(pay_in_window(part["Location"], "pay"))
    assert "결제 완료" in client.get(f"{back.path}?{back.query}").content.decode()

    whole = client.post("/shop/buy", {"productId": product.id, "quantity": 2, "pointsToUse": 20000})
    assert whole.status_code == 200 and "포인트 20,000원으로 결제했습니다" in whole.content.decode()
    paid = PaymentEvent.objects.order_by("id")
    assert [(e.status, e.total_amount, e.points_used) for e in paid] == [
        ("SUCCESS", 6000, 4000),
        ("SUCCESS", 0, 20000),
    ]
    member.refresh_from_db()
    assert member.point_balance == 1000


@pytest.mark.parametrize(
    "points, status, says",
    [
        ("5000", 409, "포인트가 부족합니다"),
        ("-1", 400, "사용할 포인트는 0 이상"),
        ("abc", 400, "사용할 포인트는 0 이상"),
        ("20001", 400, "사용할 포인트는 0 이상"),  # more than the order: the service refuses
    ],
)
def test_the_buy_form_refuses_bad_points_in_korean(client, points, status, says):
    member = MemberFactory()
    give_points(member, 1000)
    product = ProductFactory(price=20000, stock=5)
    client.force_login(member)

    answer = client.post("/shop/buy", {"productId": product.id, "pointsToUse": points})

    assert answer.status_code == status and says in answer.content.decode()
    assert not PaymentEvent.objects.exists()


def test_a_late_deposits_refund_is_given_the_buyers_account_on_the_order_page(
    client, member, member_client, sandbox
):
    product = ProductFactory(price=5000, stock=10)
    receiver = Receiver()
    sandbox.webhooks(receiver.url)
    try:
        event = late_deposit(client, member_client, sandbox, receiver, product)
    finally:
        receiver.close()
    client.force_login(member)
    url = f"/shop/orders/{event.order_id}"

    page = client.get(url).content.decode()
    assert "환불받을 계좌" in page and '<option value="88">신한은행</option>' in page
    assert "환불 계좌 필요" in page and "이 가상계좌는 닫혔습니다" in page  # in Korean
    assert "AWAITING_ACCOUNT" not in page
    dashes = {"bank": "88", "accountNumber": "110-123-456789", "holderName": "김구매"}
    bad = client.post(url, dashes)
    assert bad.status_code == 400 and "계좌 정보를 확인하세요" in bad.content.decode()
    assert sandbox.requests_for(event.order_id, "cancel") == []

    done = client.post(url, {**dashes, "accountNumber": "110123456789"})

    assert done.status_code == 200 and "5,000원을 환불했습니다" in done.content.decode()
    assert 'id="refund-account-form"' not in done.content.decode()  # nothing waits now
    assert "환불 완료" in done.content.decode()
    assert event.refunds.get().status == "SUCCEEDED"
    assert sandbox.get(event.payment_key).json()["status"] == "CANCELED"


def test_the_order_page_refunds_nothing_else_and_only_the_buyers_own(
    client, member, member_client, sandbox
):
    product = ProductFactory(price=5000, stock=5)
    event = paid(member_client, sandbox, [(product.id, 1)])
    account = {"bank": "88", "accountNumber": "110123456789", "holderName": "김구매"}

    client.force_login(MemberFactory())
    assert client.get(f"/shop/orders/{event.order_id}").status_code == 404
    assert client.post(f"/shop/orders/{event.order_id}", account).status_code == 404
    client.force_login(member)
    mine = client.get(f"/shop/orders/{event.order_id}")
    assert mine.status_code == 200 and 'id="refund-account-form"' not in mine.content.decode()
    refused = client.post(f"/shop/orders/{event.order_id}", account)

    assert refused.status_code == 409
    assert PaymentEvent.objects.get(pk=event.pk).status == "SUCCESS"
    assert sandbox.requests_for(event.order_id, "cancel") == []
