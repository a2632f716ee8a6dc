"""Differences made on purpose at NicePay (gateways/sandbox/differences.py): the ledger's
own approval and cancel, without the merchant's call."""

import secrets

from gateways.sandbox.differences import (
    DASHBOARD_CANCEL_REASON,
    Difference,
    Refused,
    check_new_amount,
    payment_of,
)
from gateways.sandbox.nicepay.payments import NiceFailure

CANCELABLE = ("paid", "partialCancelled")


def approve_unseen(ledger, order_id: str, amount: int | None) -> None:
    payment = payment_of(ledger, order_id)
    try:
        ledger.check_approvable(payment)  # authenticated, within the approval window
    except NiceFailure as failure:
        raise Refused(
            f"NicePay refuses the approval of a {_shown(payment)} payment: "
            f"{failure.code} ({failure.message})"
        ) from failure
    ledger.record_approval(payment)  # not an approve call: approveCalls stays as it was


def dashboard_cancel(ledger, order_id: str, amount: int | None) -> None:
    payment = payment_of(ledger, order_id)
    try:
        # Each cancel needs an orderId of its own; the dashboard makes one up.
        ledger.cancel(
            payment.tid,
            amount=amount,
            reason=DASHBOARD_CANCEL_REASON,
            order_id=f"dashboard-{secrets.token_hex(8)}",
        )
    except NiceFailure as failure:
        raise Refused(
            f"NicePay refuses the cancel: {failure.code} ({failure.message})"
        ) from failure


def amount_changed(ledger, order_id: str, amount: int | None) -> None:
    payment = payment_of(ledger, order_id)
    if payment.status not in CANCELABLE:
        raise Refused(
            f"amount_changed needs an approved payment with a balance, not {_shown(payment)}"
        )
    check_new_amount(amount, current=payment.amount, cancelled=payment.amount - payment.balance)
    payment.balance += amount - payment.amount
    payment.amount = amount


def _shown(payment) -> str:
    return "ready" if payment.status == "authenticated" else payment.status


KINDS: dict[str, Difference] = {
    "approve_unseen": approve_unseen,
    "dashboard_cancel": dashboard_cancel,
    "amount_changed": amount_changed,
}
