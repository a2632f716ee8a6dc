"""payments/services/checkout.py: stock taken all or nothing, bad input refused, many buyers."""

import threading

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from payments.models import IdempotencyRecord, PaymentEvent
from payments.services.holding import checkout_rate_key
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, in_threads


@pytest.fixture
def product():
    return ProductFactory(price=7500, stock=10)


@pytest.fixture(autouse=True)
def no_earlier_checkout_times(request):
    """A rolled-back test's member id comes back in the next (SQLite): forget its times."""
    if "member" in request.fixturenames:
        cache.delete(checkout_rate_key(request.getfixturevalue("member")))


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


# --- one member cannot hold the shelf ---------------------------------------------------


@pytest.mark.django_db
def test_150_checkouts_by_one_member_stop_at_the_open_checkout_cap(member_client, settings):
    settings.CHECKOUT_MAX_OPEN_PER_MEMBER = 5
    settings.CHECKOUT_RATE_PER_MINUTE = 1000
    product = ProductFactory(stock=1000)

    statuses = [checkout(member_client, [(product.id, 1)]).status_code for _ in range(150)]
    refused = checkout(member_client, [(product.id, 1)])

    assert statuses.count(201) == 5 and statuses.count(429) == 145
    assert refused.json()["code"] == "TOO_MANY_OPEN_CHECKOUTS" and "Retry-After" in refused
    product.refresh_from_db()
    assert product.stock == 995
    other = APIClient()
    other.force_authenticate(MemberFactory())
    assert checkout(other, [(product.id, 1)]).status_code == 201


@pytest.mark.django_db
def test_one_member_holds_at_most_so_many_of_a_product(member_client, settings):
    settings.CHECKOUT_MAX_HELD_PER_PRODUCT = 10
    products = [ProductFactory(stock=30) for _ in range(3)]

    everything = checkout(member_client, [(p.id, 30) for p in products])
    first = checkout(member_client, [(products[0].id, 7)])
    more = checkout(member_client, [(products[0].id, 4)])

    assert everything.status_code == 409 and everything.json()["code"] == "HOLD_LIMIT"
    assert everything.json()["productId"] == products[0].id
    assert first.status_code == 201
    assert more.status_code == 409  # 7 held + 4 is over 10
    for p in products:
        p.refresh_from_db()
    assert [p.stock for p in products] == [23, 30, 30]


@pytest.mark.django_db
def test_a_finished_payment_no_longer_counts_as_held(member_client, settings):
    settings.CHECKOUT_MAX_HELD_PER_PRODUCT = 10
    product = ProductFactory(stock=30)
    answer = checkout(member_client, [(product.id, 10)]).json()
    PaymentEvent.objects.filter(order_id=answer["orderId"]).update(status="SUCCESS")

    assert checkout(member_client, [(product.id, 10)]).status_code == 201


@pytest.mark.django_db
def test_checkouts_are_limited_per_member_per_minute(member_client, settings):
    settings.CHECKOUT_RATE_PER_MINUTE = 3
    settings.CHECKOUT_MAX_OPEN_PER_MEMBER = 100
    product = ProductFactory(stock=100)

    statuses = [checkout(member_client, [(product.id, 1)]).status_code for _ in range(5)]

    assert statuses == [201, 201, 201, 429, 429]
    product.refresh_from_db()
    assert product.stock == 97
