"""Settings shared by every environment.

local.py, production.py and test.py import this and override a few values; each
third-party topic has its own module (celery, logs, gateways), imported at the end.
"""

from datetime import timedelta

from config.env import BASE_DIR, VAR_DIR, env

DEBUG = env.bool("DEBUG", default=False)
# Each environment module decides where the key comes from (production refuses a weak one).
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.admin_site.OpsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_prometheus",
    "django_structlog",
    "axes",
    "members",
    "products",
    "gateways",
    "ledger",
    "payments",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.api.middleware.RequestLogMiddleware",  # django-structlog's, our client address
    # After the request id is bound, so a refused body is logged with it.
    "config.api.middleware.RequestBodyLimitMiddleware",
    # A login refused for too many failures becomes its 429 here (members/login_guard.py),
    # and a device that logged in is remembered.
    "axes.middleware.AxesMiddleware",
    "members.login_guard.KnownDeviceMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
# What the apps add to the wiring in config/ (dotted paths, so config imports no app):
# gauges computed at each /metrics scrape, and context for the admin's index page.
METRICS_COLLECTORS = ["payments.metrics.PaymentGauges"]
# If set, GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>" (Prometheus:
# authorization.credentials). Empty: open, for a network where only Prometheus reaches it.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
ADMIN_INDEX_CONTEXT = ["payments.admin.operations_index_context"]
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# Open MySQL connections per process at most (0: no cap); see config/db/mysql/base.py.
DB_MAX_CONNECTIONS = env.int("DB_MAX_CONNECTIONS", default=0)
DB_CONNECTION_WAIT_SECONDS = env.float("DB_CONNECTION_WAIT_SECONDS", default=10)


def database_from_env(url: str, conn_max_age: int) -> dict:
    """Parse DATABASE_URL and add what each backend needs to be correct under concurrency."""
    db = env.db_url_config(url)
    db["CONN_MAX_AGE"] = conn_max_age
    db["CONN_HEALTH_CHECKS"] = conn_max_age > 0
    options = db.setdefault("OPTIONS", {})
    if db["ENGINE"] == "django.db.backends.mysql":
        options.setdefault("charset", "utf8mb4")
        # Conditional UPDATEs decide every race; READ COMMITTED keeps their re-reads fresh
        # and avoids REPEATABLE READ's gap locks.
        options.setdefault("isolation_level", "read committed")
        options.setdefault("init_command", "SET sql_mode='STRICT_TRANS_TABLES'")
        options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
        db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
        if DB_MAX_CONNECTIONS:
            db["ENGINE"] = "config.db.mysql"  # Django's, with the per-process cap
    elif db["ENGINE"] == "django.db.backends.sqlite3":
        # web, worker and beat share one file: wait for the lock instead of failing,
        # take the write lock at BEGIN (no upgrade deadlocks), and let readers run
        # beside the writer.
        options.setdefault("timeout", 20)
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    return db


DATABASES = {
    "default": database_from_env(
        env("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env.int("DB_CONN_MAX_AGE", default=0),
    )
}
# Never wrap a whole request in a transaction: a PG call made by a view would run inside it.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="payments"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    # A file cache, unlike locmem, is shared by web, worker and beat in the embedded run.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env("CACHE_DIR", default=str(VAR_DIR / "cache")),
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="payments"),
        }
    }

AUTH_USER_MODEL = "members.Member"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The API's bodies are a few hundred bytes; anything near this is abuse.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its "WWW-Authenticate: Token" makes an anonymous call a 401, not a 403.
        "members.auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "config.api.errors.api_exception_handler",
    "UNICODE_JSON": True,
}
# How long a token's member may stay cached in Redis (members/auth.py); 0 turns it off.
# Deleting the token or saving the member drops the entry at once; this only bounds it.
AUTH_TOKEN_CACHE_SECONDS = env.int("AUTH_TOKEN_CACHE_SECONDS", default=300 if REDIS_URL else 0)
# An API token's lifetime from its creation (members/auth.py); login then makes a new one.
AUTH_TOKEN_TTL_SECONDS = env.int("AUTH_TOKEN_TTL_SECONDS", default=30 * 24 * 3600)
# Login and signup attempts per client address (DRF rate syntax: N/second|minute|hour|day).
AUTH_THROTTLE_RATE = env("AUTH_THROTTLE_RATE", default="30/minute")
# Proxies of ours in front of web (config/api/client.py): 0 believes no X-Forwarded-For.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES

# Admission control (config/admission.py): new payment work past what a web process can
# finish in time is refused at once with 503 OVERLOADED. Keep ADMISSION_MAX_IN_FLIGHT
# below GUNICORN_THREADS, so threads stay free for a payment's GET and for health.
ADMISSION_ENABLED = env.bool("ADMISSION_ENABLED", default=True)
ADMISSION_SHEDDABLE = {
    "POST /api/v1/payments/checkout": "checkout",
    "POST /shop/buy": "checkout",
    "POST /api/v1/payments/confirm": "confirm",
}
ADMISSION_MAX_IN_FLIGHT = env.int("ADMISSION_MAX_IN_FLIGHT", default=48)
ADMISSION_MAX_RATE = env.float("ADMISSION_MAX_RATE", default=500.0)
ADMISSION_MIN_RATE = env.float("ADMISSION_MIN_RATE", default=2.0)
ADMISSION_TARGET_SECONDS = env.float("ADMISSION_TARGET_SECONDS", default=0.5)
ADMISSION_MAX_QUEUE_SECONDS = env.float("ADMISSION_MAX_QUEUE_SECONDS", default=10.0)
ADMISSION_RETRY_AFTER_SECONDS = env.int("ADMISSION_RETRY_AFTER_SECONDS", default=2)

# Failed logins (API, shop and admin alike: django-axes watches Django's authenticate).
# LOGIN_FAILURE_LIMIT failures for one account, or from one address, lock it for
# LOGIN_LOCKOUT_MINUTES after the last; failures during a lock do not lengthen it, and a
# device that logged into the account before is not held by the account's lock
# (members/login_guard.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_PARAMETERS = "members.login_guard.lockout_parameters"
AXES_USERNAME_CALLABLE = "members.login_guard.login_username"
AXES_CLIENT_IP_CALLABLE = "config.api.client.client_address"
AXES_LOCKOUT_CALLABLE = "members.login_guard.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # successes are in the logs; axes keeps the failures
AXES_VERBOSE = False

from config.settings.celery import *  # noqa: E402, F403
from config.settings.gateways import *  # noqa: E402, F403
from config.settings.logs import *  # noqa: E402, F403
from config.settings.payments import *  # noqa: E402, F403
