"""What crosses the gateway boundary: plain frozen dataclasses, no PG vocabulary."""

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from gateways.details import bank


class PgStatus(StrEnum):
    """A PG's payment status, normalised."""

    PENDING = "PENDING"  # authenticated or created, not approved: still confirmable in its window
    # A virtual account was issued and nothing has been paid into it yet (Toss
    # WAITING_FOR_DEPOSIT, NicePay "ready" with payMethod vbank): not approved, and not
    # to be confirmed again; the deposit (or the due date) decides.
    AWAITING_DEPOSIT = "AWAITING_DEPOSIT"
    APPROVED = "APPROVED"
    PARTIALLY_CANCELED = "PARTIALLY_CANCELED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"  # the approval was refused (Toss ABORTED)
    EXPIRED = "EXPIRED"  # the window passed without approval


@dataclass(frozen=True)
class PaymentRef:
    """What we know of a payment, for a lookup: each PG needs a different part of it
    (Toss looks up by orderId, NicePay by tid or by orderId with its date, KakaoPay by tid)."""

    order_id: str
    payment_key: str | None
    created_at: datetime


@dataclass(frozen=True)
class PrepareRequest:
    """A server-side step before the buyer's window, for PGs that have one (KakaoPay ready)."""

    order_id: str
    order_name: str
    amount: int
    quantity: int
    buyer_ref: str  # who pays, as the PG may see it (no personal data)
    approval_url: str
    cancel_url: str
    fail_url: str


@dataclass(frozen=True)
class Prepared:
    payment_key: str  # the PG's id for the payment from now on (KakaoPay's tid)
    redirect_url: str  # where to send the buyer


@dataclass(frozen=True)
class ConfirmRequest:
    order_id: str
    payment_key: str
    amount: int
    # One key per payment, reused on every retry and by recovery: Toss matches keys on
    # the path, not the body, so a shared key would return another payment's answer.
    idempotency_key: str
    # What the buyer's window returned besides the key (KakaoPay's one-time pg_token).
    auth_token: str | None = None
    buyer_ref: str = ""


class InvalidRefundAccount(ValueError):
    """A refund account that no PG would take; `field` names the part that is wrong."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"refund account {field_name}: {message}")
        self.field = field_name


REFUND_ACCOUNT_NUMBER_MAX = 20  # Toss refundReceiveAccount.accountNumber: digits, at most 20
REFUND_HOLDER_MAX = 60  # Toss refundReceiveAccount.holderName: at most 60


@dataclass(frozen=True)
class RefundAccount:
    """The buyer's own bank account, for refunding a paid virtual account (Toss requires
    one then: refundReceiveAccount). The number is personal data: never logged, never
    kept in a raw answer (gateways.details.redacted), and left out of repr."""

    bank_code: str  # Toss's two-digit code or the KFTC three-digit one (gateways.details)
    account_number: str = field(repr=False)
    holder_name: str = field(repr=False)

    def __post_init__(self):
        if bank(self.bank_code) is None:
            raise InvalidRefundAccount("bank_code", f"unknown bank code {self.bank_code!r}")
        number = self.account_number
        if not isinstance(number, str) or not number.isascii() or not number.isdigit():
            raise InvalidRefundAccount("account_number", "digits only (no hyphens or spaces)")
        if len(number) > REFUND_ACCOUNT_NUMBER_MAX:
            raise InvalidRefundAccount(
                "account_number", f"at most {REFUND_ACCOUNT_NUMBER_MAX} digits"
            )
        holder = self.holder_name
        if not isinstance(holder, str) or not holder.strip():
            raise InvalidRefundAccount("holder_name", "required")
        if len(holder) > REFUND_HOLDER_MAX:
            raise InvalidRefundAccount("holder_name", f"at most {REFUND_HOLDER_MAX} characters")


@dataclass(frozen=True)
class CancelRequest:
    order_id: str
    payment_key: str
    reason: str
    amount: int | None  # None: everything that is left
    # Unique per cancel, the same on every retry of it: Toss's Idempotency-Key, NicePay's
    # cancel orderId, KakaoPay's payload (it comes back in the order's action details).
    idempotency_key: str
    # The cancellable balance this cancel expects to find: KakaoPay refuses the cancel if
    # it changed (cancel_available_amount), so a retry after a lost answer cannot cancel
    # twice. None: not checked.
    expected_balance: int | None = None
    # Where the money of a paid virtual account goes back to (Toss refundReceiveAccount,
    # NicePay refundAccount/refundBankCode/refundHolder). None for cards and easy pay.
    refund_account: RefundAccount | None = None


@dataclass(frozen=True)
class GatewayCancel:
    """One cancel in the PG's record of a payment."""

    transaction_key: str  # Toss transactionKey, NicePay cancel tid, KakaoPay aid
    amount: int
    # What the PG keeps of the merchant's words about it: the reason (Toss, NicePay) or
    # the payload (KakaoPay). A cancel we sent carries its idempotency key there, which
    # is how recovery finds it (cancel_note).
    note: str = ""


