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
from gateways.details import (
    bank,
    bank_name,
    card_type,
    mask_card_number,
    moment,
    redacted,
    text,
    toss_card_company,
    whole,
)
from gateways.errors import RAISES, ErrorClass, InvalidWebhook, override
from gateways.http import PgResponse
from gateways.toss.client import TossClient
from gateways.types import (
    TX_APPROVAL,
    TX_CANCEL,
    CancelRequest,
    CashReceipt,
    CashReceiptType,
    ConfirmRequest,
    GatewayCancel,
    GatewayPayment,
    PaymentDetails,
    PayMethod,
    PgSettlement,
    PgStatus,
    PgTransaction,
    RefundAccount,
    VirtualAccount,
    WebhookNotice,
    cancel_note,
)

DEPOSIT_CALLBACK = "DEPOSIT_CALLBACK"

KST = timezone(timedelta(hours=9))
MAX_PAGE = 5000  # the most rows Toss gives in one page of transactions or settlements
# A Transaction carries the payment's status right after it, not its kind: DONE follows
# the approval (for a virtual account: the deposit, on the day the money came in),
# CANCELED or PARTIAL_CANCELED a cancel. WAITING_FOR_DEPOSIT follows the issue of a
# virtual account (or a deposit the bank took back, DONE -> WAITING_FOR_DEPOSIT): no
# approval and no money, so it is read and left out (NOT_TRANSACTIONS). Any other status
# is not a transaction we can reconcile: the page is unreadable, never skipped.
TRANSACTION_KINDS = {"DONE": TX_APPROVAL, "CANCELED": TX_CANCEL, "PARTIAL_CANCELED": TX_CANCEL}
NOT_TRANSACTIONS = frozenset({"WAITING_FOR_DEPOSIT"})

STATUSES = {
    "READY": PgStatus.PENDING,
    "IN_PROGRESS": PgStatus.PENDING,
    # A virtual account issued, not paid in: not approved, and not confirmable again.
    "WAITING_FOR_DEPOSIT": PgStatus.AWAITING_DEPOSIT,
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
    virtual_accounts = True  # WAITING_FOR_DEPOSIT, DEPOSIT_CALLBACK with its secret

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
            # (transactionKey, the transaction or None for a row that is not one)
            page = [self._read(_transaction, row, "transactions") for row in rows]
            if after is not None and any(key == after for key, _ in page):
                # The cursor came back in the page after it: Toss did not move on, and
                # asking again would loop on the same rows forever.
                raise self._unreadable("transactions", f"startingAfter {after} came back")
            yield from (transaction for _, transaction in page if transaction is not None)
            if len(rows) < self.page_size:
                return
            after = page[-1][0]  # the page's last row, read or left out

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
            refund_account=_refund_account(request.refund_account),
        )
        return self._payment_or_raise(response, "cancel")

    def get_payment(self, payment_key: str) -> GatewayPayment:
        return self._payment_or_raise(self.client.get_payment(payment_key), "lookup")

    def get_payment_by_order_id(self, order_id: str) -> GatewayPayment:
        return self._payment_or_raise(self.client.get_payment_by_order_id(order_id), "lookup")

    def parse_webhook(self, body: bytes) -> WebhookNotice:
        """PAYMENT_STATUS_CHANGED carries the Payment as `data` and no signature (1.9);
        DEPOSIT_CALLBACK (a virtual account's deposit, or the bank taking it back) carries
        the orderId, the status and the payment's `secret`."""
        notice = webhook_json(body)
        if notice.get("eventType") == DEPOSIT_CALLBACK or (
            "eventType" not in notice and "secret" in notice
        ):
            return _deposit_callback(notice)
        notice = webhook_fields(notice, "eventType")
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
            payload=redacted(notice),  # a virtual account's Payment carries its secret
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
        raw=redacted(body),
        details=_details(body),
        deposit_secret=text(body.get("secret")),
    )


# Payment.method: Korean labels by default, English ones with Accept-Language: en-US (1.4).
METHODS = {
    "카드": PayMethod.CARD,
    "card": PayMethod.CARD,
    "간편결제": PayMethod.EASY_PAY,
    "easy_pay": PayMethod.EASY_PAY,
    "가상계좌": PayMethod.VIRTUAL_ACCOUNT,
    "virtual_account": PayMethod.VIRTUAL_ACCOUNT,
    "계좌이체": PayMethod.TRANSFER,
    "transfer": PayMethod.TRANSFER,
    "휴대폰": PayMethod.MOBILE,
    "mobile_phone": PayMethod.MOBILE,
}
# cashReceipt.type
CASH_RECEIPT_TYPES = {
    "소득공제": CashReceiptType.INCOME_DEDUCTION,
    "income_deduction": CashReceiptType.INCOME_DEDUCTION,
    "지출증빙": CashReceiptType.EXPENSE_PROOF,
    "expense_proof": CashReceiptType.EXPENSE_PROOF,
}


