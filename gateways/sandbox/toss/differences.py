"""Differences made on purpose at Toss (gateways/sandbox/differences.py): the ledger's own
approval and cancel, without the merchant's call."""

from gateways.sandbox.differences import (
    DASHBOARD_CANCEL_REASON,
    Difference,
    Refused,
    check_new_amount,
    payment_of,
)
from gateways.sandbox.toss.errors import error_message
from gateways.sandbox.toss.payments import TossFailure

CANCELABLE = ("DONE", "PARTIAL_CANCELED")


def approve_unseen(ledger, order_id: str, amount: int | None) -> None:
    payment = payment_of(ledger, order_id)
    ledger.refresh(payment)  # an authentication past its window has expired
    if payment.status != "IN_PROGRESS":
        raise Refused(
            f"only an authenticated (IN_PROGRESS) payment is approved, not {payment.status}"
        )
    # not a confirm: confirmCalls stays as it was (a virtual account is issued, not paid)
    ledger.complete_authenticated(payment)


# What the merchant types into the dashboard to refund a deposited virtual account.
DASHBOARD_REFUND_ACCOUNT = {"bank": "20", "accountNumber": "1002000000000", "holderName": "구매자"}


def dashboard_cancel(ledger, order_id: str, amount: int | None) -> None:
    payment = payment_of(ledger, order_id)
    whole = amount is None or amount == payment.balance
    try:
        ledger.cancel(
            payment_key=payment.payment_key,
            reason=DASHBOARD_CANCEL_REASON,
            amount=amount,
            refundable_amount=None,
            tax_free=payment.tax_free if whole else 0,
            refund_account=DASHBOARD_REFUND_ACCOUNT,
        )
    except TossFailure as failure:
        message = error_message(failure.code, english=True)
        raise Refused(f"Toss refuses the cancel: {failure.code} ({message})") from failure


def amount_changed(ledger, order_id: str, amount: int | None) -> None:
    payment = payment_of(ledger, order_id)
    if payment.status not in CANCELABLE:
        raise Refused(
            f"amount_changed needs an approved payment with a balance, not {payment.status}"
        )
    check_new_amount(amount, current=payment.amount, cancelled=payment.amount - payment.balance)
    delta = amount - payment.amount
    payment.amount = amount
    payment.balance += delta
    for cancel in payment.cancels:  # what was left after each cancel moves by as much
        cancel.refundable_after += delta


KINDS: dict[str, Difference] = {
    "approve_unseen": approve_unseen,
    "dashboard_cancel": dashboard_cancel,
    "amount_changed": amount_changed,
}
