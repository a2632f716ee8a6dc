"""Logging: structlog through the stdlib, JSON lines in production, readable locally.

Every line carries the request id (django-structlog binds it per request and carries it
into Celery tasks). The redaction processor runs last before rendering, so nothing a
caller binds can leak a secret.
"""

import logging

import structlog

from config.env import env
from config.log_processors import redact_secrets

LOG_FORMAT = env("LOG_FORMAT", default="console")  # console | json
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
TASK_LOG_LEVEL = env("TASK_LOG_LEVEL", default="WARNING")

_pre_chain = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    redact_secrets,
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Frames without their locals: a local's repr can hold a secret, and
                # can run code (a QuerySet queries the database from inside the
                # logging lock, which once deadlocked a web process under overload).
                structlog.processors.ExceptionRenderer(
                    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
                ),
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            "foreign_pre_chain": _pre_chain,
        },
        "console": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.dev.ConsoleRenderer(
                    colors=False,
                    # Python's own traceback: rich's prints locals (see the json one).
                    exception_formatter=structlog.dev.plain_traceback,
                ),
            ],
            "foreign_pre_chain": _pre_chain,
        },
    },
    "handlers": {
        "stream": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["stream"], "level": LOG_LEVEL},
    "loggers": {
        # Replace Django's own console handlers so each line is printed once, by us.
        "django": {"handlers": ["stream"], "level": "INFO", "propagate": False},
        # django-structlog logs every request with its status; these would repeat it.
        "django.server": {"handlers": [], "level": "ERROR", "propagate": False},
        "django.request": {"handlers": ["stream"], "level": "ERROR", "propagate": False},
        # SQL at DEBUG would print bound parameters; never let it follow LOG_LEVEL down.
        "django.db.backends": {"handlers": ["stream"], "level": "INFO", "propagate": False},
        # Celery's own line per task sent, received, started and succeeded: beat sends a
        # scan every few seconds, so at INFO they bury everything else. Our tasks log one
        # line when they did something; failures still print (ERROR). TASK_LOG_LEVEL=INFO
        # brings the lifecycle back when debugging.
        **{
            name: {"level": TASK_LOG_LEVEL}
            for name in (
                "celery.beat",
                "celery.worker.strategy",
                "celery.app.trace",
                "django_structlog.celery.receivers",
            )
        },
    },
}

structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level,
        *_pre_chain[:-1],
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.UnicodeDecoder(),
        redact_secrets,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)

DJANGO_STRUCTLOG_CELERY_ENABLED = True
# A request id sent by a trusted proxy or the shop frontend links our lines to theirs.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
# One line per request, at its end (status, duration, user, ip, request id): the start
# line repeated most of it and was a few per cent of an API call's CPU. DEBUG shows it.
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
