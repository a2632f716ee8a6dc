"""payments/api: authentication, a member's own newest-first list, CSRF for a session."""

import pytest
from django.test import Client

from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout

pytestmark = pytest.mark.django_db


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
