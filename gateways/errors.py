"""What a gateway call can raise. Callers decide by class, never by PG code.

GatewayError
  Retryable        transient: nothing happened, or repeating with the same key is safe
  OutcomeUnknown   the request went out and no usable answer came back
  Rejected         a final decline (the card company said no)
  AlreadyProcessed the PG already processed this payment: look it up to learn how
  PaymentNotFound  the PG has no such payment (a lookup)
  ConfigError      our side is misconfigured (keys, URLs): alert a person
"""


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
