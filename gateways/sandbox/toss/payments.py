"""Toss payments inside the sandbox: the status machine and the Payment object of
docs/pg.md, Toss: the payment object and statuses.

READY --authenticate--> IN_PROGRESS --confirm--> DONE --cancel--> PARTIAL_CANCELED | CANCELED
READY --30 min--> EXPIRED;  IN_PROGRESS --10 min without confirm--> EXPIRED (EXPIRED_PAYMENT)
IN_PROGRESS --declined at confirm--> ABORTED (failure = the decline)

Windows are checked against the sandbox clock whenever a payment is touched and by a
periodic sweep, so a moved clock takes effect at once.
"""

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from gateways.sandbox.clock import Clock, iso
from gateways.sandbox.toss.errors import error_message

MID = "tvivarepublica"
VERSION = "2022-11-16"
TERMINAL = {"DONE", "CANCELED", "PARTIAL_CANCELED", "ABORTED", "EXPIRED"}
WEBHOOK_STATUSES = {"DONE", "CANCELED", "PARTIAL_CANCELED", "ABORTED", "EXPIRED"}
_ALNUM = string.ascii_letters + string.digits


class TossFailure(Exception):
    """A Toss error code the API answers with (its status and message come from the table)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass
class Cancel:
    amount: int
    reason: str
    tax_free: int
    canceled_at: datetime
    transaction_key: str
    refundable_after: int


@dataclass
class TossPayment:
    payment_key: str
    order_id: str
    order_name: str
    amount: int
    status: str
    requested_at: datetime
    balance: int
    authenticated_at: datetime | None = None
    approved_at: datetime | None = None
    method: str | None = None
    card_number: str = "43301234****123*"
    approve_no: str | None = None
    is_partial_cancelable: bool = True
    tax_free: int = 0
    cancels: list[Cancel] = field(default_factory=list)
    failure: dict | None = None
    last_transaction_key: str | None = None
    approve_transaction_key: str | None = None
    confirm_calls: int = 0  # confirms that reached this payment
    approvals: int = 0  # times it became DONE: more than 1 would be a double charge


def vat_of(amount: int, tax_free: int) -> int:
    """(amount - taxFree) / 11, rounded half-up (15000 -> 1364; docs/pg.md, Toss: the payment
    object and statuses)."""
    return int((Decimal(amount - tax_free) / 11).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _transaction_key() -> str:
    return secrets.token_hex(16).upper()


class TossLedger:
    merchant_id = MID  # read by settlement.py, which toss.api imports: no import back

    def __init__(
        self,
        clock: Clock,
        on_change: Callable[[TossPayment], None],
        *,
        auth_window: timedelta = timedelta(minutes=30),
        confirm_window: timedelta = timedelta(minutes=10),
        amount_mismatch_code: str = "INVALID_REQUEST",
    ):
        self.clock = clock
        self.on_change = on_change
        self.auth_window = auth_window
        self.confirm_window = confirm_window
        self.amount_mismatch_code = amount_mismatch_code
        self.by_key: dict[str, TossPayment] = {}
        self.by_order: dict[str, TossPayment] = {}  # the newest payment for each orderId

    # --- buyer side -----------------------------------------------------------------

    def open_window(self, *, order_id: str, amount: int, order_name: str) -> TossPayment:
        """The payment window opened: a READY payment (reused while it is still open)."""
        current = self.by_order.get(order_id)
        if current is not None:
            self.refresh(current)
            if current.status in ("DONE", "CANCELED", "PARTIAL_CANCELED"):
                raise TossFailure("DUPLICATED_ORDER_ID")
            if current.status in ("READY", "IN_PROGRESS") and current.amount == amount:
                return current
        payment = TossPayment(
            payment_key=self._new_payment_key(),
            order_id=order_id,
            order_name=order_name,
            amount=amount,
            balance=amount,
            status="READY",
            requested_at=self.clock.now(),
        )
        self.by_key[payment.payment_key] = payment
        self.by_order[order_id] = payment
        return payment

    def authenticate(self, payment: TossPayment, *, partial_cancelable: bool = True) -> None:
        """The buyer passed the window: IN_PROGRESS, waiting for the merchant's confirm."""
        self.refresh(payment)
        if payment.status == "READY":
            payment.status = "IN_PROGRESS"
            payment.authenticated_at = self.clock.now()
            payment.method = "카드"
            payment.is_partial_cancelable = partial_cancelable
        elif payment.status != "IN_PROGRESS":
            raise TossFailure(
                "ALREADY_PROCESSED_PAYMENT"
                if payment.status != "EXPIRED"
                else "NOT_FOUND_PAYMENT_SESSION"
            )

    # --- merchant API -----------------------------------------------------------------

    def confirm(self, *, payment_key: str, order_id: str, amount: int) -> TossPayment:
        payment = self.by_key.get(payment_key)
        if payment is None:
            raise TossFailure("NOT_FOUND_PAYMENT_SESSION")
        self.refresh(payment)
        if payment.order_id != order_id:
            raise TossFailure("FORBIDDEN_REQUEST")
        payment.confirm_calls += 1
        if payment.status in ("DONE", "CANCELED", "PARTIAL_CANCELED", "ABORTED"):
            raise TossFailure("ALREADY_PROCESSED_PAYMENT")
        if payment.status != "IN_PROGRESS":  # READY was never authenticated; EXPIRED is gone
            raise TossFailure("NOT_FOUND_PAYMENT_SESSION")
        if amount != payment.amount:
            raise TossFailure(self.amount_mismatch_code)  # refused; stays IN_PROGRESS
        return self.record_approval(payment)

    def record_approval(self, payment: TossPayment) -> TossPayment:
        """The approval itself, whoever asked for it (the merchant's confirm or the control
        API's approve_unseen): DONE, with its transaction key and webhook."""
        payment.status = "DONE"
        payment.approved_at = self.clock.now()
        payment.approve_no = f"{secrets.randbelow(10**8):08d}"
        payment.last_transaction_key = payment.approve_transaction_key = _transaction_key()
        payment.approvals += 1
        self.on_change(payment)
        return payment

    def abort(self, payment: TossPayment, code: str) -> None:
        """A final decline at confirm: ABORTED, with the decline as its failure."""
        if payment.status == "IN_PROGRESS":
            payment.status = "ABORTED"
            payment.failure = {"code": code, "message": error_message(code, english=False)}
            self.on_change(payment)

    def cancel(
        self,
        *,
        payment_key: str,
        reason: str,
        amount: int | None,
        refundable_amount: int | None,
        tax_free: int,
    ) -> TossPayment:
        payment = self.by_key.get(payment_key)
        if payment is None:
            raise TossFailure("NOT_FOUND_PAYMENT")
        self.refresh(payment)
        if payment.status == "CANCELED":
            raise TossFailure("ALREADY_CANCELED_PAYMENT")
        if payment.status not in ("DONE", "PARTIAL_CANCELED"):
            raise TossFailure("NOT_CANCELABLE_PAYMENT")
        if refundable_amount is not None and refundable_amount != payment.balance:
            raise TossFailure("NOT_MATCHES_REFUNDABLE_AMOUNT")
        amount = payment.balance if amount is None else amount
        if amount > payment.balance or tax_free > payment.tax_free:
            raise TossFailure("NOT_CANCELABLE_AMOUNT")
        if amount < payment.balance and not payment.is_partial_cancelable:
            raise TossFailure("NOT_ALLOWED_PARTIAL_REFUND")
        payment.balance -= amount
        payment.tax_free -= tax_free
        cancel = Cancel(
            amount=amount,
            reason=reason,
            tax_free=tax_free,
            canceled_at=self.clock.now(),
            transaction_key=_transaction_key(),
            refundable_after=payment.balance,
        )
        payment.cancels.append(cancel)
        payment.last_transaction_key = cancel.transaction_key
        payment.status = "CANCELED" if payment.balance == 0 else "PARTIAL_CANCELED"
        self.on_change(payment)
        return payment

    def get_by_key(self, payment_key: str) -> TossPayment:
        payment = self.by_key.get(payment_key)
        if payment is None:
            raise TossFailure("NOT_FOUND_PAYMENT")
        self.refresh(payment)
        return payment

    def get_by_order(self, order_id: str) -> TossPayment:
        payment = self.by_order.get(order_id)
        if payment is None:
            raise TossFailure("NOT_FOUND_PAYMENT")
        self.refresh(payment)
        return payment

    # --- time -------------------------------------------------------------------------

    def refresh(self, payment: TossPayment) -> None:
        now = self.clock.now()
        if (payment.status == "READY" and now - payment.requested_at >= self.auth_window) or (
            payment.status == "IN_PROGRESS"
            and payment.authenticated_at is not None
            and now - payment.authenticated_at >= self.confirm_window
        ):
            self._expire(payment)

    def sweep(self) -> None:
        for payment in list(self.by_key.values()):
            if payment.status in ("READY", "IN_PROGRESS"):
                self.refresh(payment)

    def _expire(self, payment: TossPayment) -> None:
        payment.status = "EXPIRED"
        payment.method = None
        payment.failure = {"code": "EXPIRED_PAYMENT", "message": "결제 유효 시간이 만료되었습니다."}
        self.on_change(payment)

    def _new_payment_key(self) -> str:
        # The newer observed shape: 5-character mId prefix, yyyyMMddHHmmss, 5 characters.
        while True:
            stamp = self.clock.now().strftime("%Y%m%d%H%M%S")
            key = "tsbox" + stamp + "".join(secrets.choice(_ALNUM) for _ in range(5))
            if key not in self.by_key:
                return key


