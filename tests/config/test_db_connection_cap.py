"""The per-process MySQL connection cap: waits, refuses after its wait, never leaks a slot."""

import threading
import time

import pytest
from django.db import OperationalError, connection

from config.db.mysql import base as capped

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "mysql", reason="the cap wraps MySQL's backend"),
]


@pytest.fixture
def cap(settings):
    settings.DB_MAX_CONNECTIONS = 1
    settings.DB_CONNECTION_WAIT_SECONDS = 0.3
    capped._slots = None
    yield
    capped._slots = None


def wrapper(**override):
    return capped.DatabaseWrapper({**connection.settings_dict, **override})


def test_a_second_connection_waits_then_fails_and_a_freed_slot_is_taken(cap):
    first, second = wrapper(), wrapper()
    first.ensure_connection()

    started = time.monotonic()
    with pytest.raises(OperationalError, match="no database connection free"):
        second.ensure_connection()
    assert time.monotonic() - started >= 0.25

    first.close()
    second.ensure_connection()
    assert second.cursor().execute("SELECT 1") is not None
    second.close()


def test_a_waiting_thread_gets_the_connection_as_soon_as_it_is_closed(cap, settings):
    settings.DB_CONNECTION_WAIT_SECONDS = 5
    first = wrapper()
    first.ensure_connection()
    got = []

    def take():  # another thread, with its own connection object as Django requires
        second = wrapper()
        second.ensure_connection()
        got.append(time.monotonic())
        second.close()

    thread = threading.Thread(target=take)
    thread.start()
    time.sleep(0.3)
    assert not got
    closed = time.monotonic()
    first.close()
    thread.join(5)
    assert got and got[0] - closed < 1


def test_a_failed_connect_gives_its_slot_back(cap):
    broken = wrapper(PORT=1)  # nothing listens there
    with pytest.raises(OperationalError):
        broken.ensure_connection()

    working = wrapper()
    working.ensure_connection()  # the slot was not leaked
    working.close()
