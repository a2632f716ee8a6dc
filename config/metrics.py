"""GET /metrics: every process's counters plus the gauges the apps compute per scrape.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn with several workers, Celery's prefork
children), each process writes its metrics to files there and a scrape sums them; the
directory must be emptied when the service starts (config/gunicorn.py, the Makefile).
Without it (tests, runserver) the process's own registry is read.

The gauges come from the collectors named in settings.METRICS_COLLECTORS (dotted paths),
so this wiring imports no app. With METRICS_TOKEN set, a scrape must send it as a bearer
token.
"""

import hmac
import os

from django.conf import settings
from django.http import HttpResponse
from django.utils.module_loading import import_string
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# Latency histograms' buckets, shared by the PG calls and the confirm requests.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30)

# Admission control's (config/admission.py); here so /metrics lists them from the start.
SHED = Counter(
    "payment_requests_shed_total",
    "Requests refused by admission control before any work, by kind and reason",
    ["kind", "reason"],
)
ADMITTED = Counter(
    "payment_requests_admitted_total",
    "Requests admission control let in (the kinds it may refuse)",
    ["kind"],
)


def process_registry() -> CollectorRegistry:
    """The counters and histograms of this process, or of all of them in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_view(request):
    # The numbers say how much money moves where: with METRICS_TOKEN set, only a scraper
    # that sends it sees them (nginx also keeps /metrics to internal networks).
    if settings.METRICS_TOKEN and not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {settings.METRICS_TOKEN}"
    ):
        return HttpResponse("metrics need a token\n", status=401, content_type="text/plain")
    gauges = CollectorRegistry()
    for path in settings.METRICS_COLLECTORS:
        gauges.register(import_string(path)())
    page = generate_latest(process_registry()) + generate_latest(gauges)
    return HttpResponse(page, content_type=CONTENT_TYPE_LATEST)
