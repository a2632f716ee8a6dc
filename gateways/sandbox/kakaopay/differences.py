"""Differences made on purpose at KakaoPay (gateways/sandbox/differences.py): the ledger's
own approval and cancel, without the merchant's call."""

from gateways.sandbox.differences import Difference, Refused, check_new_amount, payment_of
from gateways.sandbox.kakaopay.errors import KakaoFailure
from gateways.sandbox.kakaopay.payments import vat_of

CANCELABLE = ("SUCCESS_PAYMENT", "PART_CANCEL_PAYMENT")


def approve_unseen(ledger, order_id: str, amount: int | None) -> None:
    payment = payment_of(ledger, order_id)
    try:
        ledger.check_approvable(payment)  # AUTH_PASSWORD, within the ready window
    except KakaoFailure as failure:
        raise Refused(
            f"KakaoPay refuses the approval of a {payment.status} tid: "
            f"{failure.code} ({failure.message})"
        ) from failure
    ledger.record_approval(payment, payload=None)  # approveCalls stays as it was


def dashboard_cancel(ledger, order_id: str, amount: int | None) -> None:
    """KakaoPay's cancel has no reason field, so none is kept. The taxable part is
    cancelled first, then the tax-free part, so any amount up to the balance fits."""
    payment = payment_of(ledger, order_id)
    left, left_tax_free, _vat = payment.remaining
    amount = left if amount is None else amount
    tax_free = left_tax_free if amount == left else max(0, amount - (left - left_tax_free))
    try:
        ledger.refund(
            payment, amount=amount, tax_free=tax_free, vat=None, available=None, payload=None
        )
    except KakaoFailure as failure:
        raise Refused(
            f"KakaoPay refuses the cancel: {failure.code} ({failure.message})"
        ) from failure


def amount_changed(ledger, order_id: str, amount: int | None) -> None:
    """The approval (amount.total and its PAYMENT action) shows `amount`; the VAT follows as
    (amount - tax free) / 11, never below what the cancels already took back."""
    payment = payment_of(ledger, order_id)
    if payment.status not in CANCELABLE:
        raise Refused(f"amount_changed needs an approved tid with a balance, not {payment.status}")
    cancelled, cancelled_tax_free, cancelled_vat = payment.canceled
    check_new_amount(amount, current=payment.total, cancelled=cancelled)
    if amount - payment.tax_free < cancelled - cancelled_tax_free or amount < payment.green_deposit:
        raise Refused("amount must cover the tax-free amount and the green deposit")
    payment.total = amount
    payment.vat = max(vat_of(amount - payment.tax_free), cancelled_vat)
    approval = next(a for a in payment.actions if a.kind == "PAYMENT")
    approval.amount, approval.vat = payment.total, payment.vat


KINDS: dict[str, Difference] = {
    "approve_unseen": approve_unseen,
    "dashboard_cancel": dashboard_cancel,
    "amount_changed": amount_changed,
}
