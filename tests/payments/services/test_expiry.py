"""payments/services/expiry.py: abandoned checkouts fail, return their stock, beat late confirms."""

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import CompensationJob, PaymentEvent
from tests.factories import ProductFactory
from tests.payments.helpers import checkout, confirm, in_threads, pg_confirms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def test_an_abandoned_checkout_expires_and_a_late_confirm_is_refused(
    member, sandbox, settings, capsys
):
    product = ProductFactory(stock=10, price=1000)
    client = APIClient()
    client.force_authenticate(member)
    answer = checkout(client, [(product.id, 3)]).json()
    fresh = checkout(client, [(product.id, 1)]).json()
    key = sandbox.authorize(answer["orderId"], 3000)
    PaymentEvent.objects.filter(order_id=answer["orderId"]).update(
        created_at=timezone.now() - timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS + 1)
    )

    call_command("expire_checkouts")

    assert "1 abandoned checkout(s)" in capsys.readouterr().out
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert (event.status, event.failure_code) == ("FAILURE", "ABANDONED")
    assert PaymentEvent.objects.get(order_id=fresh["orderId"]).status == "NOT_STARTED"
    product.refresh_from_db()
    assert product.stock == 9
    late = confirm(client, answer["orderId"], key, 3000)
    assert late.status_code == 409 and late.json()["code"] == "INVALID_STATE"
    assert pg_confirms(sandbox, answer["orderId"]) == []


def test_expiry_racing_late_confirms_never_does_both(member, sandbox, settings):
    product = ProductFactory(stock=40, price=1000)
    client = APIClient()
    client.force_authenticate(member)
    orders = []
    for _ in range(20):
        answer = checkout(client, [(product.id, 2)]).json()
        orders.append((answer["orderId"], sandbox.authorize(answer["orderId"], 2000)))
    PaymentEvent.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS + 1)
    )
    start = threading.Barrier(21)

    def late_confirm(i):
        c = APIClient()
        c.force_authenticate(member)
        start.wait()
        if i == 20:
            return call_command("expire_checkouts")
        return confirm(c, orders[i][0], orders[i][1], 2000).status_code

    in_threads(21, 21, late_confirm)

    product.refresh_from_db()
    sold = 0
    for order_id, _ in orders:
        event = PaymentEvent.objects.get(order_id=order_id)
        approvals = sandbox.record(order_id)["sandbox"]["approvals"]
        if event.status == "SUCCESS":
            sold += 1
            assert approvals == 1 and not CompensationJob.objects.filter(event=event).exists()
        else:
            assert (event.status, event.failure_code) == ("FAILURE", "ABANDONED")
            assert approvals == 0 and pg_confirms(sandbox, order_id) == []
            assert CompensationJob.objects.get(event=event).restored
    assert product.stock == 40 - 2 * sold


@pytest.mark.parametrize("command", ["expire_checkouts", "retry_compensations"])
@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_a_limit_below_one_or_not_a_number_is_refused(command, limit):
    with pytest.raises(CommandError, match="--limit"):
        call_command(command, "--limit", limit)