def cancel_note(reason: str, key: str, limit: int) -> str:
    """The reason sent with a cancel, ending with its key, within the PG's `limit`."""
    tag = f" [{key}]"
    return reason[: max(limit - len(tag), 0)] + tag


class PayMethod(StrEnum):
    """How the buyer paid, normalised (PaymentDetails.method)."""

    CARD = "CARD"
    EASY_PAY = "EASY_PAY"  # 간편결제 (토스페이, 카카오페이 ...): a card may be behind it
    VIRTUAL_ACCOUNT = "VIRTUAL_ACCOUNT"
    TRANSFER = "TRANSFER"  # 계좌이체
    MOBILE = "MOBILE"  # 휴대폰 결제
    OTHER = "OTHER"  # gift certificates and anything else a PG names


class CardType(StrEnum):
    CREDIT = "credit"
    CHECK = "check"
    GIFT = "gift"
    UNKNOWN = "unknown"


class CashReceiptType(StrEnum):
    INCOME_DEDUCTION = "INCOME_DEDUCTION"  # 소득공제 (a person)
    EXPENSE_PROOF = "EXPENSE_PROOF"  # 지출증빙 (a business)
    OTHER = "OTHER"


@dataclass(frozen=True)
class VirtualAccount:
    """The account the buyer pays into (가상계좌). Not the buyer's own account."""

    bank_code: str | None
    bank_name: str | None
    account_number: str | None
    holder_name: str | None  # 예금주 as the PG names it; None where the PG gives none (Toss)
    due_date: datetime | None
    expired: bool = False


@dataclass(frozen=True)
class CashReceipt:
    type: str | None  # a CashReceiptType
    receipt_url: str | None = None
    issue_number: str | None = None


@dataclass(frozen=True)
class PaymentDetails:
    """What the buyer paid with, as every PG's answer is read into it: no PG vocabulary,
    no secrets, card numbers only as masked (gateways.details.mask_card_number)."""

    method: str | None = None  # a PayMethod; None while the PG has none yet
    card_company: str | None = None  # the issuer: its Korean name if the PG gives one, else code
    card_number: str | None = None  # masked, as the PG masks it
    card_type: str | None = None  # a CardType
    installment_months: int = 0  # 0: paid at once (일시불)
    approval_number: str | None = None
    easy_pay_provider: str | None = None  # 토스페이, 카카오페이, 네이버페이 ...
    receipt_url: str | None = None
    cash_receipt: CashReceipt | None = None
    virtual_account: VirtualAccount | None = None


@dataclass(frozen=True)
class GatewayPayment:
    gateway: str
    order_id: str
    payment_key: str
    status: PgStatus
    raw_status: str
    total_amount: int
    balance_amount: int
    approved_at: datetime | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    # The PG's key of its newest transaction on the payment: after a cancel, that
    # cancel's (Toss lastTransactionKey, NicePay cancelledTid, KakaoPay aid).
    last_transaction_key: str | None = None
    cancels: tuple[GatewayCancel, ...] = ()
    # The PG's answer, for keeping and showing: already redacted (gateways.details.redacted:
    # no secrets, no unmasked card number, no refund account number).
    raw: dict = field(default_factory=dict, compare=False, repr=False)
    # What the buyer paid with; None where the answer says nothing about it.
    details: PaymentDetails | None = None
    # Toss's `secret` of the payment: a DEPOSIT_CALLBACK for it carries the same value
    # (WebhookNotice.secret). Kept out of `details`, `raw`, repr and logs.
    deposit_secret: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class WebhookNotice:
    """What a PG's notification claims; a hint to look the payment up, never proof."""

    event_key: str  # the notification's identity: re-sent duplicates share it
    event_type: str
    order_id: str
    pg_status: str
    payload: dict = field(compare=False, repr=False)  # redacted (gateways.details.redacted)
    # What the notification carries to prove itself, when it carries anything (Toss
    # DEPOSIT_CALLBACK: the payment's `secret`, to compare with GatewayPayment.deposit_secret
    # in constant time). Not in `payload`, repr or logs.
    secret: str | None = field(default=None, compare=False, repr=False)


# What a PG's day records say a transaction is (PgTransaction.kind, PgSettlement.kind).
TX_APPROVAL, TX_CANCEL = "APPROVAL", "CANCEL"


@dataclass(frozen=True)
class PgTransaction:
    """One approval or cancel in a PG's records of a day: what 거래대사 compares."""

    order_id: str
    payment_key: str  # Toss paymentKey; NicePay and KakaoPay: the payment's tid
    transaction_key: str  # Toss transactionKey; NicePay approval tid or cancelledTid; KakaoPay aid
    kind: str  # TX_APPROVAL or TX_CANCEL
    amount: int  # positive, for a cancel too
    day: date  # the Korean date of the transaction


@dataclass(frozen=True)
class PgSettlement:
    """What the PG keeps and pays out for one transaction: what 정산대사 compares."""

    transaction_key: str
    order_id: str
    kind: str  # TX_APPROVAL or TX_CANCEL
    amount: int  # signed: negative for a cancel
    fee: int  # signed: a cancel's fee is negative (given back)
    payout_amount: int  # signed: amount - fee
    payout_date: date
