"""Fixtures for tests/payments: the admin's staff members, logged in on `client`."""

import pytest

from tests.payments.admin_helpers import staff


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
