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
