"""payments/models.py: PG keys and our ids compare exactly (MariaDB's collation ignores case).

Found by the recovery benchmark: two sandbox paymentKeys made in the same second
("…qvBCa" and "…QVbca") collided in the unique index on MariaDB.
"""

import pytest

from payments.models import IdempotencyRecord, PaymentEvent, WebhookEvent

pytestmark = pytest.mark.django_db


def event(member, n: int, payment_key: str, order_id: str) -> PaymentEvent:
    return PaymentEvent.objects.create(
        order_id=order_id,
        buyer=member,
        gateway="toss",
        order_name="x",
        total_amount=1000,
        payment_key=payment_key,
        pg_idempotency_key=f"key-{n}",
    )


def test_keys_that_differ_only_in_case_are_different_payments(member):
    first = event(member, 1, "tsbox20261122025956qvBCa", "ord-AbCdEf")
    second = event(member, 2, "tsbox20261122025956QVbca", "ord-aBcDeF")

    assert PaymentEvent.objects.get(payment_key="tsbox20261122025956qvBCa") == first
    assert PaymentEvent.objects.get(order_id="ord-aBcDeF") == second
    assert not PaymentEvent.objects.filter(payment_key="tsbox20261122025956QVBCA").exists()


def test_idempotency_and_webhook_keys_are_exact(member):
    for key in ("cart-Ab", "cart-aB"):
        IdempotencyRecord.objects.create(
            member=member, key=key, request_hash="h", response_status=201, response_body={}
        )
    for key in ("PAYMENT:Key:DONE", "PAYMENT:key:DONE"):
        WebhookEvent.objects.create(gateway="toss", event_key=key, event_type="x", payload={})

    assert IdempotencyRecord.objects.filter(key="cart-ab").count() == 0
    assert WebhookEvent.objects.count() == 2
