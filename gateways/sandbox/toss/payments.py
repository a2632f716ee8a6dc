"""Toss payments inside the sandbox: the status machine and the Payment object of
docs/pg.md, Toss: the payment object and statuses.

READY --authenticate--> IN_PROGRESS --confirm--> DONE --cancel--> PARTIAL_CANCELED | CANCELED
READY --30 min--> EXPIRED;  IN_PROGRESS --10 min without confirm--> EXPIRED (EXPIRED_PAYMENT)
IN_PROGRESS --declined at confirm--> ABORTED (failure = the decline)

A virtual account (가상계좌) is authenticated the same way; its confirm issues the account:
IN_PROGRESS --confirm--> WAITING_FOR_DEPOSIT --deposit--> DONE --reversal--> WAITING_FOR_DEPOSIT
WAITING_FOR_DEPOSIT --dueDate passes--> EXPIRED | CANCELED (a setting: Toss does not say)
WAITING_FOR_DEPOSIT --full cancel--> CANCELED (no money moved: no transaction row)

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
WEBHOOK_STATUSES = {
    "DONE",
    "CANCELED",
    "PARTIAL_CANCELED",
    "ABORTED",
    "EXPIRED",
    "WAITING_FOR_DEPOSIT",
}
_ALNUM = string.ascii_letters + string.digits

CARD, VIRTUAL_ACCOUNT = "카드", "가상계좌"
METHODS_EN = {CARD: "CARD", VIRTUAL_ACCOUNT: "VIRTUAL_ACCOUNT"}
# Toss's bank codes (the sandbox's list: an issued account's bank and a refund account's
# bank must be one of them, else INVALID_BANK).
BANKS = {
    "02": "KDB산업",
    "03": "IBK기업",
    "06": "KB국민",
    "07": "수협",
    "11": "NH농협",
    "12": "단위농협",
    "20": "우리",
    "23": "SC제일",
    "27": "씨티",
    "31": "iM뱅크(대구)",
    "32": "부산",
    "34": "광주",
    "35": "제주",
    "37": "전북",
    "39": "경남",
    "45": "새마을",
    "48": "신협",
    "50": "저축",
    "54": "HSBC",
    "64": "산림",
    "71": "우체국",
    "81": "하나",
    "88": "신한",
    "89": "케이",
    "90": "카카오",
    "92": "토스",
}
DEFAULT_BANK = "20"  # 우리
DEFAULT_CUSTOMER_NAME = "구매자"
MAX_VALID_HOURS = 720  # Toss's window takes validHours up to 30 days
EXPIRY_OUTCOMES = ("EXPIRED", "CANCELED")


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
    # a cancel of a virtual account before any deposit: no money moved, so no transaction
    before_deposit: bool = False


@dataclass
class Deposit:
    """One transfer into a virtual account (an approval row), and its reversal if the bank
    network took it back (DONE -> WAITING_FOR_DEPOSIT)."""

    at: datetime
    transaction_key: str
    late: bool = False  # landed after the due date (a control-API option)
    reversed_at: datetime | None = None
    reversal_key: str | None = None


@dataclass
class VirtualAccount:
    """What the buyer chose in the window; the account itself is issued at confirm."""

    bank_code: str = DEFAULT_BANK
    customer_name: str = DEFAULT_CUSTOMER_NAME
    valid_hours: int | None = None  # None: the ledger's default (virtualAccountValidHours)
    account_number: str | None = None
    due_date: datetime | None = None
    expired: bool = False
    settlement_status: str = "INCOMPLETED"
    refund_status: str = "NONE"
    # the last refund account, with its number already masked: the full number is never kept
    refund_account: dict | None = None
    depositor_name: str | None = None


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
    virtual_account: VirtualAccount | None = None
    secret: str | None = None  # virtual accounts: DEPOSIT_CALLBACK carries it
    deposits: list[Deposit] = field(default_factory=list)


def vat_of(amount: int, tax_free: int) -> int:
    """(amount - taxFree) / 11, rounded half-up (15000 -> 1364; docs/pg.md, Toss: the payment
    object and statuses)."""
    return int((Decimal(amount - tax_free) / 11).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _transaction_key() -> str:
    return secrets.token_hex(16).upper()


def issued(payment: TossPayment) -> bool:
    """A virtual account whose confirm issued the account number."""
    return (
        payment.virtual_account is not None and payment.virtual_account.account_number is not None
    )


def mask_account_number(number: str) -> str:
    """A refund account number as answers show it: all but the last four digits hidden."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def check_refund_account(account: dict | None) -> dict:
    """refundReceiveAccount {bank, accountNumber, holderName}, as kept: the number masked.

    Missing, or not an object of three strings: INVALID_REQUEST (Toss names no code for
    it); a number that is not 1 to 20 digits: INVALID_REFUND_ACCOUNT_NUMBER; a bank code
    not in BANKS: INVALID_BANK; a holder name empty or over 60: INVALID_REQUEST."""
    if not isinstance(account, dict) or not {"bank", "accountNumber", "holderName"} <= set(account):
        raise TossFailure("INVALID_REQUEST")
    bank, number, holder = account["bank"], account["accountNumber"], account["holderName"]
    if not all(isinstance(v, str) for v in (bank, number, holder)):
        raise TossFailure("INVALID_REQUEST")
    if not holder.strip() or len(holder) > 60:
        raise TossFailure("INVALID_REQUEST")
    if not (number.isascii() and number.isdigit()) or len(number) > 20:
        raise TossFailure("INVALID_REFUND_ACCOUNT_NUMBER")
    if bank not in BANKS:
        raise TossFailure("INVALID_BANK")
    return {"bank": bank, "accountNumber": mask_account_number(number), "holderName": holder}


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
        on_deposit: Callable[[TossPayment, str, str], None] = lambda payment, status, key: None,
    ):
        self.clock = clock
        self.on_change = on_change
        # DEPOSIT_CALLBACK: (payment, status "DONE" or "WAITING_FOR_DEPOSIT", transactionKey)
        self.on_deposit = on_deposit
        # Virtual accounts (PUT /sandbox/toss/settings/virtual-accounts; a reset restores):
        self.va_valid_hours = 72  # dueDate = issue + this, unless the window said validHours
        self.va_expiry = "EXPIRED"  # what a passed dueDate makes of it: EXPIRED or CANCELED
        self.va_callback_event_type = False  # DEPOSIT_CALLBACK with "eventType" too
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

    def authenticate(
        self,
        payment: TossPayment,
        *,
        partial_cancelable: bool = True,
        virtual_account: VirtualAccount | None = None,
    ) -> None:
        """The buyer passed the window: IN_PROGRESS, waiting for the merchant's confirm.
        With `virtual_account` the buyer chose 가상계좌: confirm issues the account."""
        self.refresh(payment)
        if payment.status == "READY":
            payment.status = "IN_PROGRESS"
            payment.authenticated_at = self.clock.now()
            payment.method = VIRTUAL_ACCOUNT if virtual_account else CARD
            payment.virtual_account = virtual_account
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
        if payment.status in (
            "DONE",
            "CANCELED",
            "PARTIAL_CANCELED",
            "ABORTED",
            "WAITING_FOR_DEPOSIT",
        ) or (payment.status == "EXPIRED" and issued(payment)):
            raise TossFailure("ALREADY_PROCESSED_PAYMENT")
        if payment.status != "IN_PROGRESS":  # READY was never authenticated; EXPIRED is gone
            raise TossFailure("NOT_FOUND_PAYMENT_SESSION")
        if amount != payment.amount:
            raise TossFailure(self.amount_mismatch_code)  # refused; stays IN_PROGRESS
        return self.complete_authenticated(payment)

    def complete_authenticated(self, payment: TossPayment) -> TossPayment:
        """What a confirm does to an IN_PROGRESS payment: a card is approved, a virtual
        account is issued (WAITING_FOR_DEPOSIT)."""
        if payment.virtual_account is not None:
            return self.issue_virtual_account(payment)
        return self.record_approval(payment)

    def issue_virtual_account(self, payment: TossPayment) -> TossPayment:
        account = payment.virtual_account
        now = self.clock.now()
        hours = account.valid_hours or self.va_valid_hours
        # Test-mode account numbers start with X and cannot receive real money.
        account.account_number = "X" + "".join(str(secrets.randbelow(10)) for _ in range(13))
        account.due_date = now.replace(microsecond=0) + timedelta(hours=hours)
        payment.secret = secrets.token_urlsafe(36)[:50]  # constant for the payment
        payment.status = "WAITING_FOR_DEPOSIT"
        self.on_change(payment)
        return payment

    # --- virtual accounts: the buyer's bank (control API) -----------------------------

    def deposit(
        self, payment: TossPayment, *, late: bool = False, depositor: str | None = None
    ) -> TossPayment:
        """The buyer's transfer arrived: DONE, a transaction, both webhooks. `late` lets a
        transfer land on an account whose due date passed (EXPIRED, or CANCELED by the
        expiry setting), as a false failure the shop must refund."""
        self.refresh(payment)
        account = payment.virtual_account
        if account is None:
            raise TossFailure("NOT_A_VIRTUAL_ACCOUNT")
        # expired with nothing deposited (a reversed deposit is nothing): late can land it
        expired = (
            account.expired
            and payment.status in EXPIRY_OUTCOMES
            and all(d.reversed_at is not None for d in payment.deposits)
        )
        if expired and not late:
            raise TossFailure("VIRTUAL_ACCOUNT_EXPIRED")
        if payment.status != "WAITING_FOR_DEPOSIT" and not expired:
            raise TossFailure("NOT_WAITING_FOR_DEPOSIT")
        now = self.clock.now()
        deposit = Deposit(at=now, transaction_key=_transaction_key(), late=expired)
        payment.deposits.append(deposit)
        payment.status = "DONE"
        payment.approved_at = now
        payment.balance = payment.amount  # a CANCELED-by-expiry account had none left
        payment.last_transaction_key = payment.approve_transaction_key = deposit.transaction_key
        payment.approvals += 1
        account.settlement_status = "COMPLETED"
        account.depositor_name = depositor or account.customer_name
        self.on_change(payment)
        self.on_deposit(payment, "DONE", deposit.transaction_key)
        return payment

    def reverse_deposit(self, payment: TossPayment) -> TossPayment:
        """The rare bank-network case: a deposited (DONE, nothing cancelled) account goes
        back to WAITING_FOR_DEPOSIT; the deposit's reversal is a transaction of its own."""
        self.refresh(payment)
        if payment.virtual_account is None:
            raise TossFailure("NOT_A_VIRTUAL_ACCOUNT")
        if payment.status != "DONE" or not payment.deposits:
            raise TossFailure("NOT_DEPOSITED")
        deposit = payment.deposits[-1]
        deposit.reversed_at = self.clock.now()
        deposit.reversal_key = _transaction_key()
        payment.status = "WAITING_FOR_DEPOSIT"
        payment.approved_at = None
        payment.last_transaction_key = deposit.reversal_key
        payment.virtual_account.settlement_status = "INCOMPLETED"
        payment.virtual_account.depositor_name = None
        self.on_change(payment)
        self.on_deposit(payment, "WAITING_FOR_DEPOSIT", deposit.reversal_key)
        return payment

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
        refund_account: dict | None = None,
    ) -> TossPayment:
        payment = self.by_key.get(payment_key)
        if payment is None:
            raise TossFailure("NOT_FOUND_PAYMENT")
        self.refresh(payment)
        if payment.status == "CANCELED":
            raise TossFailure("ALREADY_CANCELED_PAYMENT")
        waiting = payment.status == "WAITING_FOR_DEPOSIT"
        if payment.status not in ("DONE", "PARTIAL_CANCELED") and not waiting:
            raise TossFailure("NOT_CANCELABLE_PAYMENT")
        if refundable_amount is not None and refundable_amount != payment.balance:
            raise TossFailure("NOT_MATCHES_REFUNDABLE_AMOUNT")
        amount = payment.balance if amount is None else amount
        if amount > payment.balance or tax_free > payment.tax_free:
            raise TossFailure("NOT_CANCELABLE_AMOUNT")
        if amount < payment.balance and waiting:
            raise TossFailure("NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT")
        if amount < payment.balance and not payment.is_partial_cancelable:
            raise TossFailure("NOT_ALLOWED_PARTIAL_REFUND")
        account = payment.virtual_account
        if account is not None and not waiting:  # money came in: it goes back to an account
            account.refund_account = check_refund_account(refund_account)
            account.refund_status = "COMPLETED"  # the sandbox refunds at once
        payment.balance -= amount
        payment.tax_free -= tax_free
        cancel = Cancel(
            amount=amount,
            reason=reason,
            tax_free=tax_free,
            canceled_at=self.clock.now(),
            transaction_key=_transaction_key(),
            refundable_after=payment.balance,
            before_deposit=waiting,
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
        elif (
            payment.status == "WAITING_FOR_DEPOSIT"
            and payment.virtual_account is not None
            and payment.virtual_account.due_date is not None
            and now >= payment.virtual_account.due_date
        ):
            self._expire_virtual_account(payment)

    def sweep(self) -> None:
        for payment in list(self.by_key.values()):
            if payment.status in ("READY", "IN_PROGRESS", "WAITING_FOR_DEPOSIT"):
                self.refresh(payment)

    def _expire_virtual_account(self, payment: TossPayment) -> None:
        """The due date passed with no deposit: EXPIRED, or CANCELED with nothing left
        (va_expiry; Toss does not document which). No money moved: no transaction."""
        payment.virtual_account.expired = True
        payment.status = self.va_expiry
        if payment.status == "CANCELED":
            payment.balance = 0
        self.on_change(payment)

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
    if payment.method == CARD:
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
        "virtualAccount": _virtual_account_json(payment),
        "transfer": None,
        "mobilePhone": None,
        "giftCertificate": None,
        "cashReceipt": None,
        "cashReceipts": None,
        "discount": None,
        "cancels": [_cancel_json(c) for c in payment.cancels] or None,
        "secret": payment.secret,
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
        "method": (METHODS_EN[payment.method] if english else payment.method)
        if payment.method
        else None,
        "version": VERSION,
        "metadata": None,
    }


def _virtual_account_json(payment: TossPayment) -> dict | None:
    """Issued at confirm: null while the payment is only authenticated."""
    account = payment.virtual_account
    if not issued(payment):
        return None
    return {
        "accountType": "일반",
        "accountNumber": account.account_number,
        "bankCode": account.bank_code,
        "customerName": account.customer_name,
        "depositorName": account.depositor_name,
        "dueDate": iso(account.due_date),
        "refundStatus": account.refund_status,
        "expired": account.expired,
        "settlementStatus": account.settlement_status,
        "refundReceiveAccount": account.refund_account,
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
