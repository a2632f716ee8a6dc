"""payments/services/compensation.py: a stock restore that failed stays owed, is finished once."""

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import CompensationJob, PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.compensation import compensation_retry_due
from payments.services.decisions import Action, Decision
from payments.services.settle import payment_record_outcome
from payments.services.stock_restore import compensation_restore_for
from products.models import Product
from tests.factories import ProductFactory
from tests.payments.helpers import checkout, in_threads, restore_left_owed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


@contextmanager
def product_row_locked(product_id: int):
    """Another transaction holds the product row (a long report, a deadlock victim...)."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Product.objects.select_for_update().filter(pk=product_id).update(stock=F("stock"))
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()


@contextmanager
def short_lock_waits():
    """Make this thread's connection give up on a lock after about a second."""
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        yield
        return
    options = connection.settings_dict["OPTIONS"]
    old = options.get("timeout")
    options["timeout"] = 1
    connection.close()
    try:
        yield
    finally:
        options["timeout"] = old
        connection.close()


def failed_payment(member, sandbox, product) -> PaymentEvent:
    client = APIClient()
    client.force_authenticate(member)
    answer = checkout(client, [(product.id, 2)]).json()
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    key = sandbox.authorize(answer["orderId"], answer["amount"])
    PaymentEvent.objects.filter(pk=event.pk).update(status=S.EXECUTING, payment_key=key)
    with restore_left_owed():
        assert payment_record_outcome(
            event=event,
            decision=Decision(Action.FAILURE, "PG_DECLINED", "REJECT_CARD_PAYMENT"),
            actor="test",
            froms={S.EXECUTING},
        )
    return event


def make_stale(job: CompensationJob, settings) -> None:
    CompensationJob.objects.filter(pk=job.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.COMPENSATION_STALE_SECONDS + 1)
    )


def test_a_failed_restore_stays_owed_and_two_workers_finish_it_exactly_once(
    member, sandbox, settings
):
    product = ProductFactory(stock=10, price=1000)
    event = failed_payment(member, sandbox, product)
    job = CompensationJob.objects.get(event=event)

    with product_row_locked(product.id), short_lock_waits():
        assert compensation_restore_for(event_id=event.pk) is False

    job.refresh_from_db()
    product.refresh_from_db()
    assert (job.status, job.restored) == ("PROCESSING", False)
    assert product.stock == 8  # nothing came back, nothing was lost
    make_stale(job, settings)
    start = threading.Barrier(2)

    def worker(_):
        start.wait()
        return compensation_retry_due(actor="beat")

    results = in_threads(2, 2, worker)

    assert sum(r["restored"] for r in results) == 1
    job.refresh_from_db()
    product.refresh_from_db()
    assert (job.status, job.restored) == ("DONE", True)
    assert product.stock == 10
    # And again: nothing more to do.
    make_stale(job, settings)
    assert compensation_retry_due(actor="beat")["restored"] == 0
    product.refresh_from_db()
    assert product.stock == 10


def test_a_false_failure_becomes_success_without_a_restore(member, sandbox, settings, capsys):
    product = ProductFactory(stock=10, price=1000)
    event = failed_payment(member, sandbox, product)
    # The PG had in fact approved it (say, a decline code we misread).
    assert (
        sandbox.confirm(event_payment_key(event), event.order_id, 2000, key="elsewhere").status_code
        == 200
    )
    job = CompensationJob.objects.get(event=event)
    make_stale(job, settings)

    call_command("retry_compensations")

    assert "false failures: 1" in capsys.readouterr().out
    event.refresh_from_db()
    job.refresh_from_db()
    product.refresh_from_db()
    assert event.status == "SUCCESS"
    assert (job.status, job.restored) == ("DONE", False)
    assert product.stock == 8
    assert set(event.outbox.values_list("kind", flat=True)) == {"LEDGER"}


def event_payment_key(event: PaymentEvent) -> str:
    return PaymentEvent.objects.values_list("payment_key", flat=True).get(pk=event.pk)


def test_a_restore_waits_while_the_pg_cannot_be_asked(member, sandbox, settings):
    product = ProductFactory(stock=10, price=1000)
    event = failed_payment(member, sandbox, product)
    job = CompensationJob.objects.get(event=event)
    make_stale(job, settings)
    sandbox.fault(operation="lookup", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")

    assert compensation_retry_due(actor="beat")["waiting"] == 1

    job.refresh_from_db()
    assert job.status == "PROCESSING"
