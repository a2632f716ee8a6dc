"""Prometheus metrics of PG calls (gateways must not import payments, so they live here).

Counters and histograms only: with PROMETHEUS_MULTIPROC_DIR set, every gunicorn and
Celery process writes its own file and /metrics sums them (config/metrics.py).
"""

from prometheus_client import Counter, Histogram

from config.metrics import LATENCY_BUCKETS

PG_CALLS = Counter(
    "pg_calls_total", "Requests sent to a PG, by gateway and operation", ["gateway", "operation"]
)
PG_CALL_ERRORS = Counter(
    "pg_call_errors_total",
    "PG calls that failed: transport errors (CONNECT_FAILED, READ_TIMEOUT, CONNECTION_LOST)"
    " and error answers, by the PG's code (or HTTP_<status>)",
    ["gateway", "operation", "code"],
)
PG_CALL_SECONDS = Histogram(
    "pg_call_duration_seconds",
    "Latency of PG calls, including those that failed",
    ["gateway", "operation"],
    buckets=LATENCY_BUCKETS,
)
