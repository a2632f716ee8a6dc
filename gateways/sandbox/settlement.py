"""What reconciliation reads from the sandbox: one transaction row per approval and per
cancel, with the fee the PG keeps and the day it pays out (docs/sandbox.md,
Reconciliation records).

The fees and the payout rule are the sandbox's own, not any PG's real terms (those are
in each merchant's contract):

| gateway  | method (as the PG records it) | fee   |
| -------- | ----------------------------- | ----- |
| toss     | 카드                          | 2.9 % |
| toss     | 가상계좌                      | 1.5 % |
| nicepay  | card                          | 3.0 % |
| kakaopay | CARD                          | 3.2 % |
| kakaopay | MONEY                         | 2.5 % |

A fee is in whole won, rounded half up. A cancel gives back the fee of the cancelled
amount, computed the same way, so its fee is negative: a full cancel returns exactly the
approval's fee. The payout is 3 business days (Monday to Friday) after the transaction's
date in Korean time; there is no holiday calendar, so a Korean public holiday counts as
a business day.

The row builders read only what each PG's record already holds, so a row changes when
the record does (a cancel, a difference made through the control API).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from gateways.sandbox.clock import KST
from gateways.sandbox.nicepay.payments import PAY_METHOD as NICEPAY_METHOD

FEE_RATES = {
    ("toss", "카드"): Decimal("0.029"),
    ("toss", "가상계좌"): Decimal("0.015"),
    ("nicepay", NICEPAY_METHOD): Decimal("0.030"),
    ("kakaopay", "CARD"): Decimal("0.032"),
    ("kakaopay", "MONEY"): Decimal("0.025"),
}
PAYOUT_BUSINESS_DAYS = 3
APPROVAL, CANCEL = "APPROVAL", "CANCEL"
NET_CANCEL_KEY = "{tid}-NETCANCEL"  # a NicePay net cancel's transaction key (nicepay_rows)


def fee_of(gateway: str, method: str, amount: int) -> int:
    """The fee of a signed amount: negative for a cancel (the fee of its amount, given back)."""
    rate = FEE_RATES[(gateway, method)]
    fee = int((abs(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return fee if amount >= 0 else -fee


def payout_date(day: date) -> date:
    """PAYOUT_BUSINESS_DAYS weekdays after `day` (a Friday pays out on Wednesday)."""
    left = PAYOUT_BUSINESS_DAYS
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


@dataclass(frozen=True)
class Transaction:
    """One approval or one cancel, as the PG's ledger of money sees it."""

    gateway: str
    merchant_id: str
    payment_key: str  # Toss paymentKey; NicePay and KakaoPay: the payment's tid
    # Toss transactionKey; NicePay: the approval's or cancel's tid (a net cancel, which has
    # none: NET_CANCEL_KEY); KakaoPay: the aid
    transaction_key: str
    order_id: str
    method: str
    kind: str  # APPROVAL | CANCEL
    at: datetime
    amount: int  # positive, for a cancel too
    balance_after: int  # what is left to cancel right after this transaction
    # Toss: the payment's status right after it when the kind does not say (a virtual
    # account's reversed deposit: WAITING_FOR_DEPOSIT), and the approval's time
    status: str | None = None
    approved_at: datetime | None = None

    @property
    def when(self) -> datetime:
        # Second precision in KST: what every answer shows, so a client can redo the order.
        return self.at.astimezone(KST).replace(microsecond=0)

    @property
    def day(self) -> date:
        return self.when.date()

    @property
    def signed_amount(self) -> int:
        return self.amount if self.kind == APPROVAL else -self.amount

    @property
    def fee(self) -> int:
        return fee_of(self.gateway, self.method, self.signed_amount)

    @property
    def payout_amount(self) -> int:
        return self.signed_amount - self.fee

    @property
    def payout_date(self) -> date:
        return payout_date(self.day)

    @property
    def order_key(self) -> tuple[datetime, str]:
        return (self.when, self.transaction_key)


