"""Liveness and readiness probes.

/healthz answers while the process can serve; /readyz also proves the database and the
broker answer, each within a short timeout, so a load balancer stops sending traffic to
an instance that cannot take payments.
"""

import time

from django.core.cache import cache
from django.db import connection
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.celery_app import app as celery_app
from config.tasks import HEARTBEAT_CACHE_KEY

BROKER_TIMEOUT_SECONDS = 2.0


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    # Socket timeouts of its own: the configured ones may be unset (filesystem broker
    # options) or long (made for workers), and a probe must answer quickly.
    timeouts = {
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
    }
    with celery_app.connection_for_write(transport_options=timeouts) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
        # Redis connects lazily: a ping on the channel's client makes it talk to the server.
        client = getattr(conn.default_channel, "client", None)
        if client is not None and hasattr(client, "ping"):
            client.ping()


def _timed(check) -> dict:
    started = time.monotonic()
    try:
        check()
    except Exception as exc:  # a probe reports any failure; it never raises
        return {"ok": False, "error": type(exc).__name__, "ms": _ms_since(started)}
    return {"ok": True, "ms": _ms_since(started)}


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


class HealthzApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"status": "ok"})


class ReadyzApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        checks = {"database": _timed(_check_database), "broker": _timed(_check_broker)}
        ready = all(c["ok"] for c in checks.values())
        body = {"status": "ready" if ready else "unavailable", "checks": checks}
        # Informational: when a worker last ran the beat heartbeat (not a readiness gate:
        # web can take payments while workers restart).
        try:
            body["workerHeartbeat"] = cache.get(HEARTBEAT_CACHE_KEY)
        except Exception:
            body["workerHeartbeat"] = None
        return Response(body, status=status.HTTP_200_OK if ready else 503)
