"""payments/services/checkout.py: stock taken all or nothing, bad input refused, many buyers."""

import threading

import pytest
from rest_framework.test import APIClient

from payments.models import IdempotencyRecord, PaymentEvent
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, in_threads


@pytest.fixture
def product():
    return ProductFactory(price=7500, stock=10)


@pytest.mark.django_db
def test_an_out_of_stock_checkout_is_409_and_not_remembered(member_client):
    product = ProductFactory(stock=1)

    response = checkout(member_client, [(product.id, 2)], HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 409 and response.json()["code"] == "OUT_OF_STOCK"
    assert response.json()["productId"] == product.id
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
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


@pytest.mark.django_db
@pytest.mark.processes
@pytest.mark.parametrize(
    "items",
    [[(None, 1)], [(1, 0)], [(1, -1)], [(1, 101)], [(1, 10**12)], [(10**19, 1)], []],
    ids=["no-product", "zero", "negative", "over-limit", "huge", "huge-id", "empty"],
)
def test_bad_quantities_and_ids_are_400_and_take_no_stock(member_client, product, items):
    items = [(product.id if p == 1 else p, q) for p, q in items]

    response = checkout(member_client, items)

    assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"
    product.refresh_from_db()
    assert product.stock == 10
    assert PaymentEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.processes
def test_an_unknown_product_and_an_unknown_gateway(member_client, product):
    unknown_product = checkout(member_client, [(product.id, 1), (987654, 1)])
    unknown_gateway = checkout(member_client, [(product.id, 1)], gateway="paypal")

    assert (
        unknown_product.status_code == 400 and unknown_product.json()["code"] == "INVALID_REQUEST"
    )
    assert (
        unknown_gateway.status_code == 400
        and unknown_gateway.json()["code"] == "UNSUPPORTED_GATEWAY"
    )
    product.refresh_from_db()
    assert product.stock == 10
    assert PaymentEvent.objects.count() == 0


# --- real threads on the real database: conditional updates decide the race -------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_200_concurrent_checkouts_of_50_in_stock_sell_exactly_50():
    product = ProductFactory(stock=50)
    buyers = [MemberFactory() for _ in range(8)]
    start = threading.Barrier(32)

    def buy(i):
        client = APIClient()
        client.force_authenticate(buyers[i % len(buyers)])
        if i < 32:
            start.wait()  # the first wave hits at once
        return checkout(client, [(product.id, 1)]).status_code

    statuses = in_threads(200, 32, buy)

    assert statuses.count(201) == 50
    assert statuses.count(409) == 150
    product.refresh_from_db()
    assert product.stock == 0
    assert PaymentEvent.objects.count() == 50
