"""The PaymentGateway interface and the registry that picks one by its code.

A gateway is chosen per payment by the code stored on it; settings.PAYMENT_GATEWAYS maps
each code to its class and configuration. Adding a PG is one package and one entry.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import date
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

import gateways.metrics  # noqa: F401  (registers them at startup: /metrics lists them before any call)
from config.strict_json import strict_loads
from gateways.errors import InvalidWebhook, UnsupportedGateway
from gateways.types import (
    CancelRequest,
    ConfirmRequest,
    GatewayPayment,
    PaymentRef,
    PgSettlement,
    PgTransaction,
    Prepared,
    PrepareRequest,
    WebhookNotice,
)


class PaymentGateway(ABC):
    code: str = ""
    # Whether this PG has a server-side step between checkout and its window (prepare).
    prepares: bool = False
    # What the shop's confirm sends: the PG's payment key (Toss, NicePay), or a one-time
    # token while the key came from prepare (KakaoPay: pg_token, and the tid from ready).
    confirm_sends_token: bool = False
    # Whether the PG's guard against doing one request twice is an Idempotency-Key we
    # choose (Toss). Only then can recovery continue under a new key (never for NicePay's
    # orderId rule or KakaoPay's one-time pg_token and cancel_available_amount).
    keyed_idempotency: bool = False
    # Whether reconciliation reads this PG's day from a settlement file an operator
    # downloads (gateways/settlement_file.py) rather than from day_transactions and
    # day_settlements: NicePay and KakaoPay have no settlement API.
    reconciles_from_file: bool = False
    # Whether a checkout may ask this PG for a virtual account (가상계좌) and the app
    # handles its deposit: Toss (its WAITING_FOR_DEPOSIT and DEPOSIT_CALLBACK). NicePay's
    # vbank is read if one comes, but its window and deposit notice are not confirmed
    # (docs/pg.md), so it is not offered.
    virtual_accounts: bool = False

    def __init__(self, code: str, config: dict):
        self.code = code
        self.config = config

    def prepare(self, request: PrepareRequest) -> Prepared | None:
        """A PG's step between checkout and its window, made with no transaction open.

        Most PGs have none (None). KakaoPay's ready returns its tid and the window's URL.
        """
        return None

    @abstractmethod
    def confirm(self, request: ConfirmRequest) -> GatewayPayment:
        """Approve an authenticated payment. Raises a gateways.errors class on failure."""

    @abstractmethod
    def cancel(self, request: CancelRequest) -> GatewayPayment:
        """Cancel all (amount None) or part of an approved payment; a paid virtual account
        is refunded to request.refund_account where the PG takes one (docs/pg.md)."""

    @abstractmethod
    def get_payment(self, payment_key: str) -> GatewayPayment:
        """Look a payment up by the PG's key. PaymentNotFound if the PG has none."""

    @abstractmethod
    def get_payment_by_order_id(self, order_id: str) -> GatewayPayment:
        """Look a payment up by our orderId. PaymentNotFound if the PG has none."""

    def lookup(self, ref: PaymentRef) -> GatewayPayment:
        """The PG's record of one of our payments, found the way this PG finds it best.

        Recovery and compensation call this: one request, PaymentNotFound if none.
        """
        return self.get_payment_by_order_id(ref.order_id)

    def parse_webhook(self, body: bytes) -> WebhookNotice:
        """Read a notification this PG sent. InvalidWebhook if it is not one of its own.

        The notice's payload is redacted (gateways.details.redacted); what the
        notification carries to prove itself, if anything, is WebhookNotice.secret.
        PGs without payment webhooks (KakaoPay) keep this default: nothing to receive.
        """
        raise UnsupportedGateway(self.code)

    def webhook_ack(self) -> tuple[str, str]:
        """The body and content type the PG needs to count a delivery as received."""
        return "", "text/plain"

    def client_config(self) -> dict:
        """What the shop's frontend needs to open this PG's window (public values only)."""
        return {}

    def merchant_id(self) -> str:
        """The id this PG's records of transactions carry for us (Toss mId, NicePay client
        key, KakaoPay cid): reconciliation refuses records of another merchant."""
        raise UnsupportedGateway(self.code)

    def day_transactions(self, day: date) -> Iterator[PgTransaction]:
        """Every approval and cancel of the Korean `day` in the PG's records, in its order.

        A generator that holds one page of the PG's answer at a time. PGs without such an
        API (reconciles_from_file) raise UnsupportedGateway.
        """
        raise UnsupportedGateway(self.code)

    def day_settlements(self, day: date) -> Iterator[PgSettlement]:
        """The fee and payout of every transaction sold on the Korean `day`, as
        day_transactions: a generator, UnsupportedGateway where the PG has no API."""
        raise UnsupportedGateway(self.code)


def webhook_json(body: bytes, *required: str) -> dict:
    """A notification's JSON object with its required string fields, or InvalidWebhook."""
    try:
        data = strict_loads(body)
    except ValueError as exc:
        raise InvalidWebhook(str(exc)) from exc
    return webhook_fields(data, *required)


def webhook_fields(data, *required: str) -> dict:
    """`data` if it is an object whose `required` fields are strings, else InvalidWebhook."""
    if not isinstance(data, dict):
        raise InvalidWebhook("not a JSON object")
    missing = [name for name in required if not isinstance(data.get(name), str)]
    if missing:
        raise InvalidWebhook(f"missing {', '.join(missing)}")
    return data


@cache
def get_gateway(code: str) -> PaymentGateway:
    config = settings.PAYMENT_GATEWAYS.get(code)
    if not config or not config.get("CLASS"):
        raise UnsupportedGateway(code)
    return import_string(config["CLASS"])(code, config)


@receiver(setting_changed)
def _forget_gateways(setting, **kwargs):
    if setting == "PAYMENT_GATEWAYS":
        get_gateway.cache_clear()
