import pytest
from django.test import Client

from payments.models import IdempotencyRecord, PaymentEvent
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout

pytestmark = pytest.mark.django_db


def test_a_double_clicked_checkout_makes_one_payment(member_client):
    product = ProductFactory(stock=5)

    first = checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="click-1")
    second = checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="click-1")

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert PaymentEvent.objects.count() == 1
    product.refresh_from_db()
    assert product.stock == 4


def test_the_same_key_with_another_body_is_422(member_client):
    product = ProductFactory(stock=5)
    checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="click-2")

    response = checkout(member_client, [(product.id, 2)], HTTP_IDEMPOTENCY_KEY="click-2")

    assert response.status_code == 422 and response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert PaymentEvent.objects.count() == 1


def test_keys_belong_to_one_member(member_client, api_client):
    product = ProductFactory(stock=5)
    api_client.force_authenticate(MemberFactory())

    checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="shared")
    other = checkout(api_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="shared")

    assert other.status_code == 201
    assert PaymentEvent.objects.count() == 2


def test_an_out_of_stock_checkout_is_409_and_not_remembered(member_client):
    product = ProductFactory(stock=1)

    response = checkout(member_client, [(product.id, 2)], HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 409 and response.json()["code"] == "OUT_OF_STOCK"
    assert response.json()["productId"] == product.id
    assert not IdempotencyRecord.objects.exists()


def test_a_multi_item_checkout_takes_all_or_nothing(member_client):
    plenty, scarce = ProductFactory(stock=10, price=1000), ProductFactory(stock=1, price=2000)

    refused = checkout(member_client, [(plenty.id, 3), (scarce.id, 2)])
    accepted = checkout(member_client, [(plenty.id, 3), (scarce.id, 1)])

    assert refused.status_code == 409
    assert accepted.status_code == 201 and accepted.json()["amount"] == 5000
    assert accepted.json()["orderName"].endswith("외 1건")
    plenty.refresh_from_db()
    scarce.refresh_from_db()
    assert (plenty.stock, scarce.stock) == (7, 0)


def test_a_too_long_idempotency_key_is_400(member_client):
    product = ProductFactory()

    response = checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="k" * 256)

    assert response.status_code == 400


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/v1/payments/checkout"),
        ("post", "/api/v1/payments/confirm"),
        ("get", "/api/v1/payments"),
        ("get", "/api/v1/payments/ord-123456"),
    ],
)
def test_payments_need_authentication(api_client, method, path):
    response = getattr(api_client, method)(path, {}, format="json")

    assert response.status_code == 401 and response.json()["code"] == "UNAUTHENTICATED"


def test_the_list_is_the_members_own_newest_first(member_client, member, api_client):
    product = ProductFactory(stock=10)
    mine = [checkout(member_client, [(product.id, 1)]).json()["orderId"] for _ in range(3)]
    api_client.force_authenticate(MemberFactory())
    checkout(api_client, [(product.id, 1)])

    body = member_client.get("/api/v1/payments?pageSize=2").json()
    rest = member_client.get(body["next"]).json()

    assert [p["orderId"] for p in body["results"] + rest["results"]] == mine[::-1]
    assert rest["next"] is None


def test_a_session_needs_csrf_for_payments(member):
    product = ProductFactory()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)

    response = strict.post(
        "/api/v1/payments/checkout",
        {"gateway": "toss", "items": [{"productId": product.id, "quantity": 1}]},
        content_type="application/json",
    )

    assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
