"""Start the PG sandbox: `python manage.py run_pg_sandbox [--port 8090]`.

By default it accepts the app's own TOSS_SECRET_KEY and TOSS_CLIENT_KEY, so `make run`
works with no setup. It prints one log line per request (never a header or a key).
"""

import random
from pathlib import Path

from aiohttp import web
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateways.sandbox.server import SandboxConfig, build_app


class Command(BaseCommand):
    help = "Run the PG sandbox (Toss emulator with fault injection) as its own process."

    def add_arguments(self, parser):
        gateways = settings.PAYMENT_GATEWAYS
        toss = gateways["toss"]
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090)
        parser.add_argument(
            "--toss-secret-key",
            action="append",
            dest="toss_secret_keys",
            help="accepted secret key (repeatable; default: TOSS_SECRET_KEY)",
        )
        parser.add_argument(
            "--toss-client-key",
            action="append",
            dest="toss_client_keys",
            help="accepted client key for the window (repeatable; default: TOSS_CLIENT_KEY)",
        )
        parser.add_argument(
            "--toss-webhook-url",
            help="where Toss's notices (PAYMENT_STATUS_CHANGED, DEPOSIT_CALLBACK) are sent",
        )
        parser.add_argument(
            "--state-file", type=Path, help="keep state in this file across restarts"
        )
        parser.add_argument("--auth-window-seconds", type=int, default=30 * 60)
        parser.add_argument("--confirm-window-seconds", type=int, default=10 * 60)
        parser.add_argument(
            "--amount-mismatch-code",
            default="INVALID_REQUEST",
            help="the code for a confirm whose amount differs (Toss does not document it)",
        )
        parser.add_argument("--seed", type=int, help="seed fault rates for a repeatable run")
        parser.add_argument(
            "--toss-replay-errors",
            action="store_true",
            help="store transient 4xx answers under their Idempotency-Key and replay them",
        )
        parser.add_argument(
            "--nicepay-key",
            action="append",
            dest="nicepay_keys",
            metavar="CLIENT_KEY:SECRET_KEY",
            help="accepted NicePay key pair (repeatable; default: the app's own keys)",
        )
        parser.add_argument(
            "--kakaopay-secret-key",
            action="append",
            dest="kakaopay_secret_keys",
            help="accepted KakaoPay secret key (repeatable; default: KAKAOPAY_SECRET_KEY)",
        )
        self._toss_defaults = (toss["SECRET_KEY"], toss["CLIENT_KEY"])
        nice, kakao = gateways["nicepay"], gateways["kakaopay"]
        self._nicepay_default = f"{nice['CLIENT_KEY']}:{nice['SECRET_KEY']}"
        self._kakaopay_default = (kakao["SECRET_KEY"], kakao["CID"])

    def handle(self, *args, **options):
        if not 0 < options["port"] < 65536:
            raise CommandError("--port must be 1 to 65535")
        if options["auth_window_seconds"] < 1 or options["confirm_window_seconds"] < 1:
            raise CommandError("windows must be at least one second")
        secret, client = self._toss_defaults
        config = SandboxConfig(
            toss_secret_keys=options["toss_secret_keys"] or [secret],
            toss_client_keys=options["toss_client_keys"] or [client],
            auth_window_seconds=options["auth_window_seconds"],
            confirm_window_seconds=options["confirm_window_seconds"],
            amount_mismatch_code=options["amount_mismatch_code"],
            toss_webhook_url=options["toss_webhook_url"],
            nicepay_keys=[_key_pair(k) for k in options["nicepay_keys"] or [self._nicepay_default]],
            kakaopay_secret_keys=options["kakaopay_secret_keys"] or [self._kakaopay_default[0]],
            kakaopay_cids=[self._kakaopay_default[1], "TC0ONETIME"],
            toss_replay_errors=options["toss_replay_errors"],
            state_file=options["state_file"],
        )
        app = build_app(config)
        if options["seed"] is not None:
            app["sandbox"].faults._rng = random.Random(options["seed"])
        base = f"http://{options['host']}:{options['port']}"
        self.stdout.write(f"PG sandbox on {base}  (Toss API: {base}/toss, control: {base}/sandbox)")
        self.stdout.flush()
        web.run_app(app, host=options["host"], port=options["port"], print=None, access_log=None)


def _key_pair(value: str) -> tuple[str, str]:
    client, sep, secret = value.partition(":")
    if not sep or not client or not secret:
        raise CommandError(f"--nicepay-key wants CLIENT_KEY:SECRET_KEY, not {value!r}")
    return client, secret
