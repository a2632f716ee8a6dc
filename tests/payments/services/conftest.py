"""Fixtures for the service tests: a Toss payment whose PG is answered by `responses`."""

import pytest

from payments.models import PaymentEvent
from tests.factories import MemberFactory

TOSS = "http://toss.test"  # where the app's Toss gateway points; `responses` answers there
ORDER_ID = "ord-toss-test-1"
CONFIRM_URL = f"{TOSS}/v1/payments/confirm"
LOOKUP_URL = f"{TOSS}/v1/payments/orders/{ORDER_ID}"
CANCEL_URL = f"{TOSS}/v1/payments/pk-1/cancel"


@pytest.fixture
def event(settings):
    """An EXECUTING Toss payment of 1,000 KRW with key pk-1, its PG at TOSS."""
    settings.PAYMENT_GATEWAYS = {
        **settings.PAYMENT_GATEWAYS,
        "toss": {**settings.PAYMENT_GATEWAYS["toss"], "API_BASE": TOSS},
    }
    return PaymentEvent.objects.create(
        order_id=ORDER_ID,
        buyer=MemberFactory(),
        gateway="toss",
        order_name="x",
        total_amount=1000,
        payment_key="pk-1",
        status="EXECUTING",
        pg_idempotency_key="key-of-this-payment",
    )


def toss_payment(status: str = "DONE", amount: int = 1000) -> dict:
    """The Toss Payment object the PG would answer for `event`."""
    return {
        "orderId": ORDER_ID,
        "paymentKey": "pk-1",
        "status": status,
        "totalAmount": amount,
        "balanceAmount": amount,
        "approvedAt": "2026-11-21T10:00:00+09:00" if status != "IN_PROGRESS" else None,
    }


def toss_error(code: str) -> dict:
    return {"code": code, "message": "the PG's words"}