def toss_rows(ledger) -> Iterator[Transaction]:
    """TossPayment: the approval (approved_at, amount, approve_transaction_key), then each
    cancel (canceled_at, amount, transaction_key, refundable_after).

    A virtual account is approved by its deposits instead: one approval row per deposit
    (its time and key), and for a deposit the bank network took back, a CANCEL row of the
    whole amount at the reversal (status WAITING_FOR_DEPOSIT). A cancel before any
    deposit moved no money: no row."""
    for payment in ledger.by_key.values():
        if payment.approved_at is None and not payment.deposits:
            continue
        common = {
            "gateway": "toss",
            "merchant_id": ledger.merchant_id,  # the mId
            "payment_key": payment.payment_key,
            "order_id": payment.order_id,
            "method": "가상계좌" if payment.virtual_account is not None else payment.method,
        }
        if payment.virtual_account is None:
            yield Transaction(
                **common,
                transaction_key=payment.approve_transaction_key,
                kind=APPROVAL,
                at=payment.approved_at,
                amount=payment.amount,
                balance_after=payment.amount,
                approved_at=payment.approved_at,
            )
        for deposit in payment.deposits:
            yield Transaction(
                **common,
                transaction_key=deposit.transaction_key,
                kind=APPROVAL,
                at=deposit.at,
                amount=payment.amount,
                balance_after=payment.amount,
                approved_at=deposit.at,
            )
            if deposit.reversed_at is not None:
                yield Transaction(
                    **common,
                    transaction_key=deposit.reversal_key,
                    kind=CANCEL,
                    at=deposit.reversed_at,
                    amount=payment.amount,
                    balance_after=payment.amount,
                    status="WAITING_FOR_DEPOSIT",
                    approved_at=deposit.at,
                )
        for cancel in payment.cancels:
            if cancel.before_deposit:
                continue
            yield Transaction(
                **common,
                transaction_key=cancel.transaction_key,
                kind=CANCEL,
                at=cancel.canceled_at,
                amount=cancel.amount,
                balance_after=cancel.refundable_after,
                approved_at=payment.approved_at,
            )


def nicepay_rows(ledger) -> Iterator[Transaction]:
    """NicePayment: the approval (paid_at, amount, tid), then each cancel (its own tid).

    A net cancel of an approved payment leaves no cancel entry, only status cancelled and
    cancelled_at: it is one more cancel row, for what the entries do not account for.
    NicePay gives a net cancel no tid of its own, and the payment's tid is already the
    approval's key, so the row's key is NET_CANCEL_KEY of the tid: unique in a day's
    records (a settlement file refuses a transaction_id twice), 40 characters for a
    30-character tid."""
    for payment in ledger.by_tid.values():
        if payment.paid_at is None:
            continue
        common = {
            "gateway": "nicepay",
            "merchant_id": payment.client_key,
            "payment_key": payment.tid,
            "order_id": payment.order_id,
            "method": NICEPAY_METHOD,
        }
        balance = payment.amount
        yield Transaction(
            **common,
            transaction_key=payment.tid,
            kind=APPROVAL,
            at=payment.paid_at,
            amount=payment.amount,
            balance_after=balance,
        )
        for cancel in payment.cancels:
            balance -= cancel.amount
            yield Transaction(
                **common,
                transaction_key=cancel.tid,
                kind=CANCEL,
                at=cancel.cancelled_at,
                amount=cancel.amount,
                balance_after=balance,
            )
        if payment.status == "cancelled" and balance > 0:  # net-cancelled after approval
            yield Transaction(
                **common,
                transaction_key=NET_CANCEL_KEY.format(tid=payment.tid),
                kind=CANCEL,
                at=payment.cancelled_at,
                amount=balance,
                balance_after=0,
            )


def kakaopay_rows(ledger) -> Iterator[Transaction]:
    """KakaoPayment: its payment actions (PAYMENT, then each CANCEL), each with its aid.
    A tid gets actions only once approved."""
    for payment in ledger.by_tid.values():
        balance = 0
        for action in payment.actions:
            approval = action.kind == "PAYMENT"
            balance += action.amount if approval else -action.amount
            yield Transaction(
                gateway="kakaopay",
                merchant_id=payment.cid,
                payment_key=payment.tid,
                transaction_key=action.aid,
                order_id=payment.partner_order_id,
                method=payment.method,
                kind=APPROVAL if approval else CANCEL,
                at=action.at,
                amount=action.amount,
                balance_after=balance,
            )


ROWS = {"toss": toss_rows, "nicepay": nicepay_rows, "kakaopay": kakaopay_rows}


def transactions(
    gateway: str, ledger, *, start: datetime | None = None, end: datetime | None = None
) -> list[Transaction]:
    """The ledger's rows with start <= time <= end, in order of time, then key. The filter
    runs on the generator, so only the kept rows are held for the sort."""
    kept = (
        row
        for row in ROWS[gateway](ledger)
        if (start is None or start <= row.when) and (end is None or row.when <= end)
    )
    return sorted(kept, key=lambda row: row.order_key)


def on_day(gateway: str, ledger, day: date) -> list[Transaction]:
    """The rows whose Korean date is `day`."""
    start = datetime(day.year, day.month, day.day, tzinfo=KST)
    return transactions(gateway, ledger, start=start, end=start + timedelta(days=1, seconds=-1))
