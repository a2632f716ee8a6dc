"""pytest: the real database and broker given by DATABASE_URL / REDIS_URL, else SQLite."""

import os
import tempfile
import uuid
from pathlib import Path

# A test session's tasks go to a broker folder of its own (inherited by the worker
# processes tests start), never to var/'s, where `make run`'s worker would pick them up.
os.environ.setdefault("CELERY_BROKER_DIR", tempfile.mkdtemp(prefix="payments-test-broker-"))

from config.env import env
from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-key-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
# Hashing is not under test; a fast hasher keeps the suite quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No collectstatic before tests: plain storage renders admin pages without a manifest.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
AUTH_THROTTLE_RATE = env("AUTH_THROTTLE_RATE", default="10000/minute")
# The checkout limits are off unless a test sets them (tests/payments/services/
# test_checkout.py does): many tests check out again and again as one member.
CHECKOUT_MAX_OPEN_PER_MEMBER = env.int("CHECKOUT_MAX_OPEN_PER_MEMBER", default=10**6)
CHECKOUT_MAX_HELD_PER_PRODUCT = env.int("CHECKOUT_MAX_HELD_PER_PRODUCT", default=10**6)
CHECKOUT_RATE_PER_MINUTE = env.int("CHECKOUT_RATE_PER_MINUTE", default=10**6)

# Each test session gets its own cache namespace (throttle counters, heartbeats), so runs
# never see each other's keys; worker processes started by tests inherit it from the env.
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default=f"test-{uuid.uuid4().hex[:12]}")  # noqa: F405
if CACHES["default"]["BACKEND"].endswith("FileBasedCache"):  # noqa: F405
    CACHES["default"]["LOCATION"] = env(  # noqa: F405
        "CACHE_DIR", default=tempfile.mkdtemp(prefix="payments-test-cache-")
    )
LOGGING["root"]["level"] = env("LOG_LEVEL", default="WARNING")  # noqa: F405

# Retries in tests: the same policy, shorter pauses.
CONFIRM_BACKOFF_BASE_SECONDS = 0.01
CONFIRM_BACKOFF_MAX_SECONDS = 0.05

# SQLite: a file, not shared-cache memory, so threads and worker processes in tests see
# one database with real locking (WAL, busy timeout) instead of "table is locked" errors.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": env(
            "TEST_SQLITE_PATH",
            default=str(Path(tempfile.mkdtemp(prefix="payments-test-")) / "db.sqlite3"),
        )
    }
