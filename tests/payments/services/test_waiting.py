"""payments/services/waiting.py: a GET with `Prefer: wait` answers at the outcome or at its time."""

import threading
import time
from unittest import mock

import pytest
import redis
from rest_framework.test import APIClient

from payments.services import waiting
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


@pytest.mark.django_db(transaction=True)
def test_a_member_holds_only_so_many_waits_the_rest_answer_at_once(
    member, member_client, sandbox, product, settings
):
    settings.PAYMENT_MAX_WAITS_PER_MEMBER = 1
    order_id, key = authorized(member_client, sandbox, product)
    confirm_async(member_client, order_id, key, 5000)  # no worker runs here: it stays EXECUTING
    first_done = threading.Event()

    def hold():
        client = APIClient()
        client.force_authenticate(member)
        client.get(f"/api/v1/payments/{order_id}", HTTP_PREFER="wait=3")
        first_done.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.5)  # the holder is waiting now
    started = time.monotonic()
    second = member_client.get(f"/api/v1/payments/{order_id}", HTTP_PREFER="wait=3")
    answered_in = time.monotonic() - started
    holder_still_waiting = not first_done.is_set()
    holder.join()

    assert second.status_code == 200 and second.json()["status"] == "EXECUTING"
    assert holder_still_waiting and answered_in < 2  # it did not wait its 3 s
    started = time.monotonic()
    member_client.get(f"/api/v1/payments/{order_id}", HTTP_PREFER="wait=0.6")
    assert time.monotonic() - started >= 0.5  # the slot was given back


@pytest.mark.parametrize(
    "error", [OSError(9, "Bad file descriptor"), redis.exceptions.ConnectionError("down")]
)
def test_a_redis_that_fails_to_count_waits_lets_the_wait_happen_bounded_by_its_timeout(
    settings, error
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    failing = mock.Mock()
    failing.pipeline.side_effect = error
    failing.decr.side_effect = error
    with (
        mock.patch.object(waiting, "_redis", return_value=failing),
        waiting.payment_wait_slot(member_id=1, timeout=1) as allowed,
    ):
        assert allowed is True
