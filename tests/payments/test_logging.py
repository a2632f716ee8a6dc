import pytest
from django.conf import settings

from tests.factories import ProductFactory
from tests.payments.helpers import checkout, confirm

pytestmark = [pytest.mark.django_db, pytest.mark.processes]


def test_confirm_logs_carry_the_order_id_and_never_the_secret_key(member_client, sandbox, json_log):
    product = ProductFactory(price=5000, stock=3)
    answer = checkout(member_client, [(product.id, 1)]).json()
    payment_key = sandbox.authorize(answer["orderId"], 5000)

    assert confirm(member_client, answer["orderId"], payment_key, 5000).status_code == 200

    text, lines = json_log.text(), json_log()
    pg_calls = [line for line in lines if line["event"] == "pg_call"]
    assert pg_calls and all(line["orderId"] == answer["orderId"] for line in pg_calls)
    assert all("ms" in line and line["gateway"] == "toss" for line in pg_calls)
    outcome = next(line for line in lines if line["event"] == "payment_outcome")
    assert outcome["orderId"] == answer["orderId"] and outcome["status"] == "SUCCESS"
    secret = settings.PAYMENT_GATEWAYS["toss"]["SECRET_KEY"]
    assert secret not in text and "Authorization" not in text and "Basic " not in text
