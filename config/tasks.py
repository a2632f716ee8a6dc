"""Operational tasks that belong to no app."""

import socket

import structlog
from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

log = structlog.get_logger(__name__)

HEARTBEAT_CACHE_KEY = "celery:heartbeat"


@shared_task(name="config.tasks.celery_heartbeat")
def celery_heartbeat(probe_id: str | None = None) -> None:
    """Record that a worker ran a task now; with a probe_id, also answer that caller."""
    beat = {"at": timezone.now().isoformat(), "hostname": socket.gethostname()}
    cache.set(HEARTBEAT_CACHE_KEY, beat, timeout=None)
    if probe_id:
        cache.set(f"celery:ping:{probe_id}", beat, timeout=600)
    log.info("celery_heartbeat", probe_id=probe_id)
