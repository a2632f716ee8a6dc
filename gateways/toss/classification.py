"""How to read each Toss error: data, with defaults from pg-contracts 1.7.

The classes are gateways.classification's; RETRY repeats with the same Idempotency-Key.
"""

from gateways.classification import ErrorClass, override

R, F, U, A = ErrorClass.RETRY, ErrorClass.FAIL, ErrorClass.UNKNOWN, ErrorClass.ALREADY_DONE

CONFIRM = {
    "ALREADY_PROCESSED_PAYMENT": A,
    "ALREADY_COMPLETED_PAYMENT": A,
    "PROVIDER_ERROR": R,
    "CARD_PROCESSING_ERROR": U,  # ambiguous at the card company: ask later, do not retry blind
    "NOT_AVAILABLE_PAYMENT": R,
    "UNAPPROVED_ORDER_ID": R,
    "NOT_AVAILABLE_BANK": R,
    "IDEMPOTENT_REQUEST_PROCESSING": R,
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": R,
    "FAILED_INTERNAL_SYSTEM_PROCESSING": R,
    "UNKNOWN_PAYMENT_ERROR": R,
    "COMMON_ERROR": R,
    "UNKNOWN_ERROR": R,
    # Our keys or setup are wrong: nothing says the payment failed; a person must fix
    # the configuration, and recovery finds the truth afterwards.
    "UNAUTHORIZED_KEY": U,
    "INCORRECT_BASIC_AUTH_FORMAT": U,
    "INVALID_API_KEY": U,
    "NOT_FOUND_TERMINAL_ID": U,
    "INVALID_UNREGISTERED_SUBMALL": U,
    "NOT_REGISTERED_BUSINESS": U,
    "INVALID_IDEMPOTENCY_KEY": U,
    # Final: declines, limits, a wrong orderId for the key, an expired session (our one
    # key per payment means an earlier success would have been replayed, not refused).
    "FORBIDDEN_REQUEST": F,
    "NOT_FOUND_PAYMENT_SESSION": F,
    "NOT_FOUND_PAYMENT": F,
    "INVALID_REQUEST": F,
    "INVALID_ORDER_ID": F,
    "DUPLICATED_ORDER_ID": F,
}
LOOKUP = {
    "FORBIDDEN_CONSECUTIVE_REQUEST": R,
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": R,
    "FAILED_INTERNAL_SYSTEM_PROCESSING": R,
    "COMMON_ERROR": R,
    "UNKNOWN_ERROR": R,
    "UNAUTHORIZED_KEY": U,
    "INCORRECT_BASIC_AUTH_FORMAT": U,
}
CANCEL = {
    "ALREADY_CANCELED_PAYMENT": A,
    "ALREADY_REFUND_PAYMENT": A,
    "ALREADY_REFUNDING_PAYMENT": A,
    "PROVIDER_ERROR": R,
    "FORBIDDEN_CONSECUTIVE_REQUEST": R,
    "NOT_AVAILABLE_BANK": R,
    "EXCEED_MAX_REFUND_AMOUNT": R,
    "FAILED_INTERNAL_SYSTEM_PROCESSING": R,
    "FAILED_REFUND_PROCESS": R,
    "FAILED_METHOD_HANDLING_CANCEL": R,
    "FAILED_PARTIAL_REFUND": R,
    "COMMON_ERROR": R,
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": R,
    "IDEMPOTENT_REQUEST_PROCESSING": R,
    "UNAUTHORIZED_KEY": U,
    "INCORRECT_BASIC_AUTH_FORMAT": U,
}
TABLES = {"confirm": CONFIRM, "lookup": LOOKUP, "cancel": CANCEL}


def classify(operation: str, code: str, http_status: int) -> ErrorClass:
    chosen = override("toss", operation, code)
    if chosen is not None:
        return chosen
    known = TABLES[operation].get(code)
    if known is not None:
        return known
    # Codes not in the table: a 5xx may or may not have been processed (the same key
    # makes a retry safe); any other status is Toss refusing this request for good.
    return R if http_status >= 500 else F
