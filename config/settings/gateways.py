"""Payment gateway settings, all from the environment.

Defaults point at the PG sandbox (`python manage.py run_pg_sandbox`), so `make run` works
with no setup; the same code reaches the real PGs when given their URLs and keys. The
default keys are sandbox-only values, not credentials of any real merchant.
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import env

PG_SANDBOX_URL = env("PG_SANDBOX_URL", default="http://127.0.0.1:8090")

PAYMENT_GATEWAYS = {
    "toss": {
        "CLASS": "gateways.toss.gateway.TossGateway",
        "API_BASE": env("TOSS_API_BASE", default=f"{PG_SANDBOX_URL}/toss"),
        "SECRET_KEY": env("TOSS_SECRET_KEY", default="test_sk_sandbox_local_only"),
        "CLIENT_KEY": env("TOSS_CLIENT_KEY", default="test_ck_sandbox_local_only"),
        # The mId Toss's transactions and settlements carry for us (the sandbox's by default).
        "MID": env("TOSS_MID", default="tvivarepublica"),
        "CONNECT_TIMEOUT": env.float("TOSS_CONNECT_TIMEOUT", default=3.0),
        "READ_TIMEOUT": env.float("TOSS_READ_TIMEOUT", default=30.0),
    },
    "nicepay": {
        "CLASS": "gateways.nicepay.gateway.NicePayGateway",
        "API_BASE": env("NICEPAY_API_BASE", default=f"{PG_SANDBOX_URL}/nicepay"),
        "CLIENT_KEY": env("NICEPAY_CLIENT_KEY", default="S2_sandbox_client_local_only"),
        # Where the nightly reconciliation fetches the day's settlement file ({date}); empty:
        # an operator puts it in SETTLEMENT_FILE_DIR (docs/reconciliation.md).
        "SETTLEMENT_FILE_URL": env(
            "NICEPAY_SETTLEMENT_FILE_URL",
            default=f"{PG_SANDBOX_URL}/sandbox/nicepay/settlement-file?date={{date}}",
        ),
        "SECRET_KEY": env("NICEPAY_SECRET_KEY", default="sandbox_secret_local_only"),
        "CONNECT_TIMEOUT": env.float("NICEPAY_CONNECT_TIMEOUT", default=3.0),
        "READ_TIMEOUT": env.float("NICEPAY_READ_TIMEOUT", default=30.0),
    },
    "kakaopay": {
        "CLASS": "gateways.kakaopay.gateway.KakaoPayGateway",
        "API_BASE": env("KAKAOPAY_API_BASE", default=f"{PG_SANDBOX_URL}/kakaopay"),
        "SECRET_KEY": env("KAKAOPAY_SECRET_KEY", default="DEV_sandbox_secret_local_only"),
        "CID": env("KAKAOPAY_CID", default="TC0ONETIME"),
        "SETTLEMENT_FILE_URL": env(
            "KAKAOPAY_SETTLEMENT_FILE_URL",
            default=f"{PG_SANDBOX_URL}/sandbox/kakaopay/settlement-file?date={{date}}",
        ),
        "CONNECT_TIMEOUT": env.float("KAKAOPAY_CONNECT_TIMEOUT", default=3.0),
        "READ_TIMEOUT": env.float("KAKAOPAY_READ_TIMEOUT", default=30.0),
    },
}

# Per-code overrides of the error classification, "gateway:operation:CODE=CLASS,...",
# CLASS one of RETRY, FAIL, UNKNOWN, ALREADY_DONE (gateways/errors.py; each PG's table is
# in its gateway.py).
PAYMENT_ERROR_OVERRIDES = env.dict("PAYMENT_ERROR_OVERRIDES", default={})
for _key, _value in PAYMENT_ERROR_OVERRIDES.items():
    if _key.count(":") != 2 or _value not in ("RETRY", "FAIL", "UNKNOWN", "ALREADY_DONE"):
        raise ImproperlyConfigured(f"PAYMENT_ERROR_OVERRIDES: bad entry {_key}={_value}")
