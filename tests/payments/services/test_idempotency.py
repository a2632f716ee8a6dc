"""payments/services/idempotency.py: one Idempotency-Key makes one payment, for one member."""

import threading

import pytest
from rest_framework.test import APIClient

from payments.models import PaymentEvent
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, in_threads


@pytest.mark.django_db
def test_a_double_clicked_checkout_makes_one_payment(member_client):
    product = ProductFactory(stock=5)

    first = checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="click-1")
    second = checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="click-1")

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert PaymentEvent.objects.count() == 1
    product.refresh_from_db()
    assert product.stock == 4


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(member_client):
    product = ProductFactory(stock=5)
    checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="click-2")

    response = checkout(member_client, [(product.id, 2)], HTTP_IDEMPOTENCY_KEY="click-2")

    assert response.status_code == 422 and response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert PaymentEvent.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_one_member(member_client, api_client):
    product = ProductFactory(stock=5)
    api_client.force_authenticate(MemberFactory())

    checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="shared")
    other = checkout(api_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="shared")

    assert other.status_code == 201
    assert PaymentEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_too_long_idempotency_key_is_400(member_client):
    product = ProductFactory()

    response = checkout(member_client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="k" * 256)

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_a_concurrent_double_click_with_one_key_makes_one_payment(member):
    product = ProductFactory(stock=10)
    start = threading.Barrier(8)

    def click(_):
        client = APIClient()
        client.force_authenticate(member)
        start.wait()
        response = checkout(client, [(product.id, 1)], HTTP_IDEMPOTENCY_KEY="double-click")
        return response.status_code, response.json()["orderId"]

    results = in_threads(8, 8, click)

    assert {status for status, _ in results} == {201}
    assert len({order_id for _, order_id in results}) == 1
    assert PaymentEvent.objects.count() == 1
    product.refresh_from_db()
    assert product.stock == 9
