"""GET /metrics: every process's counters plus the database gauges.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn with several workers, Celery's prefork
children), each process writes its metrics to files there and a scrape sums them; the
directory must be emptied when the service starts (config/gunicorn.py, the Makefile).
Without it (tests, runserver) the process's own registry is read.
"""

import os

from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from payments.metrics import PaymentGauges


def process_registry() -> CollectorRegistry:
    """The counters and histograms of this process, or of all of them in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_view(request):
    gauges = CollectorRegistry()
    gauges.register(PaymentGauges())
    page = generate_latest(process_registry()) + generate_latest(gauges)
    return HttpResponse(page, content_type=CONTENT_TYPE_LATEST)
