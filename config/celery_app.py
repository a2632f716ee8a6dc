"""The Celery application: configured from Django settings (namespace CELERY_)."""

import os

from celery import Celery, signals
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("config", include=["config.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
# Binds the publishing request's request_id around each task run, so a task's log lines
# can be joined to the request that caused them.
app.steps["worker"].add(DjangoStructLogInitStep)
app.autodiscover_tasks()


@signals.setup_logging.connect
def _keep_django_logging(**kwargs):
    """Connecting this stops Celery from replacing the LOGGING that django.setup() applied."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.worker_init.connect
def _serve_metrics(**kwargs):
    """With METRICS_PORT set (a worker in its own container), serve this worker's metrics:
    the pool's children write them to PROMETHEUS_MULTIPROC_DIR and this sums them.
    Without it (make run) the web process's /metrics reads the shared directory."""
    port = os.environ.get("METRICS_PORT")
    if port:
        from prometheus_client import start_http_server

        from config.metrics import process_registry

        start_http_server(int(port), registry=process_registry())
