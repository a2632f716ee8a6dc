"""payments/services/waiting.py: a GET with `Prefer: wait` answers at the outcome or at its time."""

import time

import pytest

from tests.factories import ProductFactory
from tests.payments.helpers import authorized, confirm_async


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


@pytest.mark.django_db
def test_a_waiting_get_answers_when_its_time_is_up(member_client, sandbox, product):
    order_id, key = authorized(member_client, sandbox, product)
    confirm_async(member_client, order_id, key, 5000)  # no worker runs here

    started = time.monotonic()
    detail = member_client.get(f"/api/v1/payments/{order_id}", HTTP_PREFER="wait=0.6").json()

    assert detail["status"] == "EXECUTING"
    assert 0.5 <= time.monotonic() - started < 5
    started = time.monotonic()
    member_client.get(f"/api/v1/payments/{order_id}", HTTP_PREFER="wait=nonsense")
    assert time.monotonic() - started < 0.5  # a bad value is no wait, not an error
