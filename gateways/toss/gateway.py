"""Toss Payments behind the PaymentGateway interface: our types in, our types out.

How each Toss error reads is data (the tables below, from docs/pg.md, Toss: error codes),
into the classes of gateways.errors; RETRY repeats with the same Idempotency-Key.
"""

from datetime import datetime

from gateways import errors
from gateways.base import PaymentGateway, webhook_fields, webhook_json
from gateways.errors import RAISES, ErrorClass, override
from gateways.http import PgResponse
from gateways.toss.client import TossClient
from gateways.types import (
    CancelRequest,
    ConfirmRequest,
    GatewayCancel,
    GatewayPayment,
    PgStatus,
    WebhookNotice,
    cancel_note,
)

STATUSES = {
    "READY": PgStatus.PENDING,
    "IN_PROGRESS": PgStatus.PENDING,
    "WAITING_FOR_DEPOSIT": PgStatus.PENDING,
    "DONE": PgStatus.APPROVED,
    "PARTIAL_CANCELED": PgStatus.PARTIALLY_CANCELED,
    "CANCELED": PgStatus.CANCELED,
    "ABORTED": PgStatus.FAILED,
    "EXPIRED": PgStatus.EXPIRED,
}


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
    known = override("toss", operation, code) or TABLES[operation].get(code)
    if known is not None:
        return known
    # Codes not in the table: a 5xx may or may not have been processed (the same key
    # makes a retry safe); any other status is Toss refusing this request for good.
    return R if http_status >= 500 else F


class TossGateway(PaymentGateway):
    keyed_idempotency = True

    def __init__(self, code: str, config: dict):
        super().__init__(code, config)
        self.client = TossClient(
            api_base=config["API_BASE"],
            secret_key=config["SECRET_KEY"],
            connect_timeout=config["CONNECT_TIMEOUT"],
            read_timeout=config["READ_TIMEOUT"],
        )

    def client_config(self) -> dict:
        return {"clientKey": self.config["CLIENT_KEY"]}

    def confirm(self, request: ConfirmRequest) -> GatewayPayment:
        response = self.client.confirm(
            payment_key=request.payment_key,
            order_id=request.order_id,
            amount=request.amount,
            idempotency_key=request.idempotency_key,
        )
        return self._payment_or_raise(response, "confirm")

    def cancel(self, request: CancelRequest) -> GatewayPayment:
        response = self.client.cancel(
            payment_key=request.payment_key,
            order_id=request.order_id,
            reason=cancel_note(request.reason, request.idempotency_key, 200),
            amount=request.amount,
            idempotency_key=request.idempotency_key,
        )
        return self._payment_or_raise(response, "cancel")

    def get_payment(self, payment_key: str) -> GatewayPayment:
        return self._payment_or_raise(self.client.get_payment(payment_key), "lookup")

    def get_payment_by_order_id(self, order_id: str) -> GatewayPayment:
        return self._payment_or_raise(self.client.get_payment_by_order_id(order_id), "lookup")

    def parse_webhook(self, body: bytes) -> WebhookNotice:
        """PAYMENT_STATUS_CHANGED carries the Payment as `data` and no signature (1.9)."""
        notice = webhook_json(body, "eventType")
        payment = webhook_fields(notice.get("data"), "orderId", "paymentKey", "status")
        identity = (
            notice["eventType"],
            payment["paymentKey"],
            payment["status"],
            str(payment.get("lastTransactionKey") or ""),
        )
        return WebhookNotice(
            event_key=":".join(identity)[:255],
            event_type=notice["eventType"][:64],
            order_id=payment["orderId"][:64],
            pg_status=payment["status"][:32],
            payload=notice,
        )

    def _payment_or_raise(self, response: PgResponse, operation: str) -> GatewayPayment:
        body = response.body if isinstance(response.body, dict) else {}
        if response.status == 200:
            try:
                return _payment(body)
            except (KeyError, TypeError, ValueError) as exc:
                # A 200 we cannot read tells us nothing about the outcome.
                raise errors.OutcomeUnknown(
                    f"unreadable Toss payment: {exc!r}",
                    gateway=self.code,
                    operation=operation,
                    code="UNREADABLE_RESPONSE",
                    http_status=200,
                ) from exc
        code, message = response.code or f"HTTP_{response.status}", str(body.get("message", ""))
        kwargs = {
            "gateway": self.code,
            "operation": operation,
            "code": code,
            "http_status": response.status,
        }
        if operation == "lookup" and code in ("NOT_FOUND_PAYMENT", "NOT_FOUND"):
            raise errors.PaymentNotFound(message, **kwargs)
        raise RAISES[classify(operation, code, response.status)](message, **kwargs)


def _payment(body: dict) -> GatewayPayment:
    failure = body.get("failure") or {}
    approved_at = body.get("approvedAt")
    return GatewayPayment(
        gateway="toss",
        order_id=str(body["orderId"]),
        payment_key=str(body["paymentKey"]),
        status=STATUSES[body["status"]],
        raw_status=body["status"],
        total_amount=_won(body["totalAmount"]),
        balance_amount=_won(body["balanceAmount"]),
        approved_at=datetime.fromisoformat(approved_at) if approved_at else None,
        failure_code=failure.get("code"),
        failure_message=failure.get("message"),
        last_transaction_key=body.get("lastTransactionKey"),
        cancels=tuple(
            GatewayCancel(
                str(c.get("transactionKey") or ""),
                _won(c["cancelAmount"]),
                c.get("cancelReason") or "",
            )
            for c in body.get("cancels") or []
        ),
        raw=body,
    )


def _won(value) -> int:
    """Amounts are JSON numbers (T-SPEC says strings; real answers are numbers): accept both."""
    amount = float(value)
    if amount != int(amount):
        raise ValueError(f"not a whole won amount: {value!r}")
    return int(amount)
