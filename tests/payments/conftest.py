"""Fixtures for tests/payments: the admin's staff members, logged in on `client`; every
PG at the test sandbox."""

import pytest

from tests.payments.admin_helpers import staff
from tests.payments.helpers import point_gateway_at_sandbox


@pytest.fixture
def viewer(client):
    person = staff("payment viewers")
    client.force_login(person)
    return person


@pytest.fixture
def operator(client):
    person = staff("payment operators")
    client.force_login(person)
    return person


@pytest.fixture
def gateways(settings, sandbox):
    """NicePay and KakaoPay pointed at the test sandbox too (Toss is, by `sandbox`)."""
    for gateway in ("nicepay", "kakaopay"):
        point_gateway_at_sandbox(settings, sandbox, gateway)
