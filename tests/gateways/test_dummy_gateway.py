import pytest

from payments.models import PaymentEvent
from tests.factories import ProductFactory
from tests.payments.helpers import checkout, confirm

pytestmark = pytest.mark.django_db


@pytest.fixture
def dummy(settings):
    settings.PAYMENT_GATEWAYS = {
        **settings.PAYMENT_GATEWAYS,
        "dummy": {"CLASS": "tests.gateways.dummy.DummyGateway"},
    }


def test_a_new_gateway_is_one_class_and_one_settings_entry(member_client, dummy):
    product = ProductFactory(price=1000, stock=5)
    answer = checkout(member_client, [(product.id, 2)], gateway="dummy").json()

    approved = confirm(member_client, answer["orderId"], "dummy-key-1", 2000)
    declined_order = checkout(member_client, [(product.id, 1)], gateway="dummy").json()
    declined = confirm(member_client, declined_order["orderId"], "decline-1", 1000)

    assert approved.status_code == 200 and approved.json()["status"] == "SUCCESS"
    assert PaymentEvent.objects.get(order_id=answer["orderId"]).gateway == "dummy"
    assert declined.status_code == 400 and declined.json()["pgCode"] == "DUMMY_DECLINE"
    product.refresh_from_db()
    assert product.stock == 3


def test_an_unregistered_gateway_is_unsupported(member_client):
    product = ProductFactory()

    response = checkout(member_client, [(product.id, 1)], gateway="dummy")

    assert response.status_code == 400 and response.json()["code"] == "UNSUPPORTED_GATEWAY"
