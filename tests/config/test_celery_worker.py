"""A task goes through the real broker (Redis in CI) to a real worker process and runs."""

import json
import uuid

import pytest
import structlog
from django.core.cache import cache

from config.celery_app import app
from config.tasks import celery_heartbeat
from tests.processes import ready_celery_worker

pytestmark = pytest.mark.processes


@pytest.fixture
def worker():
    # A queue of its own: no other worker on this broker can take the test's task.
    queue = f"test-{uuid.uuid4().hex[:10]}"
    process = ready_celery_worker(queue, LOG_FORMAT="json")
    yield queue, process
    process.stop()


def test_a_task_runs_on_a_real_worker_and_carries_the_request_id(worker):
    queue, process = worker
    probe_id = uuid.uuid4().hex
    request_id = f"req-{probe_id[:8]}"
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        celery_heartbeat.apply_async(kwargs={"probe_id": probe_id}, queue=queue)
    finally:
        structlog.contextvars.clear_contextvars()

    process.wait_for(
        lambda: cache.get(f"celery:ping:{probe_id}") is not None, timeout=30, what="the task to run"
    )

    lines = [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]
    ran = [line for line in lines if line.get("event") == "celery_heartbeat"]
    assert ran and ran[0]["probe_id"] == probe_id
    # The worker logged the task with the request id of the code that enqueued it.
    assert ran[0]["request_id"] == request_id


def test_the_broker_is_the_one_configured():
    # In CI with REDIS_URL set, the task above went through Redis, not a local fallback.
    from django.conf import settings

    expected = "redis" if settings.REDIS_URL else "filesystem"
    assert app.connection_for_write().transport_cls == expected
