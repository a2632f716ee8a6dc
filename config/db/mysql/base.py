"""Django's MySQL backend with a per-process cap on open connections.

With many threads per process (gunicorn gthread, Celery's threads pool) every thread
that touches the database opens its own connection. Under overload those threads pile
up, each holding one while it waits for the CPU, until MySQL refuses new ones ("Too many
connections") and requests fail. Here a thread must take one of DB_MAX_CONNECTIONS
slots to open a connection and gives it back when the connection closes (at the end of
a request or task, and before every PG call); a thread that finds none free waits up to
DB_CONNECTION_WAIT_SECONDS, so overload queues instead of failing. The total is bounded
by processes x DB_MAX_CONNECTIONS.
"""

import threading

from django.conf import settings
from django.db import OperationalError
from django.db.backends.mysql import base

_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()


def _process_slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.DB_MAX_CONNECTIONS)
        return _slots


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_slot = False

    def get_new_connection(self, conn_params):
        slots = _process_slots()
        if not slots.acquire(timeout=settings.DB_CONNECTION_WAIT_SECONDS):
            raise OperationalError(
                f"no database connection free: all {settings.DB_MAX_CONNECTIONS} of this "
                f"process are in use after {settings.DB_CONNECTION_WAIT_SECONDS} s"
            )
        try:
            connection = super().get_new_connection(conn_params)
        except BaseException:
            slots.release()
            raise
        self._holds_slot = True
        return connection

    def _close(self):
        try:
            return super()._close()
        finally:
            if self._holds_slot:
                self._holds_slot = False
                _process_slots().release()
