"""gunicorn settings (`gunicorn -c config/gunicorn.py config.wsgi`).

Threaded workers (`gthread`, as bench/stack.py runs them): a request that waits (a
`Prefer: wait=N` GET of a payment, a confirm waiting on the PG) or a client that sends
slowly holds one thread, not a whole worker, so WEB_CONCURRENCY x GUNICORN_THREADS
requests can wait at once while others are answered. Each thread still holds its
request until it is done: in production nginx (deploy/nginx/nginx.conf) reads whole
requests before they reach gunicorn, so slow clients cost nginx connections, not
threads. See docs/operations.md, "Serving".

Prometheus multiprocess mode: the master empties PROMETHEUS_MULTIPROC_DIR on start, so a
restart does not add the previous run's counters again, and forgets dead workers.
"""

import os
import shutil
from pathlib import Path

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# gunicorn turns a sync worker with threads > 1 into gthread: sync gets 1 unless told.
threads = int(os.environ.get("GUNICORN_THREADS", "64" if worker_class == "gthread" else "1"))
# gthread: a worker whose main loop is silent this long is restarted (not a request limit).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On a restart, requests in flight get this long: every `Prefer: wait` (30 s at most)
# ends; a confirm cut short stays EXECUTING and recovery finishes it.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "40"))
# An idle kept-alive connection is closed after this (it waits in the poller, not a thread).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
