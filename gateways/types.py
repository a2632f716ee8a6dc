"""What crosses the gateway boundary: plain frozen dataclasses, no PG vocabulary."""

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class PgStatus(StrEnum):
    """A PG's payment status, normalised."""

    PENDING = "PENDING"  # authenticated or created, not approved: still confirmable in its window
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
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class WebhookNotice:
    """What a PG's notification claims; a hint to look the payment up, never proof."""

    event_key: str  # the notification's identity: re-sent duplicates share it
    event_type: str
    order_id: str
    pg_status: str
    payload: dict = field(compare=False, repr=False)


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
