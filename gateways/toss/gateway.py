"""Toss Payments behind the PaymentGateway interface: our types in, our types out.

How each Toss error reads is data (the tables below, from docs/pg.md, Toss: error codes),
into the classes of gateways.errors; RETRY repeats with the same Idempotency-Key.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import NoReturn

from django.core.exceptions import ImproperlyConfigured

from gateways import errors
from gateways.base import PaymentGateway, webhook_fields, webhook_json
from gateways.errors import RAISES, ErrorClass, override
from gateways.http import PgResponse
from gateways.toss.client import TossClient
from gateways.types import (
    TX_APPROVAL,
    TX_CANCEL,
    CancelRequest,
    ConfirmRequest,
    GatewayCancel,
    GatewayPayment,
    PgSettlement,
    PgStatus,
    PgTransaction,
    WebhookNotice,
    cancel_note,
)

KST = timezone(timedelta(hours=9))
MAX_PAGE = 5000  # the most rows Toss gives in one page of transactions or settlements
# A Transaction carries the payment's status right after it, not its kind: DONE follows
# the approval, CANCELED or PARTIAL_CANCELED a cancel. Any other status (a virtual
# account's WAITING_FOR_DEPOSIT, say) is not a card transaction we can reconcile: the
# page is unreadable, never skipped.
TRANSACTION_KINDS = {"DONE": TX_APPROVAL, "CANCELED": TX_CANCEL, "PARTIAL_CANCELED": TX_CANCEL}

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
# Reading a day's records changes nothing at Toss, so it fails the ways a lookup does,
# and a provider's transient error (its message says to try again) is one more retry.
READ = {**LOOKUP, "PROVIDER_ERROR": R}
TABLES = {
    "confirm": CONFIRM,
    "lookup": LOOKUP,
    "cancel": CANCEL,
    "transactions": READ,
    "settlements": READ,
}


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
        self.page_size = int(config.get("RECONCILE_PAGE_SIZE", MAX_PAGE))
        if not 1 <= self.page_size <= MAX_PAGE:
            raise ImproperlyConfigured(f"toss RECONCILE_PAGE_SIZE must be 1 to {MAX_PAGE}")

    def client_config(self) -> dict:
        return {"clientKey": self.config["CLIENT_KEY"]}

    def merchant_id(self) -> str:
        return self.config["MID"]

    def day_transactions(self, day: date) -> Iterator[PgTransaction]:
        """GET /v1/transactions over the Korean day, page after page: each page starts
        after the last transactionKey of the one before, until a page comes back short."""
        start, end = f"{day.isoformat()}T00:00:00+09:00", f"{day.isoformat()}T23:59:59+09:00"
        after = None
        while True:
            response = self.client.transactions(
                start=start, end=end, limit=self.page_size, starting_after=after
            )
            rows = self._rows_or_raise(response, "transactions")
            page = [self._read(_transaction, row, "transactions") for row in rows]
            if after is not None and any(t.transaction_key == after for t in page):
                # The cursor came back in the page after it: Toss did not move on, and
                # asking again would loop on the same rows forever.
                raise self._unreadable("transactions", f"startingAfter {after} came back")
            yield from page
            if len(rows) < self.page_size:
                return
            after = page[-1].transaction_key

    def day_settlements(self, day: date) -> Iterator[PgSettlement]:
        """GET /v1/settlements of what was sold on the day (dateType soldDate), page 1, 2,
        ... until a page comes back short."""
        page, first = 1, None
        while True:
            response = self.client.settlements(
                start=day.isoformat(), end=day.isoformat(), page=page, size=self.page_size
            )
            rows = self._rows_or_raise(response, "settlements")
            settlements = [self._read(_settlement, row, "settlements") for row in rows]
            if settlements and settlements[0].transaction_key == first:
                # The same page again (a `page` not honoured): it would never end.
                raise self._unreadable("settlements", f"page {page} repeats page {page - 1}")
            yield from settlements
            if len(rows) < self.page_size:
                return
            page, first = page + 1, settlements[0].transaction_key

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
        if response.status != 200:
            self._raise(response, operation)
        body = response.body if isinstance(response.body, dict) else {}
        return self._read(_payment, body, operation)

    def _rows_or_raise(self, response: PgResponse, operation: str) -> list:
        if response.status != 200:
            self._raise(response, operation)
        if not isinstance(response.body, list):
            raise self._unreadable(operation, "not a JSON array")
        return response.body

    def _read(self, reader, body, operation: str):
        try:
            return reader(body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A 200 we cannot read tells us nothing about the outcome.
            raise self._unreadable(operation, repr(exc)) from exc

    def _unreadable(self, operation: str, why: str) -> errors.OutcomeUnknown:
        return errors.OutcomeUnknown(
            f"unreadable Toss {operation} answer: {why}",
            gateway=self.code,
            operation=operation,
            code="UNREADABLE_RESPONSE",
            http_status=200,
        )

    def _raise(self, response: PgResponse, operation: str) -> NoReturn:
        body = response.body if isinstance(response.body, dict) else {}
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


def _transaction(row: dict) -> PgTransaction:
    at = datetime.fromisoformat(row["transactionAt"])
    if at.tzinfo is None:
        raise ValueError(f"transactionAt without an offset: {row['transactionAt']!r}")
    return PgTransaction(
        order_id=str(row["orderId"]),
        payment_key=str(row["paymentKey"]),
        transaction_key=str(row["transactionKey"]),
        kind=TRANSACTION_KINDS[row["status"]],
        amount=abs(_won(row["amount"])),  # positive for a cancel too: the kind says which
        day=at.astimezone(KST).date(),
    )


def _settlement(row: dict) -> PgSettlement:
    amount, payout = _won(row["amount"]), _won(row["payOutAmount"])
    return PgSettlement(
        transaction_key=str(row["transactionKey"]),
        order_id=str(row["orderId"]),
        # A Settlement has no kind; a cancel's carries its `cancel` object, an approval's null.
        kind=TX_CANCEL if row.get("cancel") is not None else TX_APPROVAL,
        amount=amount,
        fee=sum(_won(fee["fee"]) for fee in row.get("fees") or []),  # every fee type Toss lists
        payout_amount=payout,
        payout_date=date.fromisoformat(row["paidOutDate"]),
    )


def _won(value) -> int:
    """Amounts are JSON numbers (T-SPEC says strings; real answers are numbers): accept both."""
    amount = float(value)
    if amount != int(amount):
        raise ValueError(f"not a whole won amount: {value!r}")
    return int(amount)
