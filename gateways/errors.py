"""What a gateway call can raise, and how each PG's error codes map to it.

Callers decide by class, never by PG code:

GatewayError
  Retryable        transient: nothing happened, or repeating with the same key is safe
  OutcomeUnknown   the request went out and no usable answer came back
  Rejected         a final decline (the card company said no)
  AlreadyProcessed the PG already processed this payment: look it up to learn how
  PaymentNotFound  the PG has no such payment (a lookup)
  ConfigError      our side is misconfigured (keys, URLs): alert a person

Each gateway keeps its own table of codes (gateway.py), read into these classes:

    RETRY         transient; repeat (with the same idempotency key where the PG has one)
    FAIL          final for this payment: a decline, or a request the PG will never accept
    UNKNOWN       the answer does not say what happened: recovery must ask the PG later
    ALREADY_DONE  the PG already processed it: look the payment up to learn the outcome

Operators can override single entries with PAYMENT_ERROR_OVERRIDES, for example
"toss:confirm:CARD_PROCESSING_ERROR=UNKNOWN".
"""

from enum import StrEnum

from django.conf import settings


class GatewayError(Exception):
    def __init__(
        self,
        message: str = "",
        *,
        gateway: str = "",
        operation: str = "",
        code: str = "",
        http_status: int | None = None,
        sent: bool = True,
    ):
        super().__init__(message or code)
        self.message = message
        self.gateway = gateway
        self.operation = operation
        self.code = code
        self.http_status = http_status
        # False when the request provably never reached the PG (connection refused, DNS).
        self.sent = sent


class Retryable(GatewayError):
    pass


class OutcomeUnknown(GatewayError):
    pass


class Rejected(GatewayError):
    pass


class AlreadyProcessed(GatewayError):
    pass


class PaymentNotFound(GatewayError):
    pass


class ConfigError(GatewayError):
    pass


class InvalidWebhook(ValueError):
    """A notification this PG could not have sent (not its format); answered 400."""


class UnsupportedGateway(LookupError):
    pass


class ErrorClass(StrEnum):
    RETRY = "RETRY"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"
    ALREADY_DONE = "ALREADY_DONE"


RAISES: dict[ErrorClass, type[GatewayError]] = {
    ErrorClass.RETRY: Retryable,
    ErrorClass.FAIL: Rejected,
    ErrorClass.UNKNOWN: OutcomeUnknown,
    ErrorClass.ALREADY_DONE: AlreadyProcessed,
}


def override(gateway: str, operation: str, code: str) -> ErrorClass | None:
    """The operators' class for this code (PAYMENT_ERROR_OVERRIDES), if they set one."""
    value = settings.PAYMENT_ERROR_OVERRIDES.get(f"{gateway}:{operation}:{code}")
    return ErrorClass(value) if value is not None else None
