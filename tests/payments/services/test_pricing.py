"""payments/services/pricing.py: the server prices every order; points charges within bounds."""

import pytest

from payments.models import PaymentEvent
from products.models import Product
from tests.factories import ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.processes]


@pytest.fixture
def product():
    return ProductFactory(price=7500, stock=10)


def test_the_client_cannot_price_goods(member_client, product):
    body = {"gateway": "toss", "items": [{"productId": product.id, "quantity": 1}], "amount": 1}

    response = member_client.post("/api/v1/payments/checkout", body, format="json")

    assert response.status_code == 400 and "amount" in response.json()["fields"]


@pytest.mark.parametrize("amount", [999, 1_000_001, None], ids=str)
def test_points_charge_bounds(member_client, amount):
    body = {"gateway": "toss", "purpose": "POINT_CHARGE", **({"amount": amount} if amount else {})}

    response = member_client.post("/api/v1/payments/checkout", body, format="json")

    assert response.status_code == 400 and "amount" in response.json()["fields"]
    assert Product.objects.count() == 0 and PaymentEvent.objects.count() == 0
