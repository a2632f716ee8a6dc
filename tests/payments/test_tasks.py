import pytest
from celery.schedules import crontab
from django.conf import settings

from config.celery_app import app
from payments import tasks
from payments.services import queue
from tests.factories import ProductFactory
from tests.payments.helpers import checkout

pytestmark = pytest.mark.django_db


def test_every_periodic_task_exists_and_expires_before_the_next_run():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
        period = entry["schedule"]
        if isinstance(period, crontab):  # the nightly jobs: one hour and minute a day
            assert len(period.hour) == len(period.minute) == 1, name
            period = 24 * 3600
        assert 0 < entry["options"]["expires"] < period, name


def test_every_task_a_service_queues_by_name_is_registered():
    app.loader.import_default_modules()
    for name in (queue.CONFIRM_PAYMENT, queue.PROCESS_WEBHOOK, queue.EXECUTE_REFUND):
        assert name in app.tasks, name


def test_the_periodic_tasks_run_their_services(member_client, settings):
    settings.CHECKOUT_EXPIRY_SECONDS = 0
    product = ProductFactory(stock=3)
    checkout(member_client, [(product.id, 2)])

    assert tasks.expire_checkouts() == 1
    assert tasks.compensation_scan() == {
        "restored": 0,
        "false_failures": 0,
        "waiting": 0,
        "already_done": 0,
    }
    assert tasks.recovery_scan() == 0
    assert tasks.refund_recovery_scan() == 0
    product.refresh_from_db()
    assert product.stock == 3