def _details(body: dict) -> PaymentDetails:
    """What the buyer paid with, from the Payment's method objects (1.4). Display fields:
    one that is missing or malformed is None, never a reason to refuse the answer."""
    card, easy_pay = _object(body.get("card")), _object(body.get("easyPay"))
    receipt, account = _object(body.get("receipt")), _object(body.get("virtualAccount"))
    return PaymentDetails(
        method=_method(body.get("method")),
        # Toss names the issuer by code only (issuerCode, "71"): named from Toss's table.
        card_company=toss_card_company(card.get("issuerCode")),
        card_number=mask_card_number(text(card.get("number"))),
        card_type=card_type(card.get("cardType")),
        installment_months=whole(card.get("installmentPlanMonths")),
        approval_number=text(card.get("approveNo")),
        easy_pay_provider=text(easy_pay.get("provider")),
        receipt_url=text(receipt.get("url"), 2000),
        cash_receipt=_cash_receipt(_object(body.get("cashReceipt"))),
        virtual_account=_virtual_account(account) if account else None,
    )


def _method(value) -> str | None:
    label = text(value)
    if label is None:
        return None
    return METHODS.get(label.casefold().replace(" ", "_"), PayMethod.OTHER)


def _cash_receipt(receipt: dict) -> CashReceipt | None:
    if not receipt:
        return None
    kind = text(receipt.get("type"))
    return CashReceipt(
        type=CASH_RECEIPT_TYPES.get(kind.casefold(), CashReceiptType.OTHER) if kind else None,
        receipt_url=text(receipt.get("receiptUrl"), 2000),
        issue_number=text(receipt.get("issueNumber")),
    )


def _virtual_account(account: dict) -> VirtualAccount:
    code = text(account.get("bankCode"))
    return VirtualAccount(
        bank_code=code,
        bank_name=bank_name(code),
        account_number=text(account.get("accountNumber")),
        # customerName is the buyer the account was issued to, not its holder (예금주):
        # Toss's answer does not name the holder.
        holder_name=None,
        due_date=moment(account.get("dueDate")),
        expired=account.get("expired") is True,
    )


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _refund_account(account: RefundAccount | None) -> dict | None:
    """refundReceiveAccount (1.3): Toss's two-digit bank code, digits, the holder."""
    if account is None:
        return None
    return {
        "bank": bank(account.bank_code).toss,
        "accountNumber": account.account_number,
        "holderName": account.holder_name,
    }


def _deposit_callback(notice: dict) -> WebhookNotice:
    """DEPOSIT_CALLBACK (1.9): a deposit into a virtual account (status DONE) or the bank
    taking one back (WAITING_FOR_DEPOSIT). Toss's pages show the fields flat
    ({createdAt, secret, status, transactionKey, orderId}); some integrations see them
    under `data`, so both are read. Its identity is the order, the status and the
    transaction (createdAt where there is no transactionKey): a re-sent notice is the same
    event, a deposit and its reversal, or a second deposit, are not."""
    data = notice.get("data") if isinstance(notice.get("data"), dict) else notice
    fields = webhook_fields(data, "orderId", "status")
    secret = data.get("secret", notice.get("secret"))
    if not isinstance(secret, str) or not secret:
        raise InvalidWebhook("missing secret")
    moment_key = (
        data.get("transactionKey")
        or notice.get("transactionKey")
        or data.get("createdAt")
        or notice.get("createdAt")
    )
    identity = (DEPOSIT_CALLBACK, fields["orderId"], fields["status"], str(moment_key or ""))
    return WebhookNotice(
        event_key=":".join(identity)[:255],
        event_type=DEPOSIT_CALLBACK,
        order_id=fields["orderId"][:64],
        pg_status=fields["status"][:32],
        payload=redacted(notice),
        secret=secret,
    )


def _transaction(row: dict) -> tuple[str, PgTransaction | None]:
    """(its transactionKey, the transaction), or (key, None) for a virtual account's issue."""
    key = str(row["transactionKey"])
    if row["status"] in NOT_TRANSACTIONS:
        return key, None
    at = datetime.fromisoformat(row["transactionAt"])
    if at.tzinfo is None:
        raise ValueError(f"transactionAt without an offset: {row['transactionAt']!r}")
    return key, PgTransaction(
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
