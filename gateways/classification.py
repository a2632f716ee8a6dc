"""Error classes shared by every gateway: what a PG's refusal means for the caller.

    RETRY         transient; repeat (with the same idempotency key where the PG has one)
    FAIL          final for this payment: a decline, or a request the PG will never accept
    UNKNOWN       the answer does not say what happened: recovery must ask the PG later
    ALREADY_DONE  the PG already processed it: look the payment up to learn the outcome

Each gateway keeps its own table of codes; operators can override single entries with
PAYMENT_ERROR_OVERRIDES, e.g. "toss:confirm:CARD_PROCESSING_ERROR=UNKNOWN".
"""

from enum import StrEnum

from django.conf import settings

from gateways import errors


class ErrorClass(StrEnum):
    RETRY = "RETRY"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"
    ALREADY_DONE = "ALREADY_DONE"


RAISES: dict[ErrorClass, type[errors.GatewayError]] = {
    ErrorClass.RETRY: errors.Retryable,
    ErrorClass.FAIL: errors.Rejected,
    ErrorClass.UNKNOWN: errors.OutcomeUnknown,
    ErrorClass.ALREADY_DONE: errors.AlreadyProcessed,
}


def override(gateway: str, operation: str, code: str) -> ErrorClass | None:
    value = settings.PAYMENT_ERROR_OVERRIDES.get(f"{gateway}:{operation}:{code}")
    return ErrorClass(value) if value is not None else None
