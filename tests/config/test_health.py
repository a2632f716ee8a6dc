import socket
import threading
import time

import pytest
from django.db import OperationalError

from config.celery_app import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_real_database_and_broker(api_client):
    response = api_client.get("/readyz")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@pytest.fixture
def broker_url():
    original = celery_app.conf.broker_url

    def use(url: str) -> None:
        celery_app.conf.broker_url = url

    yield use
    celery_app.conf.broker_url = original


def test_readyz_is_503_when_the_broker_refuses(api_client, broker_url):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker_url(f"redis://127.0.0.1:{port}/0")

    response = api_client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_readyz_answers_quickly_when_the_broker_hangs(api_client, broker_url):
    # A server that accepts connections and never answers: only a timeout ends the wait.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept_and_hold():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    broker_url(f"redis://127.0.0.1:{server.getsockname()[1]}/0")
    try:
        started = time.monotonic()
        response = api_client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    # Bounded by the probe's own timeouts (a hung broker would otherwise hang the probe).
    assert elapsed < 15


def test_readyz_is_503_when_the_database_fails(api_client, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise OperationalError("database is gone")

    monkeypatch.setattr(connection, "cursor", broken_cursor)

    response = api_client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": response.json()["checks"]["database"]["ms"],
    }


def test_metrics_are_exposed(api_client):
    api_client.get("/healthz")

    response = api_client.get("/metrics")

    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content