def payment_json(payment: TossPayment, *, base_url: str, english: bool = False) -> dict:
    """The Toss Payment object (version 2022-11-16) with every field, null where n/a."""
    approved = payment.status in ("DONE", "CANCELED", "PARTIAL_CANCELED")
    vat = vat_of(payment.balance, payment.tax_free)
    card = None
    if payment.method is not None:
        card = {
            "issuerCode": "71",
            "acquirerCode": "71",
            "number": payment.card_number,
            "installmentPlanMonths": 0,
            "isInterestFree": False,
            "interestPayer": None,
            "approveNo": payment.approve_no,
            "useCardPoint": False,
            "cardType": "Credit" if english else "신용",
            "ownerType": "Personal" if english else "개인",
            "acquireStatus": ("CANCELED" if payment.status == "CANCELED" else "READY")
            if approved
            else "READY",
            "amount": payment.amount,
        }
    return {
        "mId": MID,
        "lastTransactionKey": payment.last_transaction_key,
        "paymentKey": payment.payment_key,
        "orderId": payment.order_id,
        "orderName": payment.order_name,
        "taxExemptionAmount": 0,
        "status": payment.status,
        "requestedAt": iso(payment.requested_at),
        "approvedAt": iso(payment.approved_at),
        "useEscrow": False,
        "cultureExpense": False,
        "card": card,
        "virtualAccount": None,
        "transfer": None,
        "mobilePhone": None,
        "giftCertificate": None,
        "cashReceipt": None,
        "cashReceipts": None,
        "discount": None,
        "cancels": [_cancel_json(c) for c in payment.cancels] or None,
        "secret": None,
        "type": "NORMAL",
        "easyPay": None,
        "country": "KR",
        "failure": payment.failure,
        "isPartialCancelable": payment.is_partial_cancelable,
        "receipt": {"url": f"{base_url}/receipt/{payment.payment_key}"} if approved else None,
        "checkout": {"url": f"{base_url}/v1/payments/{payment.payment_key}/checkout"},
        "currency": "KRW",
        "totalAmount": payment.amount,
        "balanceAmount": payment.balance,
        "suppliedAmount": payment.balance - payment.tax_free - vat,
        "vat": vat,
        "taxFreeAmount": payment.tax_free,
        "method": ("CARD" if english else "카드") if payment.method else None,
        "version": VERSION,
        "metadata": None,
    }


def _cancel_json(cancel: Cancel) -> dict:
    return {
        "transactionKey": cancel.transaction_key,
        "cancelReason": cancel.reason,
        "taxExemptionAmount": 0,
        "canceledAt": iso(cancel.canceled_at),
        "transferDiscountAmount": 0,
        "easyPayDiscountAmount": 0,
        "receiptKey": None,
        "cancelAmount": cancel.amount,
        "taxFreeAmount": cancel.tax_free,
        "refundableAmount": cancel.refundable_after,
        "cancelStatus": "DONE",
        "cancelRequestId": None,
    }
